// Every way a client can get it wrong, inside workerd: OpenAI-shaped 400s naming the field,
// 401 with API keys, 413, the env-configured caps, CORS for browser clients, and no 500s for
// anything a client sends. The Worker runs with its own env (keys and small caps) here.

import { env as baseEnv } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker, { type Env } from "../../src/index.js";
import { MODEL, post as postTo, seedModel, send, type Fetcher } from "./seed.js";
import { OPTIONAL_FIELDS } from "../helpers/completion-fields.js";

const KEYS = ["sk-first", "sk-second"];
const env: Env = {
  ...(baseEnv as unknown as Env),
  API_KEYS: ` ${KEYS[0]} ,${KEYS[1]}`,
  MAX_N: "4",
  MAX_TOKENS: "50",
  MAX_PROMPT_TOKENS: "20",
  MAX_BODY_BYTES: "4096",
};
const open: Env = { ...(baseEnv as unknown as Env) };
/** The default model (n_ctx 256) served at a context of 128 positions. */
const short: Env = { ...open, MAX_CONTEXT: "128" };

/** The Worker with this file's env (keys and small caps) or another. */
const at =
  (e: Env): Fetcher =>
  (req) =>
    worker.fetch(req, e);
const call = (path: string, init: RequestInit = {}, e: Env = env) => send(path, init, at(e));
const post = (body: unknown, headers: Record<string, string> = {}, e: Env = env) =>
  postTo("/v1/completions", body, {
    headers: { authorization: `Bearer ${KEYS[0]}`, ...headers },
    to: at(e),
  });

