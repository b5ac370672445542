// The next-token distribution in a form the page can re-temperature without another forward
// pass: the top-N raw logits plus, for every temperature the slider can reach, the exact
// log-normaliser over the WHOLE vocabulary. Then p_i(T) = exp((logit_i - max) / T - log_z[T]).

import type { NextTokens, PromptLogprob } from "./types.js";
import { logprobsOf, plainLogitOps, type LogitOps } from "../sampler/index.js";
import { topIdsOf } from "../sampler/select.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { round } from "./round.js";

/** The slider's step: the normaliser is exact at every multiple of it in (0, 2]. */
export const TEMPERATURE_STEP = 0.05;
export const MAX_TEMPERATURE = 2;
/** Alternatives listed per prompt position (OpenAI's logprobs cap is 5 as well). */
export const PROMPT_TOP = 5;

/** ops: the passes over the logits (the model's kernels where the logits are in its memory). */
export function nextTokens(
  tok: Tokenizer,
  logits: Float32Array,
  topN: number,
  ops: LogitOps = plainLogitOps,
): NextTokens {
  const V = logits.length;
  const ids = Array.from(topIdsOf(ops, logits, topN));
  const max = logits[ids[0]];
  const steps = Math.round(MAX_TEMPERATURE / TEMPERATURE_STEP);
  const temperatures = Array.from({ length: steps }, (_, i) =>
    round((i + 1) * TEMPERATURE_STEP, 2),
  );
  // One pass over V per temperature ((logit - max) ≤ 0, so exp never overflows): 40 kernel
  // passes over GPT-2's vocabulary take ~2 ms, the f64 loops ~20.
  const log_z = temperatures.map((T) => Math.log(ops.expSum(logits, max, 1 / T)));
  const lz1 = log_z[Math.round(1 / TEMPERATURE_STEP) - 1];
  let entropy = 0;
  for (let i = 0; i < V; i++) {
    const lp = logits[i] - max - lz1;
    if (lp !== -Infinity) entropy -= Math.exp(lp) * lp; // an id without text: p = 0
  }
  return {
    top: ids.map((id) => ({ id, text: tok.tokenString(id), logit: round(logits[id], 5) })),
    max_logit: round(max, 5),
    temperatures,
    // 1e-9 keeps float32-level precision of the exponent; the page needs no more.
    log_z: log_z.map((z) => round(z, 9)),
    entropy: round(entropy, 5),
  };
}

/** Score the prompt token `id` under the logits of the position before it. */
export function scoreToken(
  tok: Tokenizer,
  logits: Float32Array,
  id: number,
  ops: LogitOps = plainLogitOps,
): PromptLogprob {
  const { logprob, top } = logprobsOf(logits, id, PROMPT_TOP, ops);
  let rank = 1;
  const own = logits[id];
  for (let i = 0; i < logits.length; i++)
    if (logits[i] > own || (logits[i] === own && i < id)) rank++;
  return {
    logprob: round(logprob, 5),
    rank,
    top: top.map((x) => ({ id: x.id, text: tok.tokenString(x.id), logprob: round(x.logprob, 5) })),
  };
}
