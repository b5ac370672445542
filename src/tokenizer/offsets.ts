// Character offsets for byte-level tokens. Tokens split text by UTF-8 bytes, so a token may
// end inside a character (one CJK character is often two tokens). Rule: a character belongs
// to the token holding its LAST byte; a token that completes no character gets an empty span
// [p, p). Spans are then contiguous and disjoint, they tile the text, and each token's span is
// exactly the text a StreamDecoder emits when that token is pushed.

import { utf8CharAt } from "./utf8.js";

/**
 * Appends one span per token ids[first, last) of the pre-token text[start, end), shifted by base
 * (where text begins in the caller's string). tokenLength(id) is the token's byte length; the
 * lengths add up to the piece's UTF-8 length.
 */
export function pieceOffsets(
  text: string,
  start: number,
  end: number,
  ids: ArrayLike<number>,
  first: number,
  last: number,
  tokenLength: (id: number) => number,
  base: number,
  out: [number, number][],
): void {
  let cursor = start; // next character not yet given to a token
  let owed = 0; // bytes of that character already covered by earlier tokens
  for (let t = first; t < last; t++) {
    const from = cursor;
    let bytes = tokenLength(ids[t]);
    while (bytes > 0 && cursor < end) {
      const info = utf8CharAt(text, cursor, end); // bytes * 4 + UTF-16 units
      const rest = (info >> 2) - owed;
      if (bytes < rest) {
        owed += bytes;
        break;
      }
      bytes -= rest;
      cursor += info & 3;
      owed = 0;
    }
    out.push([base + from, base + cursor]);
  }
}
