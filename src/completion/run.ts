// The sequences of one completion: submitted to the engine (one per prompt and candidate),
// driven into their ChoiceBuilders, counted for usage, ranked for best_of, and finished into
// OpenAI's choices. stream.ts drives the same choices chunk by chunk instead.

import type { Generator, SequenceHandle } from "../engine/generator.js";
import type { GenerationRequest } from "../engine/sequence.js";
import { randomSeed, validateSamplingParams, type SamplingParams } from "../sampler/index.js";
import { ChoiceBuilder, type CompletionChoice } from "./choice.js";
import { CompletionRequestError, type CompletionRequest, type FittedPrompts } from "./request.js";

export interface Choice {
  builder: ChoiceBuilder;
  seq: SequenceHandle;
  promptIndex: number;
  /** OpenAI's choice index, promptIndex · n + j (for best_of, j is the rank once finished). */
  index: number;
}

/** A started completion: its choices (best_of per prompt, all submitted) and the prompt size. */
export interface Completion {
  choices: Choice[];
  /** Tokens of every prompt, each counted once whatever n. */
  promptTokens: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/**
 * Submit every sequence of the fitted prompts (promptIdsOf) to the engine (EngineSaturatedError,
 * SamplingParamError, none submitted, if refused).
 */
export function startCompletion(
  p: CompletionRequest,
  engine: Generator,
  { prompts, maxTokens }: FittedPrompts,
): Completion {
  const choices = submitChoices(p, engine, prompts, maxTokens);
  return { choices, promptTokens: prompts.reduce((s, ids) => s + ids.length, 0) };
}

/** Every candidate counts, best_of ones too: they were all generated. */
export function usageOf(c: Completion): Usage {
  const completion = c.choices.reduce((s, ch) => s + completionTokens(ch), 0);
  return {
    prompt_tokens: c.promptTokens,
    completion_tokens: completion,
    total_tokens: c.promptTokens + completion,
  };
}

/** Run every choice to its end, then the n best per prompt as OpenAI's choices. */
export async function completeAll(
  engine: Generator,
  c: Completion,
  p: CompletionRequest,
): Promise<CompletionChoice[]> {
  await driveAll(engine, c.choices);
  return selectBestOf(c.choices, p.n, p.bestOf).map((ch) => {
    ch.builder.finish();
    const { text, logprobs } = ch.builder.takeDelta(true);
    return {
      text,
      index: ch.index,
      logprobs: p.logprobs === null ? null : logprobs,
      finish_reason: finishReason(ch),
    };
  });
}

/** Submit best_of sequences per prompt; all or none (a refused submit cancels the rest). */
function submitChoices(
  p: CompletionRequest,
  engine: Generator,
  prompts: number[][],
  maxTokens: number,
): Choice[] {
  const tok = engine.lm.tokenizer;
  const sampling = samplingOf(p);
  validateSamplingParams(sampling, engine.lm.manifest.config.n_vocab);
  const total = prompts.length * p.bestOf;
  if (engine.capacity !== undefined && total > engine.capacity) {
    // Not a 503: busy or idle, this model never holds that many (its slots and queue).
    throw new CompletionRequestError(
      prompts.length > 1 ? "prompt" : p.bestOf > p.n ? "best_of" : "n",
      `This request would generate ${total} sequences (${prompts.length} prompt(s) × ` +
        `${p.bestOf}); this model holds at most ${engine.capacity} at once. Split it up.`,
    );
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
          // a prompt's text does not depend on the prompts sent with it (batching harnesses)
          seed: p.seed === null ? randomSeed() : choiceSeed(p.seed, j),
          stopTokens: new Set(tok.eot === undefined || p.ignoreEos ? [] : [tok.eot]),
          logprobs: wantLogprobs ? (p.logprobs ?? 0) : null,
          echoLogprobs,
        };
        // The prompt as the model saw it (an empty one is <|endoftext|>), as echo+logprobs gives.
        const echo = p.echo && !echoLogprobs ? ids : null;
        const builder = new ChoiceBuilder(tok, p.stop, wantLogprobs, echo);
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
 * token the choice will ever get; it returns a promise only when it has something to wait for
 * (a write), so the tokens of a drain that share one write pass without a turn of their own.
 */
export function drive(
  engine: Generator,
  ch: Choice,
  onEvents?: (final: boolean) => Promise<void> | void,
) {
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
      const written = onEvents(final || ch.builder.stopped);
      if (written) await written;
      if (ch.builder.stopped) break;
    }
  });
}

/** Drive every choice; the first failure cancels the others. */
async function driveAll(engine: Generator, choices: Choice[]): Promise<void> {
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
 * stop sequence, or a final <|endoftext|> (sampled, so counted, but never shown as text).
 * Tokens a batched step produced after a stop sequence matched are not counted.
 */
const completionTokens = (ch: Choice) => ch.builder.generated;

/** Per prompt, the n candidates with the highest mean generated-token logprob, reindexed. */
function selectBestOf(choices: Choice[], n: number, bestOf: number): Choice[] {
  if (bestOf === n) return choices;
  const out: Choice[] = [];
  for (let start = 0; start < choices.length; start += bestOf) {
    const group = choices.slice(start, start + bestOf);
    const ranked = group.sort((a, b) => b.builder.meanLogprob - a.builder.meanLogprob);
    ranked.slice(0, n).forEach((ch, i) => out.push({ ...ch, index: ch.promptIndex * n + i }));
  }
  return out;
}

function samplingOf(p: CompletionRequest): SamplingParams {
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

/** Distinct, reproducible seeds per choice of a prompt: splitmix64 of (seed, choice). */
function choiceSeed(seed: bigint, choice: number): bigint {
  const M = (1n << 64n) - 1n;
  let z = (BigInt.asUintN(64, seed) + BigInt(choice + 1) * 0x9e3779b97f4a7c15n) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  return z ^ (z >> 31n);
}
