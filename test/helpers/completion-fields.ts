// The optional fields of a Completions request that gpt-edge accepts (OpenAI's plus the
// extensions), written out independently of the validator so tests can cover each one.

export const OPTIONAL_FIELDS = [
  "prompt",
  "max_tokens",
  "temperature",
  "top_p",
  "n",
  "stream",
  "stream_options",
  "logprobs",
  "echo",
  "stop",
  "presence_penalty",
  "frequency_penalty",
  "logit_bias",
  "seed",
  "user",
  "best_of",
  "suffix",
  "top_k",
  "min_p",
  "repetition_penalty",
  "ignore_eos",
] as const;
