// POST /v1/completions: OpenAI's legacy Completions API over the engine, as one JSON body or
// (completions-stream.ts) as data-only server-sent events ending in `data: [DONE]`. The work is
// in src/completion/: this file parses, starts, and answers.

import { Hono } from "hono";
import { promptIdsOf } from "../completion/request.js";
import { cancelAll, completeAll, startCompletion, usageOf } from "../completion/run.js";
import { parseCompletionParams } from "./completion-params.js";
import { streamCompletion } from "./completions-stream.js";
import { readJson, type AppEnv } from "./context.js";
import { jsonAfterWork } from "./json-keepalive.js";
import { chargeTokens } from "./rate-limit.js";

export const completions = new Hono<AppEnv>().post("/completions", async (c) => {
  const deps = c.get("deps");
  const p = parseCompletionParams(await readJson(c), deps.caps);
  let engine = await deps.engine(p.model);
  // Tokenize and fit the prompts (a 400 if they do not fit), charge their tokens and the tokens
  // they may generate (429 past the token limit), then start every sequence.
  let fitted = promptIdsOf(p, engine, deps.caps.maxPromptTokens);
  const promptTokens = fitted.prompts.reduce((n, ids) => n + ids.length, 0);
  if (await chargeTokens(c, promptTokens + fitted.prompts.length * p.bestOf * fitted.maxTokens)) {
    // The limiter was asked: while it answered, the engine (idle: nothing of this request is in
    // it yet) may have been evicted for another model's load. Start on what serves it now.
    const now = await deps.engine(p.model);
    if (now !== engine) [engine, fitted] = [now, promptIdsOf(p, now, deps.caps.maxPromptTokens)];
  }
  const completion = startCompletion(p, engine, fitted);
  // A staged model's first stage answers whether it took them (a 503 here if not).
  await engine.accepted?.(completion.choices.map((ch) => ch.seq));
  const head = {
    id: `cmpl-${crypto.randomUUID().replace(/-/g, "")}`,
    object: "text_completion" as const,
    created: Math.floor(Date.now() / 1000),
    model: p.model,
  };
  if (p.stream) return streamCompletion(c, { p, engine, completion, head });

  // A client that hangs up stops the generation: where the runtime reports it (request.signal),
  // and where a long generation's committed body finds its writes stalled (json-keepalive.ts).
  const abort = () => cancelAll(completion.choices);
  const signal = c.req.raw.signal;
  signal?.addEventListener("abort", abort);
  if (signal?.aborted) abort(); // gone while the body was read or the model loaded
  const done = completeAll(engine, completion, p).then((choices) => ({
    ...head,
    choices,
    usage: usageOf(completion),
  }));
  done.finally(() => signal?.removeEventListener("abort", abort)).catch(() => {});
  return jsonAfterWork(c, engine, done, abort);
});
