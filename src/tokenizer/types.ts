// The tokenizer's public data types: the parsed vocabulary (TokenizerData), the streaming
// detokenizer interface, and the merge trace shown on the demo page.

/** A parsed byte-level BPE vocabulary, before the lookup tables are built. */
export interface TokenizerData {
  /** id -> the token's raw bytes (not GPT-2's printable byte alphabet); specials included. */
  tokens: Uint8Array[];
  /** Merges in rank order (rank 0 is applied first), each a pair of token ids. */
  merges: [number, number][];
  /** Special tokens, e.g. {"<|endoftext|>": 50256}; matched in text only when allowed. */
  specials: Record<string, number>;
}

export interface EncodeOptions {
  /** Recognise special tokens (e.g. "<|endoftext|>") in the text. Default false: plain text. */
  allowSpecial?: boolean;
  /**
   * Most ids wanted: a text with more throws TokenLimitError as soon as that is certain, so a
   * caller can refuse a long text without tokenizing all of it.
   */
  limit?: number;
}

/** Turns ids into text one at a time without ever splitting a UTF-8 character. */
export interface StreamDecoder {
  /** The text that is complete after this token; incomplete UTF-8 bytes are held back. */
  push(id: number): string;
  /**
   * UTF-16 units at the start of the last push's text that belong to bytes held back before
   * it: 1 (a U+FFFD) when the token did not finish the character they started, else 0. The
   * token's own text starts there.
   */
  readonly lead: number;
  /** Whatever is held back, with U+FFFD for an incomplete character; then starts afresh. */
  flush(): string;
}

/** One BPE step: the parts before any merge (first step), or after merging `merged`. */
export interface MergeStep {
  /** The parts in GPT-2's printable byte alphabet (space = "Ġ"), as in vocab.json. */
  parts: string[];
  merged?: [string, string];
  rank?: number;
}

export interface MergeTrace {
  pretokens: { text: string; steps: MergeStep[]; ids: number[] }[];
}
