// GPT-2 tokenizer: known vectors, specials, decoding, both file loaders, the binary form and
// its corruption checks, and merge traces. Parity with js-tiktoken on the corpus and random
// strings is in tokenizer-parity.test.ts; streaming and offsets in tokenizer-stream.test.ts.

import { describe, expect, it } from "vitest";
import {
  bytesToUnicode,
  parseHfTokenizer,
  parseOpenAITokenizer,
  serializeTokenizer,
  splitPretokens,
  Tokenizer,
  TokenLimitError,
} from "../../src/tokenizer/index.js";
import { encodeByteLevel } from "../../src/tokenizer/bytes-to-unicode.js";
import {
  corpus,
  gpt2,
  gpt2Files,
  reference,
  tinyShakespeare,
  tinyShakespeareFiles,
} from "../fixtures/tokenizer/load.js";

const utf8 = new TextEncoder();

// From the notes' test vectors (each verified against js-tiktoken's gpt2).
const VECTORS: [string, number[]][] = [
  ["Hello, my dog is cute", [15496, 11, 616, 3290, 318, 13779]],
  ["Hello, my dog is cute.", [15496, 11, 616, 3290, 318, 13779, 13]],
  ["Hello world", [15496, 995]],
  ["hello world", [31373, 995]],
  ["Hello, world", [15496, 11, 995]],
  ["The dog", [464, 3290]],
  ["Hello my name is", [15496, 616, 1438, 318]],
  ["How are you doing?", [2437, 389, 345, 1804, 30]],
  ["   leading space", [220, 220, 3756, 2272]],
  ["Hi  Hello", [17250, 220, 18435]],
  [
    "A\n'll !!to?'d''d of, can't.",
    [32, 198, 1183, 37867, 1462, 8348, 67, 7061, 67, 286, 11, 460, 470, 13],
  ],
  ["生活的真谛是", [37955, 162, 112, 119, 21410, 40367, 253, 164, 108, 249, 42468]],
  ["1\u00002\uFFFD3", [16, 188, 17, 4210, 18]],
  [
    "Alan Turing theorized that computers would one day become",
    [36235, 39141, 18765, 1143, 326, 9061, 561, 530, 1110, 1716],
  ],
];