function expectError(r: { status: number; json: any }, status: number, param?: string | null) {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(Object.keys(r.json.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(r.json.error.message.length).toBeGreaterThan(10);
  if (param !== undefined) expect(r.json.error.param).toBe(param);
}

beforeAll(async () => {
  await seedModel();
});

describe("API keys", () => {
  it("Should return 401 invalid_api_key when the key is missing", async () => {
    const r = await post({ model: MODEL, prompt: "hi", max_tokens: 1 }, { authorization: "" });
    expectError(r, 401, null);
    expect(r.json.error.code).toBe("invalid_api_key");
  });

  it("Should return 401 for a wrong key, on every /v1 route", async () => {
    const wrong = { authorization: "Bearer sk-nope" };
    expectError(await post({ model: MODEL, prompt: "hi" }, wrong), 401);
    expectError(await call("/v1/models", { headers: wrong }), 401);
  });

  it("Should accept any configured key, as Bearer (any case) or x-api-key", async () => {
    const body = { model: MODEL, prompt: "hi", max_tokens: 1 };
    expect((await post(body, { authorization: `Bearer ${KEYS[1]}` })).status).toBe(200);
    expect((await post(body, { authorization: `bearer ${KEYS[0]}` })).status).toBe(200);
    expect((await post(body, { authorization: "", "x-api-key": KEYS[1] })).status).toBe(200);
  });

  it("Should need no key when API_KEYS is not set", async () => {
    const r = await post(
      { model: MODEL, prompt: "hi", max_tokens: 1 },
      { authorization: "" },
      open,
    );
    expect(r.status).toBe(200);
  });
});

describe("CORS", () => {
  const stainless = [
    "authorization",
    "content-type",
    "x-stainless-lang",
    "x-stainless-package-version",
    "x-stainless-os",
    "x-stainless-arch",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-retry-count",
    "x-stainless-timeout",
  ];

  it("Should answer a preflight with the openai client's headers, without a key", async () => {
    const r = await call("/v1/completions", {
      method: "OPTIONS",
      headers: {
        origin: "https://example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": stainless.join(", "),
      },
    });
    expect(r.status).toBe(204);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(r.headers.get("access-control-allow-methods")).toContain("POST");
    const allowed = r.headers.get("access-control-allow-headers")!.toLowerCase().split(",");
    for (const h of stainless) expect(allowed).toContain(h);
  });

  it("Should let a browser read errors: CORS headers on 401 and 400 responses", async () => {
    const origin = { origin: "https://example.com" };
    const r401 = await post({ model: MODEL }, { ...origin, authorization: "" });
    expect(r401.status).toBe(401);
    expect(r401.headers.get("access-control-allow-origin")).toBe("*");
    const r400 = await post({ model: MODEL, prompt: "hi", n: 0 }, origin);
    expect(r400.status).toBe(400);
    expect(r400.headers.get("access-control-allow-origin")).toBe("*");
    expect(r400.headers.get("access-control-expose-headers")).toContain("Retry-After");
  });
});

describe("Request size and caps", () => {
  it("Should return 413 for a body over MAX_BODY_BYTES", async () => {
    const r = await post({ model: MODEL, prompt: "x".repeat(5000) });
    expectError(r, 413);
    expect(r.json.error.code).toBe("request_too_large");
  });

  it("Should return 413 for an oversized body sent without a content-length", async () => {
    const bytes = new TextEncoder().encode(
      JSON.stringify({ model: MODEL, prompt: "y".repeat(9000) }),
    );
    const body = new ReadableStream({
      start(c) {
        for (let i = 0; i < bytes.length; i += 1000) c.enqueue(bytes.subarray(i, i + 1000));
        c.close();
      },
    });
    const r = await call("/v1/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${KEYS[0]}` },
      body,
    });
    expect(r.status).toBe(413);
    expectError(r, 413);
  });

  it("Should enforce MAX_N, MAX_TOKENS and MAX_PROMPT_TOKENS naming the field", async () => {
    expectError(await post({ model: MODEL, prompt: "hi", n: 5 }), 400, "n");
    expectError(await post({ model: MODEL, prompt: "hi", max_tokens: 51 }), 400, "max_tokens");
    const long = await post({
      model: MODEL,
      prompt: "To be or not to be, that is the question. ".repeat(3),
    });
    expectError(long, 400, "prompt");
    expect(long.json.error.code).toBe("context_length_exceeded");
  });

  it("Should return 400 context_length_exceeded when prompt + max_tokens passes the context", async () => {
    const r = await post({ model: MODEL, prompt: "hi" }, {}, open);
    expect(r.status).toBe(200);
    const ids = Array.from({ length: 250 }, () => 100);
    const over = await post({ model: MODEL, prompt: ids, max_tokens: 10 }, {}, open);
    expectError(over, 400, "max_tokens");
    expect(over.json.error.code).toBe("context_length_exceeded");
  });

  it("Should return 400 context_length_exceeded from /v1/inspect past the served context, as completions does", async () => {
    const prompt = "ROMEO: ".repeat(30); // 148 tokens: past MAX_CONTEXT, within n_ctx (256)
    const to = at(short);
    const inspect = await postTo("/v1/inspect", { model: MODEL, prompt }, { to });
    expectError(inspect, 400, "prompt");
    expect(inspect.json.error.code).toBe("context_length_exceeded");
    expect(inspect.json.error.message).toMatch(
      /maximum context length is 128 tokens.* more than 128 tokens/,
    );
    const complete = await postTo("/v1/completions", { model: MODEL, prompt }, { to });
    expectError(complete, 400, "prompt");
    expect(complete.json.error.code).toBe("context_length_exceeded");
    const fits = await postTo(
      "/v1/inspect",
      { model: MODEL, prompt: "ROMEO: ".repeat(10) },
      { to },
    );
    expect(fits.status).toBe(200);
    expect(fits.json.limits.max_prompt_tokens).toBe(128);
  });
});

describe("Invalid requests", () => {
  const bad: [string, Record<string, unknown>][] = [
    ["model", { model: 5 }],
    ["model", { model: undefined }],
    ["prompt", { prompt: {} }],
    ["prompt", { prompt: [] }],
    ["prompt", { prompt: [[]] }],
    ["prompt", { prompt: [1, "a"] }],
    ["prompt", { prompt: [-1] }],
    ["prompt", { prompt: [[1, 2], [4096]] }],
    ["prompt", { prompt: [1.5] }],
    ["max_tokens", { max_tokens: -1 }],
    ["max_tokens", { max_tokens: "16" }],
    ["temperature", { temperature: -0.1 }],
    ["temperature", { temperature: "hot" }],
    ["top_p", { top_p: 1.5 }],
    ["n", { n: 0 }],
    ["n", { n: 1.5 }],
    ["stream", { stream: "yes" }],
    ["stream_options", { stream_options: { include_usage: true } }],
    ["stream_options", { stream: true, stream_options: "x" }],
    ["logprobs", { logprobs: 6 }],
    ["logprobs", { logprobs: -1 }],
    ["echo", { echo: 1 }],
    ["stop", { stop: Array.from({ length: 17 }, (_, i) => `s${i}`) }],
    ["stop", { stop: 42 }],
    ["stop", { stop: [1] }],
    ["presence_penalty", { presence_penalty: 2.5 }],
    ["frequency_penalty", { frequency_penalty: -2.5 }],
    ["logit_bias", { logit_bias: [] }],
    ["logit_bias", { logit_bias: { abc: 1 } }],
    ["logit_bias", { logit_bias: { "5": 101 } }],
    ["logit_bias", { logit_bias: { "2048": 1 } }],
    ["seed", { seed: 1.5 }],
    ["seed", { seed: "42" }],
    ["best_of", { n: 3, best_of: 2 }],
    ["best_of", { best_of: 2, stream: true }],
    ["suffix", { suffix: "the end" }],
    ["user", { user: 5 }],
    ["top_k", { top_k: -1 }],
    ["min_p", { min_p: 2 }],
    ["repetition_penalty", { repetition_penalty: 0 }],
  ];

  it.each(bad)("Should return 400 naming '%s' for %j", async (param, fields) => {
    const r = await post({ model: MODEL, prompt: "hi", max_tokens: 2, ...fields });
    expectError(r, 400, param);
    expect(r.json.error.type).toBe("invalid_request_error");
  });

  it.each([["[]"], ['"text"'], ["5"], ["null"], ["{not json"], [""]])(
    "Should return 400 for the body %s",
    async (body) => {
      expectError(await post(body), 400, "body");
    },
  );

  it("Should return 404 model_not_found with param model for an unknown model", async () => {
    const r = await post({ model: "gpt-17", prompt: "hi" });
    expectError(r, 404, "model");
    expect(r.json.error.code).toBe("model_not_found");
  });

  it("Should answer an unknown route with a 404 in OpenAI's shape", async () => {
    const r = await call("/v1/chat/nothing", { headers: { authorization: `Bearer ${KEYS[0]}` } });
    expectError(r, 404, null);
  });

  it("Should never answer 500 to any value in any field", async () => {
    const values = [
      null,
      true,
      false,
      0,
      -1,
      1.5,
      1e300,
      -1e300,
      "",
      "x",
      [],
      [1],
      ["a"],
      {},
      { a: 1 },
      [[1, 2]],
      2 ** 53,
      2047,
      2048,
      -0.5,
    ];
    const fields = OPTIONAL_FIELDS;
    const seen = new Set<number>();
    for (const field of fields) {
      for (const value of values) {
        const r = await post({ model: MODEL, prompt: "hi", max_tokens: 2, [field]: value });
        seen.add(r.status);
        expect(r.status, `${field}: ${JSON.stringify(value)} -> ${r.text}`).toBeLessThan(500);
      }
    }
    expect([...seen].sort()).toEqual([200, 400]);
  });
});
