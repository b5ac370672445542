// The sequences of one completions request: built from the validated parameters (one per prompt
// and candidate), driven through the engine into their ChoiceBuilders, counted, and ranked for
// best_of.

import type { Engine } from "../engine/engine.js";
import type { GenerationRequest, Sequence } from "../engine/sequence.js";
import {
  randomSeed,
  SamplingParamError,
  validateSamplingParams,
  type SamplingParams,
} from "../sampler/index.js";
import { ChoiceBuilder } from "./choice.js";
import type { CompletionParams } from "./completion-params.js";
import { ApiError, invalid } from "./errors.js";

export interface Choice {
  builder: ChoiceBuilder;
  seq: Sequence;
  promptIndex: number;
  /** OpenAI's choice index, promptIndex · n + j (for best_of, j is the rank once finished). */
  index: number;
}

/** Token ids of every prompt, checked against the vocabulary, the server cap and the context. */
export function promptIdsOf(p: CompletionParams, engine: Engine, maxPromptTokens: number) {
  const tok = engine.lm.tokenizer;
  const n_ctx = engine.lm.plan.context; // what the memory plan serves, <= the model's n_ctx
  const prompts = p.prompts.map((pr, i) => {
    const where = p.prompts.length > 1 ? `prompt[${i}]` : "prompt";
    let ids: number[];
    if ("ids" in pr) {
      const bad = pr.ids.find((id) => !tok.isValidId(id));
      if (bad !== undefined) {
        const range = `[0, ${tok.vocabSize})`;
        throw invalid("prompt", `Invalid token id ${bad} in ${where}: ids must be in ${range}.`);
      }
      ids = pr.ids;
    } else {
      ids = tok.encode(pr.text, { limit: maxPromptTokens }); // over it: TokenLimitError, a 400
    }
    if (ids.length === 0) ids = [tok.eot ?? 0]; // an empty prompt starts from <|endoftext|>
    if (ids.length > maxPromptTokens) {
      const msg = `${where} has ${ids.length} tokens; this server accepts at most ${maxPromptTokens}.`;
      throw invalid("prompt", msg, "context_length_exceeded");
    }
    return ids;
  });
  const longest = Math.max(...prompts.map((ids) => ids.length));
  // Not given: 16, or what still fits after the longest prompt.
  const maxTokens = p.maxTokens ?? Math.max(0, Math.min(16, n_ctx - longest));
  if (longest + maxTokens > n_ctx) {
    throw new ApiError(
      400,
      `This model's maximum context length is ${n_ctx} tokens, however you requested ` +
        `${longest + maxTokens} tokens (${longest} in your prompt; ${maxTokens} for the ` +
        `completion). Please reduce your prompt or completion length.`,
      "invalid_request_error",
      p.maxTokens === null ? "prompt" : "max_tokens",
      "context_length_exceeded",
    );
  }
  return { prompts, maxTokens };
}

/** Submit best_of sequences per prompt; all or none (a refused submit cancels the rest). */
export function submitChoices(
  p: CompletionParams,
  engine: Engine,
  prompts: number[][],
  maxTokens: number,
): Choice[] {
  const tok = engine.lm.tokenizer;
  const sampling = samplingOf(p);
  try {
    validateSamplingParams(sampling, engine.lm.manifest.config.n_vocab);
  } catch (e) {
    if (e instanceof SamplingParamError) throw invalid(e.param, e.message);
    throw e;
  }
  // best_of > n ranks candidates by their generated tokens' logprobs, so it needs them.
  const wantLogprobs = p.logprobs !== null || p.bestOf > p.n;
  const echoLogprobs = p.echo && p.logprobs !== null;
  const choices: Choice[] = [];
  try {
    prompts.forEach((ids, pi) => {
      for (let j = 0; j < p.bestOf; j++) {
        const req: GenerationRequest = {
          prompt: ids,
          maxTokens,
          sampling,
          seed: p.seed === null ? randomSeed() : choiceSeed(p.seed, pi * p.bestOf + j),
          stopTokens: new Set(tok.eot === undefined || p.ignoreEos ? [] : [tok.eot]),
          logprobs: wantLogprobs ? (p.logprobs ?? 0) : null,
          echoLogprobs,
        };
        // The prompt as the model saw it (an empty one is <|endoftext|>), as echo+logprobs gives.
        const echoText = p.echo && !echoLogprobs ? tok.decode(ids) : null;
        const builder = new ChoiceBuilder(tok, p.stop, wantLogprobs, echoText);
        choices.push({ builder, seq: engine.submit(req), promptIndex: pi, index: pi * p.n + j });
      }
    });
  } catch (e) {
    cancelAll(choices);
    throw e;
  }
  return choices;
}

