// The Worker inside workerd with a real local R2 binding: models listing, completions,
// determinism, and OpenAI-shaped errors.

import { beforeAll, describe, expect, it } from "vitest";
import { flopsPerToken, MAX_ROUND_STEPS, ROUND_FLOPS } from "../../src/engine/engine.js";
import type { Manifest } from "../../src/model/manifest.js";
import { COMMIT_STEPS } from "../../src/routes/json-keepalive.js";
import { stepsPerWrite } from "../../src/routes/write-batch.js";
import { MODEL, seedModel, worker, post, postRaw } from "./seed.js";

async function complete(body: Record<string, unknown>) {
  const r = await post("/v1/completions", { model: MODEL, ...body });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json;
}

let manifest: Manifest;

beforeAll(async () => {
  const { files } = await seedModel();
  const m = files.find((f) => f.file === "manifest.json")!;
  manifest = JSON.parse(new TextDecoder().decode(m.bytes));
});

describe("GET /v1/models", () => {
  it("Should list the model in R2 with its context length", async () => {
    const res = await worker().fetch("http://gpt-edge.test/v1/models");
    const body = (await res.json()) as any;
    expect(body.object).toBe("list");
    expect(body.data).toEqual([
      expect.objectContaining({ id: MODEL, object: "model", context_length: 256 }),
    ]);
  });

  it("Should return 404 model_not_found for an unknown model id", async () => {
    const res = await worker().fetch("http://gpt-edge.test/v1/models/nope");
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe("model_not_found");
  });
});

describe("POST /v1/completions", () => {
  it("Should return an OpenAI text_completion with usage", async () => {
    const body = await complete({ prompt: "ROMEO:", max_tokens: 40, temperature: 0.8 });
    expect(body).toMatchObject({ object: "text_completion", model: MODEL });
    expect(body.id).toMatch(/^cmpl-/);
    expect(body.choices).toHaveLength(1);
    expect(body.choices[0]).toMatchObject({ index: 0, logprobs: null });
    expect(["stop", "length"]).toContain(body.choices[0].finish_reason);
    expect(body.choices[0].text.length).toBeGreaterThan(0);
    expect(body.usage.prompt_tokens).toBe(2); // "ROMEO" ":" in this vocabulary
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
  });

  it("Should generate the same 50 greedy tokens twice", async () => {
    const a = await complete({ prompt: "JULIET:\n", max_tokens: 50, temperature: 0 });
    const b = await complete({ prompt: "JULIET:\n", max_tokens: 50, temperature: 0 });
    expect(a.usage.completion_tokens).toBe(50);
    expect(b.choices[0].text).toBe(a.choices[0].text);
  });

  it("Should repeat a seeded sampled generation and differ with another seed", async () => {
    const req = {
      prompt: "KING HENRY:",
      max_tokens: 40,
      temperature: 1,
      top_k: 50,
      top_p: 0.95,
      seed: 7,
    };
    const a = await complete(req);
    const b = await complete(req);
    const c = await complete({ ...req, seed: 8 });
    expect(b.choices[0].text).toBe(a.choices[0].text);
    expect(c.choices[0].text).not.toBe(a.choices[0].text);
  });

  it("Should return 404 model_not_found for an unknown model", async () => {
    const r = await post("/v1/completions", { model: "gpt-17", prompt: "hi" });
    expect(r.status).toBe(404);
    expect(r.json.error).toMatchObject({ code: "model_not_found", type: "invalid_request_error" });
  });

  it("Should return 400 naming temperature when it is out of range", async () => {
    const r = await post("/v1/completions", { model: MODEL, prompt: "hi", temperature: 3 });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ param: "temperature", type: "invalid_request_error" });
    expect(Object.keys(r.json.error).sort()).toEqual(["code", "message", "param", "type"]);
  });

  it("Should return 400 context_length_exceeded when prompt + max_tokens is past the context", async () => {
    const r = await post("/v1/completions", { model: MODEL, prompt: "hi", max_tokens: 300 });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("context_length_exceeded");
  });

  it("Should return 400 for malformed JSON and keep serving", async () => {
    expect((await post("/v1/completions", "{not json")).status).toBe(400);
    await complete({ prompt: "A", max_tokens: 1 });
  });
});

describe("POST /v1/completions, a long non-streaming generation", () => {
  it("Should commit early and send spaces before the JSON, which still parses", async () => {
    const res = await postRaw("/v1/completions", {
      model: MODEL,
      prompt: "ROMEO:",
      max_tokens: 60,
      n: 4,
      ignore_eos: true,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("content-encoding")).toBe("identity");
    const text = await res.text();
    // after COMMIT_STEPS, a space at the first turn at least stepsPerWrite engine steps after the
    // last: the 4 choices decode as 4 rows a step, in rounds of as many steps as ROUND_FLOPS
    // holds (engine.ts), so a space every whole number of rounds
    const every = stepsPerWrite(manifest.config);
    const perRound = Math.min(
      MAX_ROUND_STEPS,
      Math.floor(ROUND_FLOPS / flopsPerToken(manifest.config) / 4),
    );
    const spacing = Math.ceil(every / perRound) * perRound;
    const spaces = text.length - text.trimStart().length;
    expect(spaces).toBeGreaterThanOrEqual(Math.floor((60 - COMMIT_STEPS) / spacing) - 1);
    expect(spaces).toBeLessThanOrEqual(Math.ceil(60 / every) + 1);
    expect(text.trimStart()).toMatch(/^\{/);
    const body = JSON.parse(text);
    expect(body.choices).toHaveLength(4);
    expect(body.usage.completion_tokens).toBe(240);
  });

  it("Should answer a short generation at once, without leading spaces", async () => {
    const res = await postRaw("/v1/completions", { model: MODEL, prompt: "A", max_tokens: 1 });
    expect(res.headers.get("content-encoding")).toBeNull();
    expect(await res.text()).toMatch(/^\{/);
  });
});
