// POST /v1/completions: OpenAI's legacy Completions API over the engine, as JSON or as
// data-only server-sent events ending in `data: [DONE]`.

import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { Engine } from "../engine/engine.js";
import type { GenerationRequest, Sequence } from "../engine/sequence.js";
import {
  randomSeed,
  SamplingParamError,
  validateSamplingParams,
  type SamplingParams,
} from "../sampler/index.js";
import { ChoiceBuilder, type Logprobs } from "./choice.js";
import { parseCompletionParams, type CompletionParams, type Prompt } from "./completion-params.js";
import { ApiError, invalid } from "./errors.js";
import { readJson, type AppEnv } from "./context.js";

interface Choice {
  builder: ChoiceBuilder;
  seq: Sequence;
  promptIndex: number;
}

export const completions = new Hono<AppEnv>().post("/completions", async (c) => {
  const deps = c.get("deps");
  const p = parseCompletionParams(await readJson(c), deps.caps);
  const engine = await deps.engine(p.model);
  const tok = engine.lm.tokenizer;
  try {
    validateSamplingParams(samplingOf(p), engine.lm.manifest.config.n_vocab);
  } catch (e) {
    if (e instanceof SamplingParamError) throw invalid(e.param, e.message);
    throw e;
  }
  const prompts = p.prompts.map((pr, i) => promptIds(pr, i, engine, deps.caps.maxPromptTokens));
  const n_ctx = engine.lm.manifest.config.n_ctx;
  const longest = Math.max(...prompts.map((ids) => ids.length));
  const maxTokens = p.maxTokens ?? Math.max(0, Math.min(16, n_ctx - longest));
  if (longest + maxTokens > n_ctx) {
    throw new ApiError(
      400,
      `This model's maximum context length is ${n_ctx} tokens, however you requested ` +
        `${longest + maxTokens} tokens (${longest} in your prompt; ${maxTokens} for the completion). ` +
        `Please reduce your prompt or completion length.`,
      "invalid_request_error",
      p.maxTokens === null ? "prompt" : "max_tokens",
      "context_length_exceeded",
    );
  }
  // best_of > n generates more candidates and keeps the n with the best mean logprob.
  const perPrompt = p.bestOf;
  const wantLogprobs = p.logprobs !== null || perPrompt > p.n;
  const choices: Choice[] = [];
  try {
    prompts.forEach((ids, pi) => {
      for (let j = 0; j < perPrompt; j++) {
        const req: GenerationRequest = {
          prompt: ids,
          maxTokens,
          sampling: samplingOf(p),
          seed: p.seed === null ? randomSeed() : choiceSeed(p.seed, pi * perPrompt + j),
          stopTokens: new Set(tok.eot === undefined ? [] : [tok.eot]),
          logprobs: wantLogprobs ? (p.logprobs ?? 0) : null,
          echoLogprobs: p.echo && wantLogprobs,
        };
        const echoText = p.echo ? tok.decode(ids) : null;
        const builder = new ChoiceBuilder(tok, p.stop, wantLogprobs, echoText);
        choices.push({ builder, seq: engine.submit(req), promptIndex: pi });
      }
    });
  } catch (e) {
    for (const ch of choices) ch.seq.cancelled = true;
    throw e;
  }
  const base = {
    id: `cmpl-${crypto.randomUUID().replace(/-/g, "")}`,
    object: "text_completion" as const,
    created: Math.floor(Date.now() / 1000),
    model: p.model,
  };
  const promptTokens = prompts.reduce((s, ids) => s + ids.length, 0);
  const usage = (completionTokens: number) => ({
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  });
  const finishOf = (ch: Choice, reason: string | null) =>
    ch.builder.stopped || reason === "stop" ? "stop" : "length";

  if (!p.stream) {
    const reasons = await Promise.all(choices.map((ch) => drive(engine, ch)));
    const kept = selectBestOf(choices, p.n, perPrompt);
    const out = kept.map(({ ch, i }) => {
      ch.builder.finish();
      const { text, logprobs } = ch.builder.takeDelta(true);
      return {
        text,
        index: ch.promptIndex * p.n + (i % p.n),
        logprobs: p.logprobs === null ? null : logprobs,
        finish_reason: finishOf(ch, reasons[choices.indexOf(ch)]),
      };
    });
    return c.json({ ...base, choices: out, usage: usage(generatedCount(choices)) });
  }

  return streamSSE(c, async (stream) => {
    stream.onAbort(() => choices.forEach((ch) => (ch.seq.cancelled = true)));
    const nullUsage = p.includeUsage ? { usage: null } : {};
    const send = (ch: Choice, text: string, logprobs: Logprobs | null, finish: string | null) =>
      stream.writeSSE({
        data: JSON.stringify({
          ...base,
          choices: [{ text, index: ch.promptIndex * p.n + (choices.indexOf(ch) % p.n), logprobs, finish_reason: finish }],
          ...nullUsage,
        }),
      });
    await Promise.all(
      choices.map(async (ch) => {
        const reason = await drive(engine, ch, async () => {
          const d = ch.builder.takeDelta(false);
          if (d.text || d.logprobs?.tokens.length) await send(ch, d.text, p.logprobs === null ? null : d.logprobs, null);
        });
        if (ch.seq.cancelled && !ch.builder.stopped) return; // client went away
        ch.builder.finish();
        const d = ch.builder.takeDelta(true);
        await send(ch, d.text, p.logprobs === null ? null : d.logprobs, finishOf(ch, reason));
      }),
    );
    if (p.includeUsage) {
      await stream.writeSSE({
        data: JSON.stringify({ ...base, choices: [], usage: usage(generatedCount(choices)) }),
      });
    }
    await stream.writeSSE({ data: "[DONE]" });
  });
});

