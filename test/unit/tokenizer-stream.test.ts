// Streaming detokenization and character offsets: neither may ever split a UTF-8 character,
// and both must add up to exactly what decode / the input text say.

import { describe, expect, it } from "vitest";
import { incompleteTail } from "../../src/tokenizer/stream-decoder.js";
import { corpus, gpt2 } from "../fixtures/tokenizer/load.js";
import { rng } from "../fixtures/tokenizer/synthetic.js";

const { tok } = gpt2();
const SAMPLES = [
  "👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 🇯🇵",
  "生活的真谛是 日本語のテキストです。한국어",
  "Zalgo: Z\u0351\u0354a\u036bl\u0366g\u0489o, हिन्दी, مَرْحَبًا",
  "plain ASCII <|endoftext|> and 🦀🦀🦀",
  "\uFEFFstarts with a BOM",
];

/** Pushes ids one by one; returns each push's output and the flush. */
function stream(ids: number[]): { pushes: string[]; flush: string } {
  const decoder = tok.createDecoder();
  return { pushes: ids.map((id) => decoder.push(id)), flush: decoder.flush() };
}

describe("StreamDecoder", () => {
  it.each(SAMPLES)("Should never split a character of %j", (text) => {
    const ids = tok.encode(text, { allowSpecial: true });
    const { pushes, flush } = stream(ids);
    for (const p of pushes) expect(p).not.toContain("\uFFFD");
    expect(pushes.join("") + flush).toBe(tok.decode(ids));
    expect(pushes.join("")).toBe(text);
    expect(flush).toBe("");
    expect(pushes.filter((p) => p === "").length).toBeGreaterThan(0); // some tokens held back
  });

  it("Should flush an unfinished character as U+FFFD and start afresh", () => {
    const crab = tok.encode("🦀");
    const decoder = tok.createDecoder();
    expect(decoder.push(crab[0])).toBe("");
    expect(decoder.flush()).toBe("\uFFFD");
    expect(crab.map((id) => decoder.push(id)).join("")).toBe("🦀");
  });

  it("Should equal one-shot decoding on random token sequences, broken UTF-8 included", () => {
    const r = rng(5);
    for (let k = 0; k < 2000; k++) {
      // Byte-ish tokens (ids < 256 and some multi-byte ones) make plenty of invalid UTF-8.
      const ids = Array.from({ length: 1 + Math.floor(r() * 12) }, () =>
        r() < 0.7 ? Math.floor(r() * 256) : Math.floor(r() * 50256),
      );
      const { pushes, flush } = stream(ids);
      expect(pushes.join("") + flush).toBe(tok.decode(ids));
    }
  });

  it("Should give every token's text, decoded once and then cached, as a fresh decode gives it", () => {
    const fresh = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
    for (let id = 0; id < tok.vocabSize; id++) {
      const text = fresh.decode(tok.tokenBytes(id));
      expect(tok.tokenString(id), String(id)).toBe(text);
      expect(tok.tokenString(id), String(id)).toBe(text); // from the cache
      // Pushed alone (nothing held back), a token of whole characters is its own text.
      if (incompleteTail(tok.tokenBytes(id)) === 0) expect(tok.createDecoder().push(id)).toBe(text);
    }
  });

  it("Should hold back exactly what the WHATWG streaming decoder holds back", () => {
    // Oracle: TextDecoder in stream mode emits nothing for a valid but unfinished tail.
    const r = rng(11);
    const interesting = [
      0x41, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4,
      0xf5, 0xff,
    ];
    for (let k = 0; k < 20000; k++) {
      const bytes = Uint8Array.from(
        { length: 1 + Math.floor(r() * 5) },
        () => interesting[Math.floor(r() * interesting.length)],
      );
      const keep = incompleteTail(bytes);
      const streaming = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
      const shown = streaming.decode(bytes, { stream: true });
      const oneShot = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
      expect(oneShot.decode(bytes.subarray(0, bytes.length - keep)), Array.from(bytes).join()).toBe(
        shown,
      );
    }
  });
});

describe("encodeWithOffsets", () => {
  const texts = [...SAMPLES, "can't 1,234.5\n\n\tend  ", "a\ud800b'\udc00s"];

  it.each(texts)("Should give ids equal to encode and spans that tile %j", (text) => {
    const { ids, offsets } = tok.encodeWithOffsets(text, { allowSpecial: true });
    expect(ids).toEqual(tok.encode(text, { allowSpecial: true }));
    expect(offsets).toHaveLength(ids.length);
    let at = 0;
    for (const [start, end] of offsets) {
      expect(start).toBe(at);
      expect(end).toBeGreaterThanOrEqual(start);
      at = end;
    }
    expect(at).toBe(text.length);
  });

  it.each(SAMPLES)("Should give each token the text a StreamDecoder emits for it: %j", (text) => {
    const { ids, offsets } = tok.encodeWithOffsets(text, { allowSpecial: true });
    const { pushes } = stream(ids);
    expect(offsets.map(([s, e]) => text.slice(s, e))).toEqual(pushes);
  });

  it("Should give a token that ends inside a character an empty span", () => {
    const text = "谛"; // E8 B0 9B: three single-byte tokens
    const { ids, offsets } = tok.encodeWithOffsets(text);
    expect(ids).toEqual(tok.encode(text));
    expect(ids.length).toBeGreaterThan(1);
    expect(offsets.at(-1)).toEqual([0, 1]);
    for (const span of offsets.slice(0, -1)) expect(span).toEqual([0, 0]);
  });

  it("Should agree with encode on the whole parity corpus", () => {
    for (const { name, text } of corpus()) {
      const { ids, offsets } = tok.encodeWithOffsets(text);
      expect(ids, name).toEqual(tok.encode(text));
      expect(offsets.at(-1)?.[1] ?? 0, name).toBe(text.length);
    }
  });
});
