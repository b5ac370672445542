// A JSON answer whose work goes on: after COMMIT_STEPS engine steps the response commits
// (200, application/json) and writes a space every stepsPerWrite engine steps (each step, but
// every few for a small model: write-batch.ts) until the JSON follows. JSON allows whitespace
// before a value, so clients parse the body as usual; and a client that hung up is seen at a
// write (write-watch.ts), where no runtime reports a hang-up before a response starts (wrangler
// dev's proxy does not). The price: an error after the commit (the model failing
// mid-generation, a step cut off) arrives as an OpenAI error body under status 200. Errors
// found before generation (validation, unknown model, limits) keep their status codes.

import type { Context } from "hono";
import type { Generator } from "../engine/generator.js";
import type { AppEnv } from "./context.js";
import { keepAlive } from "./context.js";
import { apiErrorOf } from "./errors.js";
import { stepsPerWrite } from "./write-batch.js";
import { WriteWatch } from "./write-watch.js";

/**
 * Steps of generation answered the ordinary way (a prompt's prefill and a first token): sooner
 * means a hung-up client's slots free sooner, and every error but a late one keeps its status.
 */
export const COMMIT_STEPS = 2;

const SPACE = new Uint8Array([0x20]);

/**
 * Answer `work`'s value as JSON, driving the engine while it runs; `onGone` runs when a committed
 * response's client stops taking bytes (then the body ends without the JSON).
 */
export async function jsonAfterWork(
  c: Context<AppEnv>,
  engine: Generator,
  work: Promise<object>,
  onGone: () => void,
): Promise<Response> {
  let settled = false;
  const result = work.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  const finished = result.then(() => !(settled = true));
  keepAlive(c, result);
  const start = engine.stats.steps;
  let commit = false;
  while (!settled) {
    commit = engine.stats.steps - start >= COMMIT_STEPS;
    if (commit || !(await Promise.race([finished, engine.turn()]))) break;
  }
  if (!commit) {
    const r = await result;
    if ("error" in r) throw r.error;
    return c.json(r.value);
  }
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const watch = new WriteWatch(engine, onGone, c.get("deps").caps.streamStallMs);
  const every = stepsPerWrite(engine.lm.manifest.config);
  const body = (async () => {
    let step = -Infinity; // the engine's step at the last space: the first goes at once
    while (!settled && !watch.check()) {
      if (watch.idle && engine.stats.steps - step >= every) {
        step = engine.stats.steps;
        void watch.track(writer.write(SPACE));
      }
      if (!(await Promise.race([finished, engine.turn()]))) break;
    }
    const r = await result;
    const json = "error" in r ? apiErrorOf(r.error).body() : r.value;
    if (!watch.gone)
      await watch.drive(writer.write(new TextEncoder().encode(JSON.stringify(json))));
    if (watch.gone) await writer.abort(new Error("The client stopped taking the response."));
    else await writer.close();
  })();
  keepAlive(c, body);
  // identity: a compressor (miniflare's gzip, for clients that accept it) would sit on the spaces.
  return c.newResponse(readable, 200, {
    "content-type": "application/json",
    "content-encoding": "identity",
  });
}
