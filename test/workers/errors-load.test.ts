// Load and hang-ups inside workerd: 503 + Retry-After when the engine is saturated, and a
// streaming client that disconnects (or stops reading) stops its generation. The app runs over
// its own registry (one KV slot, a queue of one, a slowed step loop) to watch the engine.

import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import kernels from "../../build/kernels.wasm";
import type { Engine } from "../../src/engine/engine.js";
import { ModelRegistry, type R2Listable } from "../../src/engine/registry.js";
import { registryDeps } from "../../src/routes/context.js";
import { createApp } from "../../src/routes/index.js";
import { MODEL, postRaw, seedModel } from "./seed.js";

const registry = new ModelRegistry((env as unknown as { WEIGHTS: R2Bucket & R2Listable }).WEIGHTS, {
  kernels,
  budgetBytes: 112 * 1024 * 1024,
  slots: 1,
  // A step every 5 ms: a 200-token generation takes a second, long enough to watch.
  engine: { maxQueue: 1, prefillChunk: 64, yieldFn: () => new Promise((r) => setTimeout(r, 5)) },
});
const deps = registryDeps(registry, {
  maxN: 16,
  maxTokens: 4096,
  maxPromptTokens: 4096,
  maxChoices: 64,
  maxBodyBytes: 1 << 20,
  maxTokenizeChars: 1 << 17,
  maxTokenizeTokens: 1 << 15,
  maxResponseBytes: 1 << 21,
  streamStallMs: 300,
});
const app = createApp(() => deps);
let engine: Engine;

const complete = (body: Record<string, unknown>) =>
  postRaw("/v1/completions", { model: MODEL, ...body }, { to: (req) => app.fetch(req) });

const until = async (cond: () => boolean, ms = 2000) => {
  for (const t0 = Date.now(); !cond() && Date.now() - t0 < ms;)
    await new Promise((r) => setTimeout(r, 5));
  return cond();
};

beforeAll(async () => {
  await seedModel();
  engine = await registry.get(MODEL);
});

describe("Saturation and disconnects", () => {
  it("Should return 503 with Retry-After when every slot and queue place is taken", async () => {
    // Two sequences: one in the only slot, one in the only queue place.
    const busy = await complete({ prompt: "ROMEO:", max_tokens: 200, n: 2, stream: true });
    const reader = busy.body!.getReader();
    await reader.read();
    expect(engine.load).toBe(2);
    const res = await complete({ prompt: "hi", max_tokens: 1 });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    const body = (await res.json()) as any;
    expect(body.error).toMatchObject({
      type: "service_unavailable",
      code: "overloaded",
      param: null,
    });
    await reader.cancel();
    expect(await until(() => engine.load === 0)).toBe(true);
  });

  it("Should stop generating when a streaming client disconnects", async () => {
    const before = engine.stats.steps;
    const res = await complete({ prompt: "JULIET:", max_tokens: 200, stream: true });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    expect(engine.load).toBe(1);
    await reader.cancel();
    expect(await until(() => engine.load === 0, 500)).toBe(true);
    const steps = engine.stats.steps;
    await new Promise((r) => setTimeout(r, 50));
    expect(engine.stats.steps).toBe(steps); // nothing left running
    // Far from 200 tokens were generated, and the slot serves the next request at once.
    expect(steps - before).toBeLessThan(100);
    const next = await complete({ prompt: "hi", max_tokens: 2 });
    expect(next.status).toBe(200);
  });

  it("Should stop generating for a client that stops reading (STREAM_STALL_MS)", async () => {
    const before = engine.stats.steps;
    const res = await complete({ prompt: "KING:", max_tokens: 200, stream: true, logprobs: 5 });
    expect(res.status).toBe(200); // the body is never read: writes back up, then time out
    expect(engine.load).toBe(1);
    expect(await until(() => engine.load === 0, 2000)).toBe(true);
    expect(engine.stats.steps - before).toBeLessThan(150);
    await res.body!.cancel();
  });
});
