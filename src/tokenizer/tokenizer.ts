// The GPT-2 byte-level BPE tokenizer: split text with the GPT-2 regex, UTF-8 encode each
// piece, merge its bytes by rank, cache the result per piece; decode by concatenating bytes.

import { bpe, BpeScratch } from "./bpe.js";
import type { IdArray, MergeTable } from "./merge-table.js";
import { IdBuffer } from "./id-buffer.js";
import { pieceOffsets } from "./offsets.js";
import { PieceCache } from "./piece-cache.js";
import { readTables } from "./serialize.js";
import { gpt2SplitRegex } from "./split.js";
import { Utf8StreamDecoder } from "./stream-decoder.js";
import { tablesFromData, type TokenizerTables } from "./tables.js";
import { traceMerges } from "./trace.js";
import type { EncodeOptions, MergeTrace, StreamDecoder, TokenizerData } from "./types.js";
import { encodeUtf8Into } from "./utf8.js";

export interface TokenizerOptions {
  /** Pieces per cache generation (the cache holds at most twice this). Default 16384. */
  cacheSize?: number;
  /**
   * fromBytes only: check the file's checksum (default true). Pass false if you have already
   * verified a SHA-256 of the same bytes (the model manifest's), to save ~2-4 ms of cold start.
   */
  verify?: boolean;
}

/** Longer pieces are not cached: they are rare, and their keys and ids would dominate memory. */
const MAX_CACHED_PIECE = 64;

/**
 * Token texts kept (tokenString): the first 8,192 ids an isolate shows, ~0.5 MB at most, where
 * all of GPT-2's 50,257 would hold ~2.5 MB of JS heap for good (the inspector's embedding cloud
 * reads every id's text once).
 */
const MAX_CACHED_TEXTS = 8192;

export class Tokenizer {
  readonly vocabSize: number;
  readonly eot: number | undefined;
  /** The longest token's byte length: a text of b UTF-8 bytes has at least b / this tokens. */
  readonly maxTokenBytes: number;
  private readonly tokenBytesAll: Uint8Array; // (B)
  private readonly tokenStart: Uint32Array; // (V + 1)
  private readonly byteToId: IdArray; // (256) byte -> its single-byte token
  private readonly table: MergeTable;
  private readonly specials: Map<string, number>;
  private readonly specialRegex: RegExp | undefined;
  private readonly split = gpt2SplitRegex();
  private readonly cache: PieceCache;
  private readonly utf8Decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  /**
   * tokenString's texts, kept as tokens are first shown (up to MAX_CACHED_TEXTS of them): a
   * stream's tokens (a token of whole characters is its own text) and logprobs' top tokens are
   * decoded once per isolate, not once per use.
   */
  private readonly texts = new Map<number, string>();
  // Scratch for one piece, grown on demand: its UTF-8 bytes and its ids while merging.
  private bytes = new Uint8Array(1024);
  private ids = new Int32Array(1024);
  private readonly scratch = new BpeScratch();
  private readonly out = new IdBuffer();

  /** From serializeTokenizer output: the Worker's path (typed reads, no JSON). */
  static fromBytes(bytes: Uint8Array, options?: TokenizerOptions): Tokenizer {
    return new Tokenizer(readTables(bytes, options?.verify ?? true), options);
  }

  static fromData(data: TokenizerData, options?: TokenizerOptions): Tokenizer {
    return new Tokenizer(tablesFromData(data), options);
  }

  constructor(t: TokenizerTables, options: TokenizerOptions = {}) {
    this.tokenBytesAll = t.tokenBytes;
    this.tokenStart = t.tokenStart;
    this.vocabSize = t.tokenStart.length - 1;
    this.table = t.merges;
    this.byteToId = t.byteToId;
    this.specials = new Map(t.specials);
    this.eot = this.specials.get("<|endoftext|>");
    let longest = 1;
    for (let id = 0; id < this.vocabSize; id++) longest = Math.max(longest, this.tokenLength(id));
    this.maxTokenBytes = longest;
    this.cache = new PieceCache(options.cacheSize ?? 16384);
    // Longest first, so a special that is a prefix of another never wins the alternation.
    const alternatives = [...this.specials.keys()].sort((a, b) => b.length - a.length);
    if (alternatives.length > 0)
      this.specialRegex = new RegExp(alternatives.map(escapeRegex).join("|"), "g");
  }

  encode(text: string, opts?: EncodeOptions): number[] {
    const out = this.out;
    out.length = 0; // (a previous call may have thrown halfway)
    const limit = opts?.limit ?? Infinity;
    if (!opts?.allowSpecial || !this.specialRegex) {
      this.encodeOrdinary(text, out, limit);
      return out.take();
    }
    // Text between specials is split on its own, as tiktoken does: no piece spans a special.
    let start = 0;
    for (const m of text.matchAll(this.specialRegex)) {
      this.encodeOrdinary(text.slice(start, m.index), out, limit);
      out.push(this.specials.get(m[0])!);
      if (out.length > limit) throw new TokenLimitError(limit);
      start = m.index + m[0].length;
    }
    this.encodeOrdinary(start === 0 ? text : text.slice(start), out, limit);
    return out.take();
  }

