// Turns one sequence's token events into an OpenAI completion choice: text (UTF-8 safe,
// streamed without splitting characters), stop sequences (never included in the text, and
// text that might start one is held back while streaming), logprobs arrays, and token counts.

import type { StreamDecoder, Tokenizer } from "../tokenizer/index.js";
import type { TokenEvent } from "../engine/sequence.js";

export interface Logprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  /** Character (UTF-16 code unit) offset of each token in the choice's returned text. */
  text_offset: number[];
}

/** One choice as it goes out, in a response or a stream chunk. */
export interface CompletionChoice {
  text: string;
  index: number;
  logprobs: Logprobs | null;
  finish_reason: "stop" | "length" | null;
}

export class ChoiceBuilder {
  /** Full text of the choice so far (echoed prompt + completion). */
  text = "";
  /** How much of `text` has been handed out by takeDelta. */
  private sent = 0;
  /** How many logprobs entries have been handed out by takeDelta. */
  private sentLp = 0;
  /** Where the completion starts in `text` (after an echoed prompt); set by the first token. */
  private start = -1;
  /** Index of the first completion entry in the logprobs arrays (the rest are prompt scores). */
  private firstGenLp = -1;
  stopped = false;
  /** Generated tokens consumed, up to and including the one that completed a stop sequence. */
  generated = 0;
  readonly logprobs: Logprobs | null;
  private readonly decoder: StreamDecoder;
  private readonly stops: string[];
  /** Per stop sequence, its failure table (failureTable) and how much of it the text ends with. */
  private readonly fail: Int32Array[];
  private readonly matched: Int32Array;

  /**
   * echo: the prompt's ids, to return as text ahead of the completion, when they do not come as
   * scored prompt events (pass null when the sequence scores its prompt: those events carry
   * the text). They go through the same decoder, so a character the prompt leaves unfinished
   * is finished by the completion, as with scored prompt events.
   */
  constructor(
    private readonly tok: Tokenizer,
    stops: string[],
    withLogprobs: boolean,
    echo: readonly number[] | null,
  ) {
    this.decoder = tok.createDecoder();
    this.logprobs = withLogprobs
      ? { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] }
      : null;
    if (echo !== null) for (const id of echo) this.text += this.decoder.push(id);
    this.stops = stops.filter((s) => s.length > 0);
    this.fail = this.stops.map(failureTable);
    this.matched = new Int32Array(this.stops.length);
  }

  /** Add events; returns true when a stop sequence ended the choice. */
  push(events: TokenEvent[]): boolean {
    for (const e of events) {
      if (this.stopped) break;
      if (e.end) {
        this.end(e);
        continue;
      }
      const at = this.text.length;
      const piece = this.decoder.push(e.id);
      const offset = at + this.decoder.lead; // past a U+FFFD for bytes before it
      if (!e.prompt && this.start < 0) this.beginCompletion(offset);
      // Recorded before the stop check: a token whose text is cut keeps its entry if any of
      // its text remains (trimLogprobs drops the ones that start at or after the cut).
      if (this.logprobs) this.record(e, offset);
      if (e.prompt) {
        this.text += piece; // a scored prompt token: never searched for stop sequences
      } else {
        this.generated++;
        this.append(piece);
      }
    }
    return this.stopped;
  }

  /**
   * A stop token (<|endoftext|>): the text's incomplete bytes are flushed first (a stop sequence
   * they complete ends the choice without it), then it is counted and gets its logprob entry at
   * the end of the text, with no text of its own.
   */
  private end(e: TokenEvent): void {
    this.finish();
    if (this.stopped) return;
    this.generated++;
    if (this.logprobs) this.record(e, this.text.length);
  }

  /** End of generation: flush incomplete bytes (then the stop check runs once more). */
  finish(): void {
    if (this.stopped) return;
    if (this.start < 0) this.beginCompletion(this.text.length);
    this.append(this.decoder.flush());
  }

  /** Text not yet sent that can no longer be cut by a stop sequence, with its logprobs. */
  takeDelta(final: boolean): { text: string; logprobs: Logprobs | null } {
    let safe = this.text.length;
    if (!final && !this.stopped) safe = charBoundary(this.text, safe - this.heldBack());
    const text = this.text.slice(this.sent, safe);
    this.sent = Math.max(this.sent, safe);
    if (!this.logprobs) return { text, logprobs: null };
    // An entry goes out with the chunk that completes its token's text (all of them at the end).
    // Offsets never decrease, so that is a prefix of the unsent entries.
    const lp = this.logprobs;
    const n = lp.text_offset.length;
    let end = this.sentLp;
    while (
      end < n &&
      (final || (end + 1 < n ? lp.text_offset[end + 1] : this.text.length) <= safe)
    ) {
      end++;
    }
    const from = this.sentLp;
    this.sentLp = end;
    return {
      text,
      logprobs: {
        tokens: lp.tokens.slice(from, end),
        token_logprobs: lp.token_logprobs.slice(from, end),
        top_logprobs: lp.top_logprobs.slice(from, end),
        text_offset: lp.text_offset.slice(from, end),
      },
    };
  }

  /**
   * best_of's ranking score: the mean logprob of the completion's tokens as returned (prompt
   * tokens excluded); an empty completion ranks last.
   */
  get meanLogprob(): number {
    const lp = this.logprobs?.token_logprobs.slice(Math.max(0, this.firstGenLp)) ?? [];
    let sum = 0;
    for (const x of lp) sum += x ?? 0;
    return lp.length && this.firstGenLp >= 0 ? sum / lp.length : -Infinity;
  }

  private beginCompletion(offset: number): void {
    this.start = offset;
    this.firstGenLp = this.logprobs?.tokens.length ?? 0;
  }

  /**
   * Completion text, searched for the stop sequences as it arrives: each stop's matcher (Knuth,
   * Morris and Pratt) takes every new code unit once, whatever the stop's length. The first
   * match of each stop is its leftmost; the leftmost of those is the cut. (Searching the last
   * stop-length window for each token, and testing every prefix length for what to hold back,
   * cost up to quadratic time in a long stop a token: seconds of the isolate's one thread.)
   */
  private append(piece: string): void {
    const before = this.text.length;
    this.text += piece;
    let cut = -1;
    for (let j = 0; j < this.stops.length; j++) {
      const s = this.stops[j];
      const f = this.fail[j];
      let k = this.matched[j];
      for (let i = 0; i < piece.length; i++) {
        const c = piece.charCodeAt(i);
        while (k > 0 && s.charCodeAt(k) !== c) k = f[k - 1];
        if (s.charCodeAt(k) === c) k++;
        if (k === s.length) {
          const at = before + i + 1 - k;
          if (cut < 0 || at < cut) cut = at;
          break;
        }
      }
      this.matched[j] = k;
    }
    if (cut >= 0) {
      cut = charBoundary(this.text, cut); // a stop that begins mid-character takes all of it
      this.text = this.text.slice(0, cut);
      this.stopped = true;
      if (this.logprobs) this.trimLogprobs(cut);
    }
  }

  /** Length of the longest suffix of the completion that is a proper prefix of a stop sequence. */
  private heldBack(): number {
    let held = 0;
    for (const k of this.matched) held = Math.max(held, k);
    return held;
  }

  private record(e: TokenEvent, offset: number): void {
    const lp = this.logprobs!;
    lp.tokens.push(tokenName(this.tok, e.id));
    lp.token_logprobs.push(e.logprob);
    lp.text_offset.push(offset);
    if (!e.top) {
      lp.top_logprobs.push(null); // the first prompt token: nothing to condition on
      return;
    }
    const top: Record<string, number> = {};
    // OpenAI lists the top alternatives plus the chosen token, for prompt tokens too.
    const entries = e.logprob === null ? e.top : [...e.top, { id: e.id, logprob: e.logprob }];
    for (const t of entries) {
      const s = tokenName(this.tok, t.id);
      // Names are unique per id (tokenName), but a prompt may repeat the chosen token.
      if (!(s in top) || top[s] < t.logprob) top[s] = t.logprob;
    }
    lp.top_logprobs.push(top);
  }

  /** Drop the logprob entries of completion tokens that start at or after the cut. */
  private trimLogprobs(cut: number): void {
    const lp = this.logprobs!;
    let keep = lp.text_offset.length;
    while (keep > this.firstGenLp && lp.text_offset[keep - 1] >= cut) keep--;
    lp.tokens.length = keep;
    lp.token_logprobs.length = keep;
    lp.top_logprobs.length = keep;
    lp.text_offset.length = keep;
  }
}

