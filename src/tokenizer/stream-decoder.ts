// Streaming detokenizer: a byte-level token can end in the middle of a UTF-8 character (an
// emoji is often 2-4 tokens), so each push emits only the characters that are complete and
// holds back a trailing partial character until the next token finishes it. The common case, a
// token of whole characters with nothing held back, is the token's own text (textOf, cached by
// the tokenizer): no bytes copied, nothing decoded.

import type { StreamDecoder } from "./types.js";

export class Utf8StreamDecoder implements StreamDecoder {
  private pending = new Uint8Array(0);
  // ignoreBOM: keep a U+FEFF the model generated instead of silently eating it.
  private readonly decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

  /**
   * bytesOf: the token's bytes (read, never written). textOf: the same bytes decoded on their
   * own, as push would decode them with nothing held back (default: decoded here).
   */
  constructor(
    private readonly bytesOf: (id: number) => Uint8Array,
    private readonly textOf?: (id: number) => string,
  ) {}

  lead = 0;

  push(id: number): string {
    const bytes = this.bytesOf(id);
    const p = this.pending;
    // held-back bytes (a valid start) the token does not continue: one U+FFFD of their own
    this.lead = p.length > 0 && !continues(p, bytes[0]) ? 1 : 0;
    if (this.textOf && p.length === 0 && incompleteTail(bytes) === 0) {
      return this.textOf(id);
    }
    const buf = new Uint8Array(this.pending.length + bytes.length);
    buf.set(this.pending);
    buf.set(bytes, this.pending.length);
    const ready = buf.length - incompleteTail(buf);
    this.pending = buf.slice(ready);
    return ready === 0 ? "" : this.decoder.decode(buf.subarray(0, ready));
  }

  flush(): string {
    const text = this.decoder.decode(this.pending);
    this.pending = new Uint8Array(0);
    return text;
  }
}

/**
 * Whether byte b continues `open`, the start of a UTF-8 character that is valid so far
 * (incompleteTail's bytes): a continuation byte, in the narrower range a lead allows second.
 */
function continues(open: Uint8Array, b: number | undefined): boolean {
  if (b === undefined || (b & 0xc0) !== 0x80) return false;
  if (open.length > 1) return true;
  const lead = open[0];
  const lo = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
  const hi = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
  return b >= lo && b <= hi;
}

/**
 * How many trailing bytes (0-3) start a UTF-8 character that is valid so far but unfinished,
 * by the WHATWG decoder's rules (the ones TextDecoder uses). Everything before them decodes
 * now to exactly what decoding all bytes at once would give, because the decoder carries no
 * state across a point where no character is open.
 */
export function incompleteTail(b: Uint8Array): number {
  const n = b.length;
  for (let k = 1; k <= Math.min(3, n); k++) {
    const lead = b[n - k];
    if ((lead & 0xc0) === 0x80) continue; // continuation byte: the lead is further back
    const need = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : 4;
    if (lead < 0xc2 || lead > 0xf4 || need <= k) return 0; // ASCII, invalid, or complete
    if (k >= 2) {
      // The second byte's range depends on the lead (no overlongs, no surrogates, <= U+10FFFF).
      const second = b[n - k + 1];
      const lo = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
      const hi = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
      if (second < lo || second > hi) return 0; // already an error: decodes as U+FFFD now
    }
    return k;
  }
  return 0;
}