describe("GPT-2 encode/decode", () => {
  const { tok } = gpt2();

  it.each(VECTORS)("Should encode %j to the known ids", (text, ids) => {
    expect(tok.encode(text)).toEqual(ids);
    expect(reference(text)).toEqual(ids);
    expect(tok.decode(ids)).toBe(text);
  });

  it("Should split like encoder.py's regex", () => {
    // "\n\nok": the whitespace run gives up its last character to the word, which cannot
    // take it (only a space can prefix a word), so the two newlines come out separately.
    expect(splitPretokens("I'm here  now\n\nok'S 'RE")).toEqual([
      "I",
      "'m",
      " here",
      " ",
      " now",
      "\n",
      "\n",
      "ok",
      "'",
      "S",
      " '",
      "RE",
    ]);
  });

  it("Should follow JavaScript's \\s like js-tiktoken: U+FEFF is space, U+0085 is not", () => {
    // Python's encoder.py (the `regex` module) has it the other way round and splits these
    // as [" ", "\x85", "b"] and [" \ufeff", "b"], so its ids differ from js-tiktoken's here.
    expect(splitPretokens(" \u0085b")).toEqual([" \u0085", "b"]);
    expect(splitPretokens(" \ufeffb")).toEqual([" ", "\ufeff", "b"]);
    expect(tok.encode(" \u0085b")).toEqual(reference(" \u0085b"));
    expect(tok.encode(" \ufeffb")).toEqual(reference(" \ufeffb"));
  });

  it("Should encode a 200 KB single piece (heap BPE) and decode it back", () => {
    for (const unit of ["a", "ab", "7", "😀"]) {
      const text = unit.repeat(200_000 / unit.length);
      expect(splitPretokens(text)).toHaveLength(1);
      const ids = tok.encode(text);
      expect(tok.decode(ids)).toBe(text);
      expect(tok.cachedPieces).toBeLessThan(1000); // long pieces are not cached
    }
  });

  it("Should refuse a text over encode's limit without merging a piece that alone passes it", () => {
    const text = "Hello, my dog is cute";
    expect(tok.encode(text, { limit: 6 })).toEqual(tok.encode(text));
    expect(() => tok.encode(text, { limit: 5 })).toThrow(TokenLimitError);
    expect(() => tok.encode(`${text}<|endoftext|>`, { limit: 6, allowSpecial: true })).toThrow(
      TokenLimitError,
    );
    // One 4 MB piece with limit 100: refused from its length alone (GPT-2's longest token is
    // far shorter than 4 MB / 100), before BPE runs on it.
    expect(tok.maxTokenBytes).toBeLessThan(200);
    expect(() => tok.encode("a".repeat(4 << 20), { limit: 100 })).toThrow(TokenLimitError);
    // Many pieces: it stops at the limit, so the pieces after it are never merged (or cached).
    const fresh = Tokenizer.fromBytes(gpt2().bytes);
    const words = Array.from({ length: 5000 }, (_, i) => ` w${i.toString(36)}q`).join("");
    expect(() => fresh.encode(words, { limit: 100 })).toThrow(TokenLimitError);
    expect(fresh.cachedPieces).toBeLessThanOrEqual(101);
    fresh.encode(words);
    expect(fresh.cachedPieces).toBeGreaterThan(1000); // what encoding them all leaves cached
  });

  it("Should map bytes to GPT-2's printable alphabet, one distinct character each", () => {
    const table = bytesToUnicode();
    expect([table[0x20], table[0x0a], table[0x41], table[0x00], table[0xad]]).toEqual([
      "Ġ",
      "Ċ",
      "A",
      "Ā",
      "Ń",
    ]);
    expect(new Set(table).size).toBe(256);
  });

  it("Should report the vocabulary and <|endoftext|>", () => {
    expect(tok.vocabSize).toBe(50257);
    expect(tok.eot).toBe(50256);
    expect(tok.tokenString(50256)).toBe("<|endoftext|>");
    expect(tok.tokenString(220)).toBe(" ");
    expect(Array.from(tok.tokenBytes(13779))).toEqual(Array.from(utf8.encode(" cute")));
  });

  it("Should treat <|endoftext|> as text unless specials are allowed", () => {
    const text = "a<|endoftext|> b <|endoftext|>";
    const plain = tok.encode(text);
    expect(plain).not.toContain(50256);
    expect(plain).toEqual(reference(text));
    expect(tok.encode("<|endoftext|>")).toEqual([27, 91, 437, 1659, 5239, 91, 29]);
    const special = tok.encode(text, { allowSpecial: true });
    expect(special).toEqual(reference(text, true));
    expect(special.filter((id) => id === 50256)).toHaveLength(2);
    expect(tok.decode(special)).toBe(text);
  });

  it("Should decode exactly, keeping a leading BOM, with U+FFFD only for broken UTF-8", () => {
    expect(tok.decode(tok.encode("\uFEFFbom"))).toBe("\uFEFFbom");
    const emoji = tok.encode("🦀"); // 4 bytes in several byte-level tokens
    expect(emoji.length).toBeGreaterThan(1);
    expect(tok.decode(emoji.slice(0, 1))).toBe("\uFFFD");
    expect(Array.from(tok.decodeBytes(emoji))).toEqual(Array.from(utf8.encode("🦀")));
    expect(tok.decode([])).toBe("");
  });

  it("Should reject ids outside the vocabulary instead of dropping them", () => {
    for (const bad of [-1, 50257, 1.5, NaN]) {
      expect(tok.isValidId(bad)).toBe(false);
      expect(() => tok.decode([15496, bad])).toThrow(/not in the vocabulary/);
    }
    expect(tok.isValidId(0)).toBe(true);
    expect(tok.isValidId(50256)).toBe(true);
  });

  it("Should encode the empty string and lone whitespace", () => {
    expect(tok.encode("")).toEqual([]);
    for (const s of [" ", "\n", "\t\t", "  \n ", "\u3000", "\u0085"])
      expect(tok.encode(s)).toEqual(reference(s));
  });
});

