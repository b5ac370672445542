// The tokenizer's public surface: GPT-2 byte-level BPE (encode, decode, streaming decode,
// offsets, merge traces), its two file loaders, and the compact binary form the Worker loads.

export { Tokenizer, TokenLimitError, type TokenizerOptions } from "./tokenizer.js";
export { parseHfTokenizer, parseOpenAITokenizer } from "./parse.js";
export { serializeTokenizer } from "./serialize.js";
export { bytesToUnicode } from "./bytes-to-unicode.js";
export { GPT2_SPLIT_PATTERN, splitPretokens } from "./split.js";
export type {
  EncodeOptions,
  MergeStep,
  MergeTrace,
  StreamDecoder,
  TokenizerData,
} from "./types.js";
