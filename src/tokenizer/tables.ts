// The flat lookup tables a Tokenizer runs on, built either from TokenizerData (parsed JSON)
// or read straight out of the serialized form (serialize.ts) with no parsing at all.

import { idArrayType, MergeTable, type IdArray } from "./merge-table.js";
import type { TokenizerData } from "./types.js";

export interface TokenizerTables {
  /** (B) every token's raw bytes back to back; id's bytes are [tokenStart[id], tokenStart[id+1]). */
  tokenBytes: Uint8Array;
  tokenStart: Uint32Array; // (V + 1)
  byteToId: IdArray; // (256) byte -> its single-byte token, where BPE starts
  merges: MergeTable;
  /** [text, id] for each special token; the text is also the token's bytes (UTF-8). */
  specials: [string, number][];
}

const utf8 = new TextEncoder();

/** Flattens the tokens and resolves each merge to the id of the token it produces. */
export function tablesFromData(data: TokenizerData): TokenizerTables {
  const tokens = data.tokens.slice();
  const specials = Object.entries(data.specials);
  for (const [text, id] of specials) {
    if (!Number.isInteger(id) || id < 0) throw new Error(`special ${text}: bad id ${id}`);
    const bytes = utf8.encode(text);
    const have = tokens[id];
    if (have === undefined || have.length === 0) tokens[id] = bytes;
    else if (!sameBytes(have, bytes))
      throw new Error(`special ${text} has id ${id}, but tokens[${id}] holds other bytes`);
  }
  const V = tokens.length;
  const tokenStart = new Uint32Array(V + 1);
  for (let id = 0; id < V; id++) tokenStart[id + 1] = tokenStart[id] + (tokens[id]?.length ?? 0);
  const tokenBytes = new Uint8Array(tokenStart[V]);
  for (let id = 0; id < V; id++) if (tokens[id]) tokenBytes.set(tokens[id], tokenStart[id]);
  const merges = MergeTable.build(resolveMerges(data, tokens, specials), V);
  const byteToId = new (idArrayType(V, merges.size))(256);
  const found = new Uint8Array(256);
  const isSpecial = new Set(specials.map(([, id]) => id));
  for (let id = V - 1; id >= 0; id--) {
    // Downwards, so the lowest id wins if two tokens are the same byte.
    if (tokens[id]?.length === 1 && !isSpecial.has(id)) {
      byteToId[tokens[id][0]] = id;
      found[tokens[id][0]] = 1;
    }
  }
  const missing = found.indexOf(0);
  if (missing >= 0)
    throw new Error(
      `no token for byte 0x${missing.toString(16)}: a byte-level BPE vocabulary needs all 256 ` +
        `single-byte tokens, or some text could not be encoded`,
    );
  return { tokenBytes, tokenStart, byteToId, merges, specials };
}

function resolveMerges(
  data: TokenizerData,
  tokens: Uint8Array[],
  specials: [string, number][],
): Int32Array {
  // Bytes -> id, keyed by a latin1 string of the bytes (one char per byte); specials are left
  // out so no merge can ever produce one. The lowest id wins if two tokens share bytes.
  const isSpecial = new Set(specials.map(([, id]) => id));
  const byBytes = new Map<string, number>();
  for (let id = tokens.length - 1; id >= 0; id--) {
    if (tokens[id]?.length && !isSpecial.has(id)) byBytes.set(latin1(tokens[id]), id);
  }
  const merges = new Int32Array(3 * data.merges.length);
  data.merges.forEach(([left, right], rank) => {
    if (!tokens[left]?.length || !tokens[right]?.length)
      throw new Error(`merge ${rank} (${left}, ${right}) names a token id not in the vocabulary`);
    const merged = byBytes.get(latin1(tokens[left]) + latin1(tokens[right]));
    if (merged === undefined)
      throw new Error(
        `merge ${rank} (${left}, ${right}) makes bytes that are no token in the vocabulary; ` +
          `vocab and merges files are probably from different tokenizers`,
      );
    merges.set([left, right, merged], 3 * rank);
  });
  return merges;
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
