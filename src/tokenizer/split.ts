// GPT-2's pre-tokenizer: the split regex, in this one place. BPE never merges across the
// pieces it cuts, so "Hello world" is BPE'd as "Hello" and " world" separately.

/**
 * openai/gpt-2 encoder.py's pattern, unchanged. Alternatives are tried in order at each
 * position: contractions (case-sensitive, ASCII apostrophe only), then an optional single
 * space (U+0020) glued to a run of letters, of digits, or of anything else; then whitespace.
 * `\s+(?!\S)` takes a whitespace run minus its last character when a non-space follows, so
 * that character (usually a space) can start the next word: "a   b" -> "a", "  ", " b".
 *
 * The `u` flag makes \p{L}, \p{N} and \s Unicode-aware and makes a surrogate pair one
 * character. A lone surrogate is then a character of its own in none of L, N or \s, so it
 * joins a `[^\s\p{L}\p{N}]+` run, exactly like U+FFFD (category So) would; utf8.ts encodes it
 * as U+FFFD's bytes EF BF BD, as TextEncoder (and therefore js-tiktoken) does.
 * \s is JavaScript's: it includes U+FEFF and excludes U+0085 (Python's \s is the other way
 * round), so on those two characters we follow js-tiktoken, not Python tiktoken.
 */
export const GPT2_SPLIT_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** A fresh global regex (it carries lastIndex state, so each user owns one). */
export function gpt2SplitRegex(): RegExp {
  return new RegExp(GPT2_SPLIT_PATTERN, "gu");
}

/** The pre-tokens of `text`, as strings (for tests and traces; encode iterates in place). */
export function splitPretokens(text: string): string[] {
  return text.match(gpt2SplitRegex()) ?? [];
}
