// A staged model served by the gateway through a pipeline of two Durable Object stages, each
// its own Worker script (auxiliary workers running build/stage/index.js), inside workerd: the
// same greedy text as the unstaged model token for token, plain and streamed, alone and at
// once; a cancelled stream freed in every stage; a stage evicted mid-generation recovered.

import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import stagedPack from "../../build/test/tiny-2stage.bin";
import { gatewayBinding, replicaObject } from "../../src/stage/names.js";
import { sseJson } from "../helpers/sse.js";
import { STAGED_MODEL } from "../setup/paths.js";
import type { Manifest, ModelConfig } from "../../src/model/manifest.js";
import { stepsPerWrite } from "../../src/routes/write-batch.js";
import { bucket, MODEL, post, postRaw, seedModel, seedPack, send } from "../workers/seed.js";

let stagedConfig: ModelConfig;

/**
 * Evict stage i's object of the replica as the platform would (stage 1 is bound for tests as
 * STAGE_1_TEST, stage 0 is the gateway's binding); the call that asks for it fails.
 */
async function evict(i: 0 | 1): Promise<void> {
  const name = i === 0 ? gatewayBinding(STAGED_MODEL) : "STAGE_1_TEST";
  const ns = (env as unknown as Record<string, DurableObjectNamespace>)[name];
  const stub = ns.getByName(replicaObject("default")) as unknown as { evict(): Promise<void> };
  await stub.evict().catch(() => {});
}

beforeAll(async () => {
  await seedModel();
  const { files } = await seedPack(stagedPack, STAGED_MODEL);
  const m = files.find((f) => f.file === "manifest.json")!;
  stagedConfig = (JSON.parse(new TextDecoder().decode(m.bytes)) as Manifest).config;
});

/** A completion's choice texts, from JSON or by joining each choice's SSE chunks. */
async function texts(model: string, body: Record<string, unknown>): Promise<string[]> {
  const res = await postRaw("/v1/completions", { model, ...body });
  const raw = await res.text();
  expect(res.status, raw).toBe(200);
  if (!body.stream) return JSON.parse(raw).choices.map((c: { text: string }) => c.text);
  const events = raw.split("\n\n").filter((e) => e.startsWith("data: "));
  expect(events.at(-1)).toBe("data: [DONE]");
  const out: string[] = [];
  for (const e of events.slice(0, -1)) {
    const c = JSON.parse(e.slice(6)).choices[0];
    out[c.index] = (out[c.index] ?? "") + c.text;
  }
  return out;
}

/** The default replica's stages as GET /v1/status shows them (after it has been served once). */
async function stages(): Promise<{ stage: number; used: number; loaded: boolean }[]> {
  const { json } = await send("/v1/status");
  const model = json.models.find((m: { id: string }) => m.id === STAGED_MODEL);
  return model.replicas.find((r: { replica: string }) => r.replica === "default").stages;
}

const PROMPTS = ["ROMEO:", "JULIET:\nO Romeo, Romeo!", "First Citizen:\nSpeak, speak.", "A"];
const greedy = (prompt: string, extra: object = {}) => ({
  prompt,
  max_tokens: 24,
  temperature: 0,
  ...extra,
});

