// A stand-in tokenizer for reference sanity tests: GPT-2's byte-to-unicode table and a greedy
// longest match over vocab.json. Not the real BPE (merge ranks are ignored), so ids can differ
// from the true encoding; good enough to feed a model real text.

/** GPT-2's byte -> printable character table (bytes_to_unicode): space is Ġ, newline is Ċ. */
export function byteChars(): string[] {
  const keep = (b: number) =>
    (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let n = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(keep(b) ? b : 256 + n++));
}

/** Greedy longest match over vocab.json: not the real BPE, but close enough for a sanity check. */
export function greedyTokenize(vocab: Record<string, number>, text: string): number[] {
  const chars = byteChars();
  const s = Array.from(new TextEncoder().encode(text), (b) => chars[b]).join("");
  const longest = Math.max(...Object.keys(vocab).map((k) => k.length));
  const ids: number[] = [];
  for (let i = 0; i < s.length;) {
    let L = Math.min(longest, s.length - i);
    while (vocab[s.slice(i, i + L)] === undefined) L--; // every single byte is in the vocabulary
    ids.push(vocab[s.slice(i, i + L)]);
    i += L;
  }
  return ids;
}
