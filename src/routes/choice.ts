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
  private readonly maxStop: number;

  /**
   * echoText: the prompt to return ahead of the completion, when it does not come as scored
   * prompt events (pass null when the sequence scores its prompt: those events carry the text).
   */
  constructor(
    private readonly tok: Tokenizer,
    private readonly stops: string[],
    withLogprobs: boolean,
    echoText: string | null,
  ) {
    this.decoder = tok.createDecoder();
    this.logprobs = withLogprobs
      ? { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] }
      : null;
    if (echoText !== null) this.text = echoText;
    this.maxStop = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Add events; returns true when a stop sequence ended the choice. */
  push(events: TokenEvent[]): boolean {
    for (const e of events) {
      if (this.stopped) break;
      const offset = this.text.length;
      const piece = this.decoder.push(e.id);
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

  /** End of generation: flush incomplete bytes (then the stop check runs once more). */
  finish(): void {
    if (this.stopped) return;
    if (this.start < 0) this.beginCompletion(this.text.length);
    this.append(this.decoder.flush());
  }

  /** Text not yet sent that can no longer be cut by a stop sequence, with its logprobs. */
  takeDelta(final: boolean): { text: string; logprobs: Logprobs | null } {
    let safe = this.text.length;
    if (!final && !this.stopped) safe -= this.heldBack();
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

  private append(piece: string): void {
    const before = this.text.length;
    this.text += piece;
    if (!this.stops.length) return;
    // Only a match that ends inside the new piece is new; search just the window that can hold it.
    const from = Math.max(this.start, before - this.maxStop + 1);
    let cut = -1;
    for (const s of this.stops) {
      const i = this.text.indexOf(s, from);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.text = this.text.slice(0, cut);
      this.stopped = true;
      if (this.logprobs) this.trimLogprobs(cut);
    }
  }

  /** Length of the longest suffix of the completion that is a proper prefix of a stop sequence. */
  private heldBack(): number {
    if (this.start < 0) return 0;
    let held = 0;
    const tail = this.text.slice(Math.max(this.start, this.text.length - this.maxStop));
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, tail.length); k > held; k--) {
        if (tail.endsWith(s.slice(0, k))) {
          held = k;
          break;
        }
      }
    }
    return held;
  }

  private record(e: TokenEvent, offset: number): void {
    const lp = this.logprobs!;
    lp.tokens.push(this.tok.tokenString(e.id));
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
      const s = this.tok.tokenString(t.id);
      // Two ids can share a display string (partial UTF-8 bytes); keep the larger logprob.
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