describe("A model cut into 2 stages (Durable Objects in their own scripts)", () => {
  it("Should give the unstaged model's greedy text for several prompts, plain and streamed", async () => {
    for (const prompt of PROMPTS) {
      const want = await texts(MODEL, greedy(prompt));
      expect(await texts(STAGED_MODEL, greedy(prompt))).toEqual(want);
      expect(await texts(STAGED_MODEL, greedy(prompt, { stream: true }))).toEqual(want);
    }
  });

  it("Should give the unstaged model's echo and logprobs, number for number", async () => {
    const body = { prompt: PROMPTS[1], max_tokens: 6, temperature: 0, logprobs: 3, echo: true };
    const [want, got] = await Promise.all(
      [MODEL, STAGED_MODEL].map((model) => post("/v1/completions", { model, ...body })),
    );
    expect(got.status).toBe(200);
    expect(got.json.choices).toEqual(want.json.choices);
    expect(got.json.choices[0].logprobs.token_logprobs.length).toBeGreaterThan(6);
  });

  it("Should give the same text to concurrent requests, with n > 1", async () => {
    const reqs = PROMPTS.map((p, i) => greedy(p, { n: 2, stream: i % 2 === 1, max_tokens: 32 }));
    const want = [];
    for (const r of reqs) want.push(await texts(MODEL, { ...r, stream: false }));
    const got = await Promise.all(reqs.map((r) => texts(STAGED_MODEL, r)));
    expect(got).toEqual(want);
    expect(got[0][0]).toBe(got[0][1]); // greedy: both choices alike
  });

  it("Should give 8 concurrent seeded sampled requests the unstaged model's text each", async () => {
    const reqs = Array.from({ length: 8 }, (_, i) => ({
      prompt: PROMPTS[i % PROMPTS.length],
      max_tokens: 24,
      temperature: 0.9,
      top_p: 0.95,
      seed: 1000 + i,
      stream: i % 2 === 0,
    }));
    const alone = [];
    for (const r of reqs) alone.push(await texts(MODEL, r));
    expect(await Promise.all(reqs.map((r) => texts(STAGED_MODEL, r)))).toEqual(alone);
  });

  it("Should decode 4 concurrent streams together, not one after another", async () => {
    // Here every stage object runs on workerd's one thread, as under wrangler dev: a step's trip
    // down the stages ends before another starts, and a step's share of the decoding sequences
    // went to the same ones while they lasted (the 4th stream's second token after the 1st's 40th).
    const N = 40;
    const got = Array.from({ length: 4 }, () => 0);
    let whenFirstDone: number[] | null = null;
    const stream = async (prompt: string, i: number) => {
      const res = await postRaw("/v1/completions", {
        model: STAGED_MODEL,
        ...greedy(prompt, { max_tokens: N, stream: true, ignore_eos: true, logprobs: 0 }),
      });
      expect(res.status).toBe(200);
      for await (const chunk of sseJson(res.body!)) {
        got[i] += chunk.choices[0].logprobs.tokens.length;
        if (got[i] === N) whenFirstDone ??= got.slice();
      }
    };
    await Promise.all(PROMPTS.map(stream));
    expect(got).toEqual([N, N, N, N]);
    // every stream within a few tokens of the first to finish (prompts of unequal length start
    // them a step or two apart), as the client sees them: a small model's events share writes,
    // up to stepsPerWrite - 1 of them not yet sent (src/routes/write-batch.ts)
    const lag = stepsPerWrite(stagedConfig) - 1;
    expect(Math.min(...whenFirstDone!), `${whenFirstDone}`).toBeGreaterThanOrEqual(N - 6 - lag);
  });

  it("Should show every stage's memory plan and slots in /v1/status", async () => {
    await texts(STAGED_MODEL, greedy("A", { max_tokens: 2 }));
    const list = await stages();
    expect(list.map((s) => s.stage)).toEqual([0, 1]);
    for (const s of list) {
      expect(s).toMatchObject({ loaded: true, slots: 4, used: 0 });
      expect((s as any).memory_bytes).toBeLessThanOrEqual(112 * 2 ** 20);
    }
    expect((list[0] as any).hops[0]).toMatchObject({ stage: 1 });
    expect((list[0] as any).hops[0].calls).toBeGreaterThan(0);
  });

  it("Should free a cancelled stream's slots in every stage", async () => {
    const res = await postRaw("/v1/completions", {
      model: STAGED_MODEL,
      ...greedy("ROMEO:", { max_tokens: 200, stream: true, ignore_eos: true }),
    });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    expect((await stages()).map((s) => s.used)).toEqual([1, 1]);
    await reader.cancel();
    let used: number[] = [];
    for (let i = 0; i < 100; i++) {
      used = (await stages()).map((s) => s.used);
      if (used.every((u) => u === 0)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(used).toEqual([0, 0]);
  });

  it("Should recover a stage evicted mid-generation by re-prefilling it, with the same text", async () => {
    const body = greedy(PROMPTS[1], { max_tokens: 60, stream: true, ignore_eos: true });
    const want = (await texts(MODEL, { ...body, stream: false }))[0];
    const res = await postRaw("/v1/completions", { model: STAGED_MODEL, ...body });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let raw = "";
    for (let i = 0; i < 4; i++) raw += decoder.decode((await reader.read()).value);
    await evict(1);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      raw += decoder.decode(value);
    }
    const events = raw.split("\n\n").filter((e) => e.startsWith("data: "));
    expect(events.at(-1)).toBe("data: [DONE]");
    const text = events
      .slice(0, -1)
      .map((e) => JSON.parse(e.slice(6)).choices[0].text)
      .join("");
    expect(text).toBe(want);
    expect((await stages())[0]).toMatchObject({ replays: 1 });
  });

  it("Should keep the first stage's weights while a later stage fails to load, then serve", async () => {
    const key = `models/${STAGED_MODEL}/shard-001.bin`; // stage 1's only shard
    const original = new Uint8Array(await (await bucket().get(key))!.arrayBuffer());
    const bad = original.slice();
    bad[100] ^= 0xff; // its sha256 no longer matches: stage 1's load fails, every try
    await bucket().put(key, bad);
    await evict(0);
    await evict(1);
    const r = await post("/v1/completions", { model: STAGED_MODEL, prompt: "A", max_tokens: 4 });
    expect(r.status).toBe(503);
    await bucket().put(key, original);
    expect(await texts(STAGED_MODEL, greedy("A"))).toEqual(await texts(MODEL, greedy("A")));
    // Stage 0 loaded its own shards once: the failed warm-up did not drop them.
    expect((await stages())[0]).toMatchObject({ loaded: true, loads: 1 });
  });

  it("Should never run two uploads' stages together: a re-upload reloads whichever is stale", async () => {
    const key = (f: string) => `models/${STAGED_MODEL}/${f}`;
    const get = async (f: string) =>
      new Uint8Array(await (await bucket().get(key(f)))!.arrayBuffer());
    const sha = async (b: Uint8Array) =>
      Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", b)), (x) =>
        x.toString(16).padStart(2, "0"),
      ).join("");
    const manifestA = await (await bucket().get(key("manifest.json")))!.text();
    const m = JSON.parse(manifestA) as Manifest;
    // Upload B: one MLP projection zeroed in each stage (h.1 in stage 0, h.3 in stage 1).
    const A: Record<string, Uint8Array> = {};
    const B: Record<string, Uint8Array> = {};
    for (const name of ["h.1.mlp.c_proj.weight", "h.3.mlp.c_proj.weight"]) {
      const t = m.tensors.find((x) => x.name === name)!;
      const i = m.shards.findIndex((s) => s.offset <= t.offset && t.offset < s.offset + s.bytes);
      const s = m.shards[i];
      A[s.file] = await get(s.file);
      B[s.file] = A[s.file].slice();
      B[s.file].fill(0, t.offset - s.offset, t.offset - s.offset + t.bytes);
      m.shards[i] = { ...s, sha256: await sha(B[s.file]) };
    }
    const put = async (files: Record<string, Uint8Array>, manifest: string) => {
      for (const [f, bytes] of Object.entries(files)) await bucket().put(key(f), bytes);
      await bucket().put(key("manifest.json"), manifest);
    };
    const textA = await texts(MODEL, greedy(PROMPTS[1]));
    try {
      expect(await texts(STAGED_MODEL, greedy(PROMPTS[1]))).toEqual(textA); // both hold A
      await put(B, JSON.stringify(m));
      // Stage 1 comes back with B while stage 0 keeps A: neither may run with the other.
      await evict(1);
      const r = await post("/v1/completions", { model: STAGED_MODEL, ...greedy(PROMPTS[1]) });
      expect(r.status, JSON.stringify(r.json)).toBe(503);
      expect(r.json.error).toMatchObject({ code: "weights_changed", type: "service_unavailable" });
      expect(r.headers.get("retry-after")).toBe("1");
      // The retry finds stage 0 reloaded: B whole, as both stages give it when loaded afresh.
      const textB = await texts(STAGED_MODEL, greedy(PROMPTS[1]));
      expect(textB).not.toEqual(textA);
      await evict(0);
      await evict(1);
      expect(await texts(STAGED_MODEL, greedy(PROMPTS[1]))).toEqual(textB);
      // Back to A, and stage 0 comes back first: stage 1 is the stale one, and reloads itself.
      await put(A, manifestA);
      await evict(0);
      expect(await texts(STAGED_MODEL, greedy(PROMPTS[1]))).toEqual(textA);
      expect((await stages())[1]).toMatchObject({ loaded: true, loads: 2 });
    } finally {
      await put(A, manifestA);
      await evict(0);
      await evict(1);
    }
  });

  it("Should answer 503 stage_over_budget while a stage does not fit, then serve once it does", async () => {
    const key = `models/${STAGED_MODEL}/manifest.json`;
    const original = await (await bucket().get(key))!.text();
    const m = JSON.parse(original);
    m.stages.slots = 4096; // 4 GiB of KV cache per stage
    await bucket().put(key, JSON.stringify(m));
    await evict(0); // both come back empty and load the new plan
    await evict(1);
    const r = await post("/v1/completions", { model: STAGED_MODEL, prompt: "A", max_tokens: 4 });
    expect(r.status).toBe(503);
    expect(r.json.error).toMatchObject({ code: "stage_over_budget", param: "model" });
    expect(r.json.error.message).toMatch(/does not fit its isolate/);
    expect(r.headers.get("x-should-retry")).toBe("false");
    await bucket().put(key, original);
    expect(await texts(STAGED_MODEL, greedy("A"))).toEqual(await texts(MODEL, greedy("A")));
  });

  it("Should answer 503 naming the binding for a staged model this gateway has no stages for", async () => {
    const { files } = await seedPack(stagedPack, "tiny-unbound");
    const manifest = JSON.parse(
      new TextDecoder().decode(files.find((f) => f.file === "manifest.json")!.bytes),
    );
    await bucket().put(
      "models/tiny-unbound/manifest.json",
      JSON.stringify({ ...manifest, name: "tiny-unbound" }),
    );
    const r = await post("/v1/completions", { model: "tiny-unbound", prompt: "A" });
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe("model_load_failed");
    expect(r.json.error.message).toContain(gatewayBinding("tiny-unbound"));
  });

  it("Should answer /v1/inspect for a staged model with a 400 naming the model", async () => {
    const r = await post("/v1/inspect", { model: STAGED_MODEL, prompt: "ROMEO:" });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ param: "model", code: "unsupported_model" });
  });
});
