// Parity with js-tiktoken's gpt2 encoding, token for token: the committed corpus (prose, code,
// Shakespeare, synthetic hard cases, lone surrogates) and seeded random strings. Also holds the
// fast BPE to its slow twins (the heap vs the scan, and tiktoken's merged-bytes rule).

import { describe, expect, it } from "vitest";
import { bpe, bpeHeap, bpeScan, BpeScratch } from "../../src/tokenizer/bpe.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { corpus, firstDifference, gpt2, reference } from "../fixtures/tokenizer/load.js";
import { randomString, rng } from "../fixtures/tokenizer/synthetic.js";

const utf8 = new TextEncoder();
const { tok } = gpt2();

/** Expects our ids to equal tiktoken's, showing the neighbourhood of the first difference. */
function expectParity(text: string, allowSpecial: boolean, label: string): number {
  const ours = tok.encode(text, { allowSpecial });
  const ref = reference(text, allowSpecial);
  const at = firstDifference(ours, ref);
  if (at >= 0) {
    const near = (ids: number[]) => ids.slice(Math.max(0, at - 3), at + 4);
    throw new Error(
      `${label}: first difference at token ${at}: ours ${near(ours)} vs ${near(ref)}`,
    );
  }
  return ref.length;
}

describe("Parity with js-tiktoken gpt2", () => {
  it("Should match on every corpus document, with specials as text and as specials", () => {
    const stats: Record<string, { docs: number; bytes: number; tokens: number }> = {};
    for (const { name, text, wellFormed } of corpus()) {
      const group = name.split("#")[0];
      const s = (stats[group] ??= { docs: 0, bytes: 0, tokens: 0 });
      s.docs++;
      s.bytes += utf8.encode(text).length;
      s.tokens += expectParity(text, false, name);
      if (text.includes("<|")) expectParity(text, true, `${name} (specials allowed)`);
      if (wellFormed) expect(tok.decode(tok.encode(text))).toBe(text);
    }
    const total = Object.values(stats).reduce((a, s) => ({
      docs: a.docs + s.docs,
      bytes: a.bytes + s.bytes,
      tokens: a.tokens + s.tokens,
    }));
    console.log("tokenizer parity corpus:", JSON.stringify({ ...stats, total }));
    expect(total.bytes).toBeGreaterThanOrEqual(1_000_000);
  });

  it("Should encode lone surrogates as U+FFFD's bytes, exactly like TextEncoder", () => {
    for (const { name, text, wellFormed } of corpus()) {
      if (wellFormed) continue;
      expect(Array.from(tok.decodeBytes(tok.encode(text))), name).toEqual(
        Array.from(utf8.encode(text)),
      );
    }
    expect(tok.encode("\ud800")).toEqual(tok.encode("\ufffd"));
    expect(tok.encode("'\ud800s")).toEqual(reference("'\ud800s"));
  });

  it("Should match on 3000 seeded random strings and round-trip their bytes", () => {
    const r = rng(20240601);
    let bytes = 0;
    let tokens = 0;
    for (let i = 0; i < 3000; i++) {
      const withSurrogates = i % 4 === 0;
      const s = randomString(r, 1 + Math.floor(r() * 120), withSurrogates);
      tokens += expectParity(s, false, `random #${i} ${JSON.stringify(s)}`);
      bytes += utf8.encode(s).length;
      if (!withSurrogates) {
        expect(
          Buffer.from(tok.decodeBytes(tok.encode(s))).equals(Buffer.from(utf8.encode(s))),
        ).toBe(true);
      }
    }
    console.log("tokenizer random strings:", JSON.stringify({ strings: 3000, bytes, tokens }));
  });

  it("Should keep giving the same ids when the piece cache is tiny and churning", () => {
    const small = Tokenizer.fromBytes(gpt2().bytes, { cacheSize: 8 });
    const text = corpus()[0].text.slice(0, 20_000);
    expect(small.encode(text)).toEqual(tok.encode(text));
    expect(small.encode(text)).toEqual(tok.encode(text));
    expect(small.cachedPieces).toBeLessThanOrEqual(16);
  });
});

describe("BPE against its slow twins", () => {
  const table = tok["table"];
  const byteToId = tok["byteToId"];
  const idsOf = (bytes: ArrayLike<number>) => Int32Array.from(bytes, (b) => byteToId[b]);

  it("Should turn every token's bytes back into that one token", () => {
    const scratch = new BpeScratch();
    const wrong: number[] = [];
    for (let id = 0; id < 50256; id++) {
      const bytes = tok.tokenBytes(id);
      const ids = idsOf(bytes);
      const n = bpe(ids, bytes.length, table, scratch);
      if (n !== 1 || ids[0] !== id) wrong.push(id);
    }
    expect(wrong).toEqual([]);
  });

  it("Should merge the same way with the heap as with the scan", () => {
    const r = rng(99);
    const scratch = new BpeScratch();
    for (let k = 0; k < 500; k++) {
      // Concatenated tokens give realistic merge chains; runs of one byte give long pieces.
      const parts: number[] = [];
      while (parts.length < 2 + Math.floor(r() * 300)) {
        if (r() < 0.2) parts.push(...new Array(1 + Math.floor(r() * 40)).fill(0x61));
        else parts.push(...tok.tokenBytes(Math.floor(r() * 50256)));
      }
      const a = idsOf(parts);
      const b = idsOf(parts);
      const s = scratch.forSize(parts.length);
      const na = bpeScan(a, parts.length, table, s.ranks);
      const nb = bpeHeap(b, parts.length, table, s);
      expect(Array.from(b.subarray(0, nb))).toEqual(Array.from(a.subarray(0, na)));
    }
  });

  it("Should agree with tiktoken's rule (rank of the merged bytes) on random byte strings", () => {
    // tiktoken merges any adjacent parts whose concatenation is a token, ranked by that
    // token's id; encoder.py merges only listed pairs, ranked by list position. For GPT-2's
    // merge list the two rules coincide; this checks it away from pre-token boundaries.
    const rankOf = new Map<string, number>();
    for (let id = 0; id < 50256; id++) rankOf.set(tok.tokenBytes(id).join(","), id);
    const tiktokenBpe = (piece: number[]) => {
      const starts = piece.map((_, i) => i).concat(piece.length);
      const rank = (i: number) => rankOf.get(piece.slice(starts[i], starts[i + 2]).join(","));
      for (;;) {
        let best = -1;
        for (let i = 0; i + 2 < starts.length; i++) {
          const rk = rank(i);
          if (rk !== undefined && (best < 0 || rk < rank(best)!)) best = i;
        }
        if (best < 0) break;
        starts.splice(best + 1, 1);
      }
      return starts
        .slice(0, -1)
        .map((s, i) => rankOf.get(piece.slice(s, starts[i + 1]).join(","))!);
    };
    const r = rng(7);
    const scratch = new BpeScratch();
    for (let k = 0; k < 5000; k++) {
      const piece: number[] = [];
      for (let j = 2 + Math.floor(r() * 4); j > 0; j--)
        piece.push(...tok.tokenBytes(Math.floor(r() * 50256)));
      const ids = idsOf(piece);
      const n = bpe(ids, piece.length, table, scratch);
      expect(Array.from(ids.subarray(0, n))).toEqual(tiktokenBpe(piece));
    }
  });
});
