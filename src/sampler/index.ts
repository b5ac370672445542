// The sampler: logits → next token id (temperature, top-k, top-p, min-p, penalties, logit_bias)
// with a seeded, platform-independent RNG; plus OpenAI-style logprobs. No Node or Workers APIs.
export { Rng, randomSeed } from "./rng.js";
export {
  defaultSamplingParams,
  SamplingParamError,
  validateSamplingParams,
  type SamplingParams,
} from "./params.js";
export { Sampler } from "./sample.js";
export { logprobsOf, topProbs } from "./logprobs.js";
export { kernelLogitOps, plainLogitOps, type LogitOps } from "./logit-ops.js";
