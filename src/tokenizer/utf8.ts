// UTF-16 -> UTF-8 for one pre-token, written into a reusable buffer (no TextEncoder call and
// no substring per piece). Lone surrogates become U+FFFD (EF BF BD), exactly as TextEncoder.

/**
 * Writes text[start, end) as UTF-8 into out (which must hold 3 * (end - start) bytes: a
 * UTF-16 unit never needs more than 3 bytes, a pair needs 4 for 2 units) and returns the
 * byte count.
 */
export function encodeUtf8Into(text: string, start: number, end: number, out: Uint8Array): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const lo = i + 1 < end ? text.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
          out[n++] = 0xf0 | (cp >> 18);
          out[n++] = 0x80 | ((cp >> 12) & 0x3f);
          out[n++] = 0x80 | ((cp >> 6) & 0x3f);
          out[n++] = 0x80 | (cp & 0x3f);
          i++;
          continue;
        }
        c = 0xfffd; // lone surrogate: not encodable, replaced like TextEncoder does
      }
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    }
  }
  return n;
}

/**
 * UTF-8 length of the character starting at text[i] and how many UTF-16 units it spans,
 * packed as bytes * 4 + units (so the offsets loop allocates nothing).
 */
export function utf8CharAt(text: string, i: number, end: number): number {
  const c = text.charCodeAt(i);
  if (c < 0x80) return 1 * 4 + 1;
  if (c < 0x800) return 2 * 4 + 1;
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
    const lo = text.charCodeAt(i + 1);
    if (lo >= 0xdc00 && lo <= 0xdfff) return 4 * 4 + 2;
  }
  return 3 * 4 + 1; // BMP, or a lone surrogate written as U+FFFD
}
