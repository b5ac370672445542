// A staged model served by the gateway through a pipeline of two Durable Object stages, each
// its own Worker script (auxiliary workers running build/stage/index.js), inside workerd: the
// same greedy text as the unstaged model token for token, plain and streamed, alone and at
// once; a cancelled stream freed in every stage; a stage evicted mid-generation recovered.

import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import stagedPack from "../../build/test/tiny-2stage.bin";
import { replicaObject } from "../../src/stage/names.js";
import { STAGED_MODEL } from "../setup/paths.js";
import { MODEL, post, postRaw, seedModel, seedPack, send } from "../workers/seed.js";

/** Stage 1's objects: tests evict the replica's object as the platform would. */
const stage1 = () =>
  (env as unknown as { STAGE_1_TEST: DurableObjectNamespace }).STAGE_1_TEST as unknown as {
    idFromName(name: string): DurableObjectId;
    get(id: DurableObjectId): { evict(): Promise<void> };
  };

beforeAll(async () => {
  await seedModel();
  await seedPack(stagedPack, STAGED_MODEL);
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

/** The staged model's stages as GET /v1/status shows them (after it has been served once). */
async function stages(): Promise<{ stage: number; used: number; loaded: boolean }[]> {
  const { json } = await send("/v1/status");
  return json.models.find((m: { id: string }) => m.id === STAGED_MODEL).stages;
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

  it("Should give the same text to concurrent requests, with n > 1", async () => {
    const reqs = PROMPTS.map((p, i) => greedy(p, { n: 2, stream: i % 2 === 1, max_tokens: 32 }));
    const want = [];
    for (const r of reqs) want.push(await texts(MODEL, { ...r, stream: false }));
    const got = await Promise.all(reqs.map((r) => texts(STAGED_MODEL, r)));
    expect(got).toEqual(want);
    expect(got[0][0]).toBe(got[0][1]); // greedy: both choices alike
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
    const ns = stage1();
    await ns
      .get(ns.idFromName(replicaObject("default")))
      .evict()
      .catch(() => {}); // the eviction fails the call that asked for it
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

  it("Should answer /v1/inspect for a staged model with a 400 naming the model", async () => {
    const r = await post("/v1/inspect", { model: STAGED_MODEL, prompt: "ROMEO:" });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ param: "model", code: "unsupported_model" });
  });
});