/**
 * Knuth-Morris-Pratt's failure table of s: f[i] is the length of the longest proper prefix of
 * s[0..i] that is also a suffix of it.
 */
function failureTable(s: string): Int32Array {
  const f = new Int32Array(s.length);
  for (let i = 1, k = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    while (k > 0 && s.charCodeAt(k) !== c) k = f[k - 1];
    if (s.charCodeAt(k) === c) k++;
    f[i] = k;
  }
  return f;
}

const WHOLE_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A token's name in logprobs: its text, or, for a token whose bytes are not whole UTF-8
 * characters (a byte-level BPE token can hold part of one), "bytes:" and each byte as \xNN:
 * OpenAI's form, which clients such as HELM parse back into bytes. Decoded text would name every
 * such token U+FFFD, so several ids would share one top_logprobs key, and joining `tokens`
 * could not give the text back.
 */
export function tokenName(tok: Tokenizer, id: number): string {
  const text = tok.tokenString(id);
  if (!text.includes("\ufffd")) return text;
  const bytes = tok.tokenBytes(id);
  try {
    WHOLE_UTF8.decode(bytes);
    return text; // a real U+FFFD, encoded whole
  } catch {
    let name = "bytes:";
    for (const b of bytes) name += "\\x" + b.toString(16).padStart(2, "0");
    return name;
  }
}

/**
 * i, moved back off the middle of a surrogate pair: text.slice(0, i) never ends in half a
 * character, whatever a stop string holds (a lone surrogate can match half of one).
 */
export function charBoundary(text: string, i: number): number {
  const hi = text.charCodeAt(i - 1);
  const lo = text.charCodeAt(i);
  return hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff ? i - 1 : i;
}
