// GPT-2's reversible byte <-> printable-character table (encoder.py's bytes_to_unicode).
// vocab.json / encoder.json / merges.txt spell every token in this alphabet, so the loaders
// use it to recover raw bytes; the runtime itself works on bytes and never needs it.

/**
 * byte -> one printable character. Bytes that are already visible and not whitespace
 * (`!`..`~`, `¡`..`¬`, `®`..`ÿ`) stand for themselves; the other 68 bytes are shifted to
 * U+0100 + n in byte order, so space (0x20) is "Ġ" (U+0120) and "\n" is "Ċ" (U+010A).
 * Why: BPE files are whitespace-separated text, so no token may contain a raw space or a
 * control character.
 */
export function bytesToUnicode(): string[] {
  const table: string[] = new Array(256);
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCharCode(printable(b) ? b : 256 + n++);
  }
  return table;
}

const BYTE_TABLE = bytesToUnicode();

/** Inverse of bytesToUnicode: code unit -> byte, -1 where the character is not in the table. */
export function unicodeToBytes(): Int16Array {
  const inverse = new Int16Array(0x144).fill(-1); // highest mapped code point is U+0143
  bytesToUnicode().forEach((ch, b) => (inverse[ch.charCodeAt(0)] = b));
  return inverse;
}

/** A vocab.json spelling like "Ġthe" -> its raw bytes [0x20, 0x74, 0x68, 0x65]. */
export function decodeByteLevel(spelled: string, inverse: Int16Array): Uint8Array | null {
  const out = new Uint8Array(spelled.length);
  for (let i = 0; i < spelled.length; i++) {
    const c = spelled.charCodeAt(i);
    const b = c < inverse.length ? inverse[c] : -1;
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

/** Raw bytes -> the vocab.json spelling (for traces and error messages). */
export function encodeByteLevel(bytes: Uint8Array, table: string[] = BYTE_TABLE): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += table[bytes[i]];
  return s;
}