  /**
   * Ids plus each token's [start, end) UTF-16 span in text. A character belongs to the token
   * holding its last byte, so a token ending mid-character gets an empty span (offsets.ts).
   */
  encodeWithOffsets(
    text: string,
    opts?: EncodeOptions,
  ): { ids: number[]; offsets: [number, number][] } {
    const ids = new IdBuffer();
    const offsets: [number, number][] = [];
    const length = (id: number) => this.tokenLength(id);
    const segment = (from: number, to: number) => {
      const part = from === 0 && to === text.length ? text : text.slice(from, to);
      const re = this.split;
      re.lastIndex = 0;
      for (let start = 0; re.test(part); start = re.lastIndex) {
        const before = ids.length;
        if (!this.cache.appendTo(part, start, re.lastIndex, ids))
          this.encodePiece(part, start, re.lastIndex, ids);
        pieceOffsets(part, start, re.lastIndex, ids.ids, before, ids.length, length, from, offsets);
      }
    };
    let start = 0;
    if (opts?.allowSpecial && this.specialRegex) {
      for (const m of text.matchAll(this.specialRegex)) {
        segment(start, m.index);
        ids.push(this.specials.get(m[0])!);
        offsets.push([m.index, m.index + m[0].length]);
        start = m.index + m[0].length;
      }
    }
    segment(start, text.length);
    return { ids: ids.take(), offsets };
  }

  decode(ids: number[]): string {
    return this.utf8Decoder.decode(this.decodeBytes(ids));
  }

  decodeBytes(ids: number[]): Uint8Array {
    let total = 0;
    for (const id of ids) {
      if (!this.isValidId(id))
        throw new RangeError(`token id ${id} is not in the vocabulary (0..${this.vocabSize - 1})`);
      total += this.tokenLength(id);
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const id of ids) {
      out.set(this.tokenBytesRaw(id), at);
      at += this.tokenLength(id);
    }
    return out;
  }

  tokenBytes(id: number): Uint8Array {
    return this.validBytes(id).slice(); // a copy: callers must not edit the vocabulary
  }

  /** The token's bytes as text (U+FFFD for bytes that are not whole UTF-8 characters). */
  tokenString(id: number): string {
    let text = this.texts.get(id);
    if (text === undefined) {
      text = this.utf8Decoder.decode(this.validBytes(id));
      if (this.texts.size < MAX_CACHED_TEXTS) this.texts.set(id, text);
    }
    return text;
  }

  isValidId(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize && this.tokenLength(id) > 0;
  }

  createDecoder(): StreamDecoder {
    // The decoder copies from the vocabulary's bytes, never into them.
    return new Utf8StreamDecoder(
      (id) => this.validBytes(id),
      (id) => this.tokenString(id),
    );
  }

  trace(word: string): MergeTrace {
    return traceMerges(
      { byteToId: this.byteToId, table: this.table, tokenBytes: (id) => this.tokenBytes(id) },
      word,
    );
  }

  /** How many pre-tokens the cache holds now (bounded by twice options.cacheSize). */
  get cachedPieces(): number {
    return this.cache.size;
  }

  /**
   * Encodes text (no specials) onto out. The split regex always matches right where the last
   * match ended (every character is \s, a letter, a digit or "other"), so test() and lastIndex
   * give each piece's span without allocating a match array or a substring. Past `limit` ids it
   * throws, before merging a piece whose length alone passes the limit (a piece of u UTF-16
   * units has at least u bytes, so at least u / maxTokenBytes ids).
   */
  private encodeOrdinary(text: string, out: IdBuffer, limit = Infinity): void {
    const re = this.split;
    re.lastIndex = 0;
    for (let start = 0; re.test(text); start = re.lastIndex) {
      const end = re.lastIndex;
      if (out.length + (end - start) / this.maxTokenBytes > limit) throw new TokenLimitError(limit);
      if (!this.cache.appendTo(text, start, end, out)) this.encodePiece(text, start, end, out);
      if (out.length > limit) throw new TokenLimitError(limit);
    }
  }

  /** UTF-8 encode + BPE one piece onto out, and cache it if it is short. */
  private encodePiece(text: string, start: number, end: number, out: IdBuffer): void {
    let { bytes, ids } = this;
    if (bytes.length < 3 * (end - start)) {
      bytes = new Uint8Array(3 * (end - start));
      ids = new Int32Array(3 * (end - start));
      // Keep grown buffers only up to a modest size: one huge prompt must not pin them.
      if (bytes.length <= 1 << 16) [this.bytes, this.ids] = [bytes, ids];
    }
    const n = encodeUtf8Into(text, start, end, bytes);
    for (let i = 0; i < n; i++) ids[i] = this.byteToId[bytes[i]];
    const m = bpe(ids, n, this.table, this.scratch);
    out.pushRange(ids, 0, m);
    if (end - start <= MAX_CACHED_PIECE) this.cache.set(text, start, end, ids, 0, m);
  }

  private tokenLength(id: number): number {
    return this.tokenStart[id + 1] - this.tokenStart[id];
  }

  /** The vocabulary's own bytes of a valid id (a view: not to be written). */
  private validBytes(id: number): Uint8Array {
    if (!this.isValidId(id)) throw new RangeError(`token id ${id} is not in the vocabulary`);
    return this.tokenBytesRaw(id);
  }

  private tokenBytesRaw(id: number): Uint8Array {
    return this.tokenBytesAll.subarray(this.tokenStart[id], this.tokenStart[id + 1]);
  }
}

/** encode's `limit` was passed: the text has more tokens than the caller accepts. */
export class TokenLimitError extends RangeError {
  constructor(readonly limit: number) {
    super(`the text has more than ${limit} tokens`);
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}
