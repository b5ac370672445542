// Log-probabilities and probabilities of the model's raw next-token distribution: OpenAI's
// `logprobs` (log-softmax of the logits before temperature, penalties and bias) and the demo's
// "next-token distribution at temperature T" view.
import { topIdsOf } from "./select.js";
import { plainLogitOps, type LogitOps } from "./logit-ops.js";

/**
 * log softmax(x / T)[i] = (x[i] - max) / T - logSum, with logSum = log Σ exp((x - max) / T) in
 * float64. Subtracting the max first means exp never overflows and the largest term is exactly 1,
 * so logSum ∈ [0, log V] and no large numbers cancel.
 */
function logSoftmaxParts(
  x: Float32Array,
  invT: number,
  ops: LogitOps,
): { max: number; logSum: number } {
  const max = x[ops.argmax(x)];
  return { max, logSum: Math.log(ops.expSum(x, max, invT)) };
}

/**
 * The logprob of `id` and the topN most probable (id, logprob), best first (ties → lower id),
 * under log_softmax(logits). The sampled token is not added to `top`; the caller merges it.
 */
export function logprobsOf(
  logits: Float32Array,
  id: number,
  topN: number,
  ops: LogitOps = plainLogitOps,
): { logprob: number; top: { id: number; logprob: number }[] } {
  const V = logits.length;
  if (!Number.isInteger(id) || id < 0 || id >= V) {
    throw new RangeError(`token id ${id} outside the vocabulary [0, ${V})`);
  }
  const { max, logSum } = logSoftmaxParts(logits, 1, ops);
  const logprob = (i: number) => logits[i] - max - logSum;
  const top = Array.from(topIdsOf(ops, logits, topN, max), (t) => ({ id: t, logprob: logprob(t) }));
  return { logprob: logprob(id), top };
}

/**
 * The n most probable tokens of softmax(logits / temperature), best first, with their raw
 * logits. temperature 0 is greedy: probability 1 on the argmax (ties → lowest id), 0 elsewhere.
 */
export function topProbs(
  logits: Float32Array,
  temperature: number,
  n: number,
  ops: LogitOps = plainLogitOps,
): { id: number; logit: number; prob: number }[] {
  const ids = Array.from(topIdsOf(ops, logits, n));
  if (temperature <= 0) {
    const best = ops.argmax(logits);
    return ids.map((id) => ({ id, logit: logits[id], prob: id === best ? 1 : 0 }));
  }
  const invT = 1 / temperature;
  const { max, logSum } = logSoftmaxParts(logits, invT, ops);
  return ids.map((id) => ({
    id,
    logit: logits[id],
    prob: Math.exp((logits[id] - max) * invT - logSum),
  }));
}
