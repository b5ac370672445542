// POST /v1/completions: OpenAI's legacy Completions API over the engine, as one JSON body or
// (completions-stream.ts) as data-only server-sent events ending in `data: [DONE]`.

import { Hono } from "hono";
import type { CompletionChoice } from "./choice.js";
import { parseCompletionParams } from "./completion-params.js";
import {
  cancelAll,
  completionTokens,
  driveAll,
  finishReason,
  promptIdsOf,
  selectBestOf,
  submitChoices,
  type Choice,
} from "./completion-run.js";
import { streamCompletion } from "./completions-stream.js";
import { keepAlive, readJson, type AppEnv } from "./context.js";
import { chargeTokens } from "./rate-limit.js";

export const completions = new Hono<AppEnv>().post("/completions", async (c) => {
  const deps = c.get("deps");
  const p = parseCompletionParams(await readJson(c), deps.caps);
  const engine = await deps.engine(p.model);
  const { prompts, maxTokens } = promptIdsOf(p, engine, deps.caps.maxPromptTokens);
  await chargeTokens(c, prompts.length * p.bestOf * maxTokens); // 429 past the token limit
  const choices = submitChoices(p, engine, prompts, maxTokens);
  const promptTokens = prompts.reduce((s, ids) => s + ids.length, 0);
  const head = {
    id: `cmpl-${crypto.randomUUID().replace(/-/g, "")}`,
    object: "text_completion" as const,
    created: Math.floor(Date.now() / 1000),
    model: p.model,
  };
  const usage = () => {
    // Every candidate counts, best_of ones too: they were all generated.
    const completion = choices.reduce((s, ch) => s + completionTokens(ch), 0);
    return {
      prompt_tokens: promptTokens,
      completion_tokens: completion,
      total_tokens: promptTokens + completion,
    };
  };
  if (p.stream) return streamCompletion(c, { p, engine, choices, head, usage });

  // A client that hangs up stops the generation where the runtime reports it (request.signal);
  // elsewhere the generation at least runs to its end rather than being dropped mid-step.
  const abort = () => cancelAll(choices);
  c.req.raw.signal?.addEventListener("abort", abort);
  const driven = driveAll(engine, choices);
  keepAlive(c, driven);
  try {
    await driven;
  } finally {
    c.req.raw.signal?.removeEventListener("abort", abort);
  }
  const out = selectBestOf(choices, p.n, p.bestOf).map((ch: Choice): CompletionChoice => {
    ch.builder.finish();
    const { text, logprobs } = ch.builder.takeDelta(true);
    return {
      text,
      index: ch.index,
      logprobs: p.logprobs === null ? null : logprobs,
      finish_reason: finishReason(ch),
    };
  });
  return c.json({ ...head, choices: out, usage: usage() });
});
