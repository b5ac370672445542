// Turns one sequence's token events into an OpenAI completion choice: text (UTF-8 safe,
// streamed without splitting characters), stop sequences (never included in the text, and
// text that might start one is held back while streaming), and logprobs arrays.

import type { StreamDecoder, Tokenizer } from "../tokenizer/index.js";
import type { TokenEvent } from "../engine/sequence.js";

export interface Logprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

export class ChoiceBuilder {
  /** Full text of the choice so far (echoed prompt + completion). */
  text = "";
  /** How much of `text` has been handed out by takeDelta. */
  private sent = 0;
  /** Where the completion starts in `text` (after an echoed prompt). */
  private readonly start: number;
  stopped = false;
  readonly logprobs: Logprobs | null;
  private readonly decoder: StreamDecoder;
  private readonly maxStop: number;

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
    if (echoText !== null && !withLogprobs) this.text = echoText;
    this.start = this.text.length;
    this.maxStop = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Add events; returns true when a stop sequence ended the choice. */
  push(events: TokenEvent[]): boolean {
    for (const e of events) {
      if (this.stopped) break;
      const offset = this.text.length;
      if (e.prompt && !this.logprobs) continue; // echo text without logprobs was set up front
      const piece = this.decoder.push(e.id);
      if (e.prompt) this.text += piece; // echoed prompt: never searched for stop sequences
      else this.append(piece);
      if (this.logprobs && !this.stopped) this.record(e, offset);
    }
    return this.stopped;
  }

  /** End of generation: flush incomplete bytes (then the stop check runs once more). */
  finish(): void {
    if (!this.stopped) this.append(this.decoder.flush());
    this.sent = Math.min(this.sent, this.text.length);
  }

  /** Text not yet sent that can no longer be cut by a stop sequence. */
  takeDelta(final: boolean): { text: string; logprobs: Logprobs | null } {
    let safe = this.text.length;
    if (!final && !this.stopped) safe -= this.heldBack();
    const text = this.text.slice(this.sent, safe);
    const from = this.sent;
    this.sent = Math.max(this.sent, safe);
    if (!this.logprobs) return { text, logprobs: null };
    const lp = this.logprobs;
    const idx = lp.text_offset
      .map((o, i) => [o, i] as const)
      .filter(([o]) => o >= from && (o < safe || (final && o <= safe)))
      .map(([, i]) => i);
    const pick = <T>(a: T[]) => idx.map((i) => a[i]);
    const part = {
      tokens: pick(lp.tokens),
      token_logprobs: pick(lp.token_logprobs),
      top_logprobs: pick(lp.top_logprobs),
      text_offset: pick(lp.text_offset),
    };
    return { text, logprobs: part };
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
      lp.top_logprobs.push(null);
      return;
    }
    const top: Record<string, number> = {};
    for (const t of e.top) {
      const s = this.tok.tokenString(t.id);
      // Two ids can share a display string (partial UTF-8 bytes); keep the larger logprob.
      if (!(s in top) || top[s] < t.logprob) top[s] = t.logprob;
    }
    lp.top_logprobs.push(top);
  }

  /** Drop logprob entries of tokens that start at or after the cut. */
  private trimLogprobs(cut: number): void {
    const lp = this.logprobs!;
    let keep = lp.text_offset.length;
    while (keep > 0 && lp.text_offset[keep - 1] >= cut && lp.text_offset[keep - 1] >= this.start) keep--;
    lp.tokens.length = keep;
    lp.token_logprobs.length = keep;
    lp.top_logprobs.length = keep;
    lp.text_offset.length = keep;
  }
}
