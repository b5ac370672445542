// Per-client rate limits inside workerd through miniflare's simulation of the Rate Limiting
// binding (vitest.config.mts: TEST_REQUEST_LIMITER 3 and TEST_TOKEN_LIMITER 4 per 10 s): a client
// past its limit gets 429 in OpenAI's shape with Retry-After while another key is still served,
// and the openai client's own retry waits for the window and then succeeds.

import { env as baseEnv } from "cloudflare:workers";
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import worker, { type Env } from "../../src/index.js";
import type { Limiter } from "../../src/routes/rate-limit.js";
import { MODEL, seedModel } from "./seed.js";

const base = baseEnv as unknown as Env & Record<string, Limiter>;
const KEYS = ["sk-a", "sk-b", "sk-c", "sk-d", "sk-e", "sk-f", "sk-g", "sk-h"];
const common = { ...base, API_KEYS: KEYS.join(","), RATE_LIMIT_PERIOD: "10" };
/** 3 requests per 10 s per key; tokens unlimited. */
const requests: Env = {
  ...common,
  REQUEST_LIMITER: base.TEST_REQUEST_LIMITER,
  TOKEN_LIMITER: undefined,
};
/** 4 units of 8 tokens (32 tokens) per 10 s per key; requests unlimited. */
const tokens: Env = {
  ...common,
  REQUEST_LIMITER: undefined,
  TOKEN_LIMITER: base.TEST_TOKEN_LIMITER,
  RATE_LIMIT_TOKEN_UNIT: "8",
};

async function complete(key: string, e: Env, maxTokens = 1, extra: object = {}) {
  const res = await worker.fetch(
    new Request("http://gpt-edge.test/v1/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: [20], max_tokens: maxTokens, ...extra }),
    }),
    e,
  );
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

/** The simulation counts in fixed 10 s windows: start a test early in one, so it stays inside. */
async function freshWindow(): Promise<void> {
  const left = 10_000 - (Date.now() % 10_000);
  if (left < 4000) await new Promise((r) => setTimeout(r, left + 50));
}

function expect429(r: { status: number; headers: Headers; json: any }, type: string) {
  expect(r.status).toBe(429);
  expect(r.json.error).toMatchObject({ type, param: null, code: "rate_limit_exceeded" });
  const after = Number(r.headers.get("retry-after"));
  expect(after).toBeGreaterThanOrEqual(1);
  expect(after).toBeLessThanOrEqual(10);
}

beforeAll(async () => {
  expect(base.TEST_REQUEST_LIMITER, "the test limiters are configured").toBeDefined();
  await seedModel();
});

describe("Rate limits", () => {
  it("Should answer 429 `requests` past the request limit while another key is served", async () => {
    await freshWindow();
    for (let i = 0; i < 3; i++) expect((await complete("sk-a", requests)).status).toBe(200);
    expect429(await complete("sk-a", requests), "requests");
    expect((await complete("sk-b", requests)).status).toBe(200);
    expect429(await complete("sk-a", requests), "requests");
  });

  it("Should charge prompt tokens + sequences × max_tokens against the token limit, in units", async () => {
    await freshWindow();
    // 1 prompt token + 15 = 2 units of 8: two requests fit the 4 units, the third does not.
    expect((await complete("sk-c", tokens, 15)).status).toBe(200);
    expect((await complete("sk-c", tokens, 15)).status).toBe(200);
    expect429(await complete("sk-c", tokens, 15), "tokens");
    // Another key has its own budget, but no request may reserve more than all of it.
    expect429(await complete("sk-d", tokens, 32), "tokens");
    expect((await complete("sk-e", tokens, 31)).status).toBe(200);
  });

  it("Should charge the prompts a scoring request reads (echo, max_tokens 0)", async () => {
    await freshWindow();
    // Two prompts of 12 tokens, scored once each (n does not repeat them): 24 tokens, 3 units.
    const ids = Array.from({ length: 12 }, (_, i) => 20 + i);
    const score = { prompt: [ids, ids], echo: true, logprobs: 0, n: 2 };
    const first = await complete("sk-g", tokens, 0, score);
    expect(first.status).toBe(200);
    expect(first.json.choices).toHaveLength(4);
    expect429(await complete("sk-g", tokens, 0, score), "tokens");
    // 33 prompt tokens pass the whole budget.
    const long = { prompt: Array.from({ length: 33 }, (_, i) => 20 + i), echo: true };
    expect429(await complete("sk-h", tokens, 0, long), "tokens");
  });

  it("Should let the openai client see RateLimitError, and retry past it after Retry-After", async () => {
    await freshWindow();
    const statuses: number[] = [];
    const fetch = async (url: RequestInfo | URL, init?: RequestInit) => {
      const res = await worker.fetch(new Request(url, init), requests);
      statuses.push(res.status);
      return res;
    };
    const client = (maxRetries: number) =>
      new OpenAI({ baseURL: "http://gpt-edge.test/v1", apiKey: "sk-f", maxRetries, fetch });
    const create = (c: OpenAI) =>
      c.completions.create({ model: MODEL, prompt: "ROMEO:", max_tokens: 1 });
    for (let i = 0; i < 3; i++) await create(client(0));
    const err = await create(client(0)).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err).toMatchObject({ status: 429, code: "rate_limit_exceeded", type: "requests" });
    // With one retry allowed, the client waits out the window (Retry-After) and gets through.
    statuses.length = 0;
    const r = await create(client(1));
    expect(r.choices).toHaveLength(1);
    expect(statuses).toEqual([429, 200]);
  });
});