describe("Loaders and the binary form", () => {
  it("Should load tiny-shakespeare's HF files: 2048 tokens, eot 2047", () => {
    const tok = tinyShakespeare();
    expect(tok.vocabSize).toBe(2048);
    expect(tok.eot).toBe(2047);
    const line = "ROMEO:\nBut, soft! what light through yonder window breaks?\n";
    const ids = tok.encode(line);
    expect(ids.every((id) => id < 2047)).toBe(true);
    expect(ids.length).toBeLessThan(line.length / 2); // merges happened
    expect(tok.decode(ids)).toBe(line);
    expect(tok.encode("<|endoftext|>", { allowSpecial: true })).toEqual([2047]);
  });

  it("Should match the textbook merge loop (trace) with tiny-shakespeare's vocabulary", () => {
    // (Over the whole Tiny Shakespeare corpus this vocabulary gives 388,555 tokens, the count in
    // weights/tiny-shakespeare/README.md; tests may not read the corpus, so a slice here.)
    const tok = tinyShakespeare();
    const text = corpus()
      .find((d) => d.name === "shakespeare.txt")!
      .text.slice(0, 20_000);
    expect(tok.encode(text)).toEqual(tok.trace(text).pretokens.flatMap((p) => p.ids));
  });

  it("Should serialize tiny-shakespeare and load identical encodings back", () => {
    const { vocabJson, mergesTxt } = tinyShakespeareFiles();
    const data = parseHfTokenizer(vocabJson, mergesTxt);
    const fromBytes = Tokenizer.fromBytes(serializeTokenizer(data));
    const fromData = Tokenizer.fromData(data);
    const text = "KING RICHARD III:\nNow is the winter of our discontent 1592 ✨ 生活";
    expect(fromBytes.encode(text)).toEqual(fromData.encode(text));
    expect(fromBytes.vocabSize).toBe(2048);
    expect(fromBytes.eot).toBe(2047);
  });

  it("Should parse OpenAI's and HF's spellings of GPT-2 to the same bytes", () => {
    const { encoderJson, vocabBpe } = gpt2Files();
    const openai = serializeTokenizer(parseOpenAITokenizer(encoderJson, vocabBpe));
    const hf = serializeTokenizer(parseHfTokenizer(encoderJson, vocabBpe));
    expect(Buffer.from(hf).equals(Buffer.from(openai))).toBe(true);
    expect(Buffer.from(openai).equals(Buffer.from(gpt2().bytes))).toBe(true); // deterministic
  });

  it("Should give identical encodings from fromData and fromBytes", () => {
    const { data, tok } = gpt2();
    const direct = Tokenizer.fromData(data);
    const text = "The quick brown fox's 42 jumps 🦊 über 生活的真谛是 <|endoftext|>  \n\t end";
    expect(direct.encode(text)).toEqual(tok.encode(text));
    expect(direct.encode(text, { allowSpecial: true })).toEqual(
      tok.encode(text, { allowSpecial: true }),
    );
  });

  it("Should load from an unaligned view and not depend on the caller's buffer", () => {
    const { bytes } = gpt2();
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const view = shifted.subarray(1);
    const tok = Tokenizer.fromBytes(view);
    view.fill(0);
    expect(tok.encode("Hello, my dog is cute")).toEqual(VECTORS[0][1]);
  });

  it("Should reject a truncated, padded, or corrupt file with a clear error", () => {
    const { bytes } = gpt2();
    for (const n of [0, 10, 31, 32, 1000, bytes.length - 1])
      expect(() => Tokenizer.fromBytes(bytes.subarray(0, n))).toThrow(/tokenizer file: truncated/);
    const padded = new Uint8Array(bytes.length + 4);
    padded.set(bytes);
    expect(() => Tokenizer.fromBytes(padded)).toThrow(/truncated or padded/);
    const flipped = bytes.slice();
    flipped[bytes.length >> 1] ^= 0x10;
    expect(() => Tokenizer.fromBytes(flipped)).toThrow(/corrupt: the checksum/);
    const magic = bytes.slice();
    magic[0] = 0x7b; // "{": e.g. a JSON file passed by mistake
    expect(() => Tokenizer.fromBytes(magic)).toThrow(/bad magic/);
    const version = bytes.slice();
    version[4] = 9;
    expect(() => Tokenizer.fromBytes(version)).toThrow(/version 9/);
  });

  it("Should explain malformed tokenizer files", () => {
    const { vocabJson, mergesTxt } = tinyShakespeareFiles();
    expect(() => parseHfTokenizer("{nope", mergesTxt)).toThrow(/vocab.json: not valid JSON/);
    expect(() => parseHfTokenizer(vocabJson, "#version: 0.2\nĠ qqqq\n")).toThrow(
      /merges.txt line 2: .* same tokenizer/,
    );
    expect(() => parseOpenAITokenizer('{"a": 0, "\\u4e00": 1}', "")).toThrow(
      /encoder.json: token "一" has a character outside GPT-2's byte alphabet/,
    );
    expect(() => parseHfTokenizer('{"a": 0}', "")).not.toThrow();
    expect(() => Tokenizer.fromData(parseHfTokenizer('{"a": 0}', ""))).toThrow(
      /no token for byte 0x0/,
    );
  });
});

describe("Merge traces", () => {
  const { tok } = gpt2();

  it.each(["tokenization", " Hello", "can't stop", "生活", "🦀 crab", "aaaaaaaaaaaa"])(
    "Should trace %j with steps consistent with encode",
    (word) => {
      const trace = tok.trace(word);
      expect(trace.pretokens.map((p) => p.text)).toEqual(splitPretokens(word));
      expect(trace.pretokens.flatMap((p) => p.ids)).toEqual(tok.encode(word));
      for (const { text, steps, ids } of trace.pretokens) {
        const spelled = encodeByteLevel(utf8.encode(text));
        expect(steps[0].parts).toEqual([...spelled]); // one part per byte
        expect(steps.at(-1)!.parts).toEqual(ids.map((id) => encodeByteLevel(tok.tokenBytes(id))));
        for (let s = 1; s < steps.length; s++) {
          const { parts, merged, rank } = steps[s];
          expect(parts.join("")).toBe(spelled);
          expect(parts.length).toBe(steps[s - 1].parts.length - 1);
          expect(parts).toContain(merged!.join(""));
          // GPT-2's merges only ever build on earlier ones, so ranks never go down.
          expect(rank!).toBeGreaterThanOrEqual(steps[s - 1].rank ?? 0);
        }
      }
    },
  );
});