/** Run one choice to its end; a stop sequence cancels the sequence at the next step. */
async function drive(engine: Engine, ch: Choice, onDelta?: () => Promise<void>) {
  return engine.run(ch.seq, async (events) => {
    if (ch.builder.push(events)) ch.seq.cancelled = true;
    await onDelta?.();
  });
}

function promptIds(pr: Prompt, index: number, engine: Engine, maxPromptTokens: number): number[] {
  const tok = engine.lm.tokenizer;
  const where = `prompt${index ? `[${index}]` : ""}`;
  let ids: number[];
  if ("ids" in pr) {
    const bad = pr.ids.find((id) => !tok.isValidId(id));
    if (bad !== undefined) {
      throw invalid("prompt", `Invalid token id ${bad} in ${where}: ids must be in [0, ${tok.vocabSize}).`);
    }
    ids = pr.ids;
  } else {
    ids = tok.encode(pr.text);
  }
  if (ids.length === 0) ids = [tok.eot ?? 0]; // an empty prompt starts from <|endoftext|>
  if (ids.length > maxPromptTokens) {
    throw invalid("prompt", `${where} has ${ids.length} tokens; this server accepts at most ${maxPromptTokens}.`, "context_length_exceeded");
  }
  return ids;
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

function generatedCount(choices: Choice[]): number {
  return choices.reduce((s, ch) => s + ch.seq.generated, 0);
}

/** Per prompt, the n candidates with the highest mean token logprob (all of them if best_of = n). */
function selectBestOf(choices: Choice[], n: number, perPrompt: number) {
  const out: { ch: Choice; i: number }[] = [];
  for (let start = 0; start < choices.length; start += perPrompt) {
    const group = choices.slice(start, start + perPrompt);
    const score = (ch: Choice) => {
      const lp = ch.builder.logprobs?.token_logprobs.filter((x): x is number => x !== null) ?? [];
      return lp.length ? lp.reduce((a, b) => a + b, 0) / lp.length : 0;
    };
    const ranked = perPrompt > n ? [...group].sort((a, b) => score(b) - score(a)) : group;
    ranked.slice(0, n).forEach((ch, i) => out.push({ ch, i }));
  }
  return out;
}

