// The official openai npm client, both majors (v7 latest and v4), unchanged against the Worker
// inside workerd: its `fetch` option calls the Worker directly. Completion, streaming with
// usage, n with a seed, logprobs + echo, stop sequences, models, and its typed errors.

import OpenAI from "openai";
import OpenAI4 from "openai4";
import { beforeAll, describe, expect, it } from "vitest";
import { MODEL, seedModel, worker } from "./seed.js";

// The wrapper must be async: v4 calls .finally() on what fetch returns.
const fetchWorker = async (url: RequestInfo | URL, init?: RequestInit) => worker().fetch(url, init);

const options = { baseURL: "http://gpt-edge.test/v1", apiKey: "unused", maxRetries: 0 };
const clients = [
  ["openai v7", () => new OpenAI({ ...options, fetch: fetchWorker })],
  ["openai v4", () => new OpenAI4({ ...options, fetch: fetchWorker as never })],
] as const;

beforeAll(async () => {
  await seedModel();
});

describe.each(clients)("%s", (_name, make) => {
  // Both majors share these calls; typed as v7 (v4's surface is a superset of what is used).
  const client = () => make() as unknown as OpenAI;

  it("Should list the models and retrieve one with its context length", async () => {
    const list = await client().models.list();
    expect(list.data.map((m) => m.id)).toContain(MODEL);
    const model = await client().models.retrieve(MODEL);
    expect(model).toMatchObject({ id: MODEL, object: "model", context_length: 256 });
  });

  it("Should return a completion in OpenAI's shape", async () => {
    const r = await client().completions.create({ model: MODEL, prompt: "ROMEO:", max_tokens: 12 });
    expect(r).toMatchObject({ object: "text_completion", model: MODEL });
    expect(r.id).toMatch(/^cmpl-/);
    expect(r.created).toBeGreaterThan(1_600_000_000);
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]).toMatchObject({ index: 0, logprobs: null });
    expect(["stop", "length"]).toContain(r.choices[0].finish_reason);
    expect(r.usage).toEqual({
      prompt_tokens: 2,
      completion_tokens: expect.any(Number),
      total_tokens: 2 + r.usage!.completion_tokens,
    });
  });

  it("Should stream chunks, finish_reason on the last content chunk, then the usage chunk", async () => {
    const req = { model: MODEL, prompt: "JULIET:", max_tokens: 20, temperature: 0.9, seed: 3 };
    const stream = await client().completions.create({
      ...req,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Completion[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const usageChunk = chunks.pop()!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toMatchObject({ prompt_tokens: 2, total_tokens: expect.any(Number) });
    expect(chunks.length).toBeGreaterThan(1);
    for (const ch of chunks) {
      expect(ch).toMatchObject({ object: "text_completion", id: usageChunk.id, usage: null });
      expect(ch.choices).toHaveLength(1);
    }
    const finishes = chunks.map((ch) => ch.choices[0].finish_reason);
    expect(finishes.slice(0, -1).every((f) => f === null)).toBe(true);
    expect(["stop", "length"]).toContain(finishes.at(-1));
    // The stream says what a plain request with the same seed says.
    const text = chunks.map((ch) => ch.choices[0].text).join("");
    const whole = await client().completions.create(req);
    expect(text).toBe(whole.choices[0].text);
    expect(usageChunk.usage).toEqual(whole.usage);
    expect(finishes.at(-1)).toBe(whole.choices[0].finish_reason);
  });

  it("Should return n: 3 seeded choices, indexed, and the same three again", async () => {
    const req = { model: MODEL, prompt: "KING:", max_tokens: 15, n: 3, seed: 42 };
    const a = await client().completions.create(req);
    const b = await client().completions.create(req);
    expect(a.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(b.choices.map((c) => c.text)).toEqual(a.choices.map((c) => c.text));
    expect(new Set(a.choices.map((c) => c.text)).size).toBeGreaterThan(1);
    expect(a.usage!.completion_tokens).toBe(45);
  });

  it("Should return logprobs with echo: prompt first (null at 0), then the completion", async () => {
    const r = await client().completions.create({
      model: MODEL,
      prompt: "To be, or not",
      max_tokens: 5,
      temperature: 0,
      logprobs: 2,
      echo: true,
    });
    const c = r.choices[0];
    const lp = c.logprobs!;
    expect(c.text.startsWith("To be, or not")).toBe(true);
    expect(lp.tokens!.length).toBe(r.usage!.prompt_tokens + 5);
    expect(lp.tokens!.join("")).toBe(c.text);
    expect(lp.token_logprobs![0]).toBeNull();
    expect(lp.top_logprobs![0]).toBeNull();
    for (let i = 1; i < lp.tokens!.length; i++) {
      const top = lp.top_logprobs![i]!;
      expect(top).toBeTypeOf("object");
      expect(top[lp.tokens![i]]).toBeCloseTo(lp.token_logprobs![i]!, 6); // the token itself
      expect(Object.keys(top).length).toBeLessThanOrEqual(3); // top 2 + the chosen token
      expect(lp.token_logprobs![i]).toBeLessThanOrEqual(0);
      expect(c.text.slice(lp.text_offset![i], lp.text_offset![i] + lp.tokens![i].length)).toBe(
        lp.tokens![i],
      );
    }
  });

  it("Should stop before a stop sequence and say finish_reason stop", async () => {
    const req = { model: MODEL, prompt: "ROMEO:\n", max_tokens: 60, temperature: 0 };
    const free = (await client().completions.create(req)).choices[0].text;
    const stop = free.trim().split(/\s+/)[1]; // the second word of the greedy text
    const r = await client().completions.create({ ...req, stop: [stop, "zzzz"] });
    expect(r.choices[0].finish_reason).toBe("stop");
    expect(r.choices[0].text).toBe(free.slice(0, free.indexOf(stop)));
    expect(r.choices[0].text).not.toContain(stop);
  });

  it("Should throw NotFoundError (404, model_not_found) for an unknown model", async () => {
    const err = await client()
      .completions.create({ model: "gpt-17", prompt: "hi" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ status: 404, code: "model_not_found" });
    expect((err as Error).constructor.name).toBe("NotFoundError");
  });

  it("Should throw BadRequestError (400, param temperature) for temperature 2.5", async () => {
    const err = await client()
      .completions.create({ model: MODEL, prompt: "hi", temperature: 2.5 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, param: "temperature", type: "invalid_request_error" });
    expect((err as Error).constructor.name).toBe("BadRequestError");
  });

  it("Should throw a 400 the client can read for a streamed request with a bad field", async () => {
    const err = await client()
      .completions.create({ model: MODEL, prompt: "hi", stream: true, logprobs: 9 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, param: "logprobs" });
  });
});
