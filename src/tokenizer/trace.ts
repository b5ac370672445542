// The merge-by-merge story of how BPE tokenizes a word, for the demo page. Deliberately the
// plain textbook loop over arrays (encoder.py's shape): it doubles as the slow reference that
// tests hold the fast bpe.ts against.

import { encodeByteLevel } from "./bytes-to-unicode.js";
import type { IdArray, MergeTable } from "./merge-table.js";
import { splitPretokens } from "./split.js";
import type { MergeStep, MergeTrace } from "./types.js";

export interface TraceContext {
  byteToId: IdArray; // (256) byte -> its single-byte token
  table: MergeTable;
  tokenBytes(id: number): Uint8Array;
}

const utf8 = new TextEncoder();

export function traceMerges(ctx: TraceContext, text: string): MergeTrace {
  return { pretokens: splitPretokens(text).map((piece) => tracePiece(ctx, piece)) };
}

function tracePiece(ctx: TraceContext, text: string) {
  const spell = (id: number) => encodeByteLevel(ctx.tokenBytes(id));
  const ids = Array.from(utf8.encode(text), (b) => ctx.byteToId[b]);
  const steps: MergeStep[] = [{ parts: ids.map(spell) }];
  for (;;) {
    let best = -1;
    let at = -1;
    for (let i = 0; i + 1 < ids.length; i++) {
      const rank = ctx.table.get(ids[i], ids[i + 1]);
      if (rank >= 0 && (best < 0 || rank < best)) [best, at] = [rank, i];
    }
    if (best < 0) break;
    const merged: [string, string] = [spell(ids[at]), spell(ids[at + 1])];
    ids.splice(at, 2, ctx.table.result[best]);
    steps.push({ parts: ids.map(spell), merged, rank: best });
  }
  return { text, steps, ids };
}