export function cancelAll(choices: Choice[]): void {
  for (const ch of choices) ch.seq.cancelled = true;
}

/**
 * Run one choice to its end, feeding its builder; a stop sequence cancels the sequence before
 * the next step. Without onEvents all events go to the builder at once; with it (streaming),
 * onEvents(final) runs after each generated token reaches the builder, final marking the last
 * token the choice will ever get.
 */
export function drive(engine: Engine, ch: Choice, onEvents?: (final: boolean) => Promise<void>) {
  return engine.run(ch.seq, async (events) => {
    if (!onEvents) {
      if (ch.builder.push(events)) ch.seq.cancelled = true;
      return;
    }
    // Streaming: an echoed prompt goes out at once, then one chunk per generated token.
    const prompt = events.filter((e) => e.prompt);
    const groups = [
      ...(prompt.length ? [prompt] : []),
      ...events.filter((e) => !e.prompt).map((e) => [e]),
    ];
    for (let i = 0; i < groups.length; i++) {
      if (ch.builder.push(groups[i])) ch.seq.cancelled = true;
      // Final when nothing more can come: finished, and no events produced since this drain
      // (other requests' steps may have added some while we awaited the last write).
      const final = i === groups.length - 1 && ch.seq.finish !== null && ch.seq.events.length === 0;
      await onEvents(final || ch.builder.stopped);
      if (ch.builder.stopped) break;
    }
  });
}

/** Drive every choice; the first failure cancels the others. */
export async function driveAll(engine: Engine, choices: Choice[]): Promise<void> {
  try {
    await Promise.all(choices.map((ch) => drive(engine, ch)));
  } catch (e) {
    cancelAll(choices);
    throw e;
  }
}

export const finishReason = (ch: Choice) =>
  ch.builder.stopped || ch.seq.finish === "stop" ? "stop" : "length";

/**
 * Tokens the model generated for a choice: those up to and including the one that completed a
 * stop sequence, plus a final <|endoftext|> (sampled, so counted, but never shown as text).
 * Tokens a batched step produced after a stop sequence matched are not counted.
 */
export const completionTokens = (ch: Choice) =>
  ch.builder.generated + (ch.seq.finish === "stop" && !ch.builder.stopped ? 1 : 0);

/** Per prompt, the n candidates with the highest mean generated-token logprob, reindexed. */
export function selectBestOf(choices: Choice[], n: number, bestOf: number): Choice[] {
  if (bestOf === n) return choices;
  const out: Choice[] = [];
  for (let start = 0; start < choices.length; start += bestOf) {
    const group = choices.slice(start, start + bestOf);
    const ranked = group.sort((a, b) => b.builder.meanLogprob - a.builder.meanLogprob);
    ranked.slice(0, n).forEach((ch, i) => out.push({ ...ch, index: ch.promptIndex * n + i }));
  }
  return out;
}

function samplingOf(p: CompletionParams): SamplingParams {
  return {
    temperature: p.temperature,
    top_k: p.top_k,
    top_p: p.top_p,
    min_p: p.min_p,
    presence_penalty: p.presence_penalty,
    frequency_penalty: p.frequency_penalty,
    repetition_penalty: p.repetition_penalty,
    logit_bias: p.logitBias,
  };
}

/** Distinct, reproducible seeds per choice: splitmix64 of (seed, choice). */
function choiceSeed(seed: bigint, choice: number): bigint {
  const M = (1n << 64n) - 1n;
  let z = (BigInt.asUintN(64, seed) + BigInt(choice + 1) * 0x9e3779b97f4a7c15n) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  return z ^ (z >> 31n);
}
