// Hostile bodies, methods and headers inside workerd: bad UTF-8 and deep nesting are 400s,
// echoed values stay short, tokenize/detokenize and completions prompts are capped before the
// work, a wrong method is a 405 with Allow, and a malformed Authorization header is named.

import { env as baseEnv } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker, { type Env } from "../../src/index.js";
import { MODEL, read, seedModel } from "./seed.js";

const open: Env = { ...(baseEnv as unknown as Env) };
const small: Env = {
  ...open,
  MAX_TOKENIZE_CHARS: "200",
  MAX_TOKENIZE_TOKENS: "40",
  MAX_RESPONSE_BYTES: "1500",
  MAX_PROMPT_TOKENS: "20",
};
const keyed: Env = { ...open, API_KEYS: "sk-one" };

const call = async (path: string, init: RequestInit = {}, e: Env = open) =>
  read(await worker.fetch(new Request(`http://gpt-edge.test${path}`, init), e));

const post = (path: string, body: BodyInit, e: Env = open) =>
  call(path, { method: "POST", headers: { "content-type": "application/json" }, body }, e);

function expectError(r: { status: number; json: any; text: string }, status: number) {
  expect(r.status, r.text.slice(0, 300)).toBe(status);
  expect(Object.keys(r.json.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(r.text.length).toBeLessThan(600);
}

beforeAll(async () => {
  await seedModel();
});

describe("Hostile bodies", () => {
  it("Should return 400 for a body that is not UTF-8", async () => {
    const bytes = new TextEncoder().encode(`{"model":"${MODEL}","prompt":"ab"}`);
    bytes[bytes.length - 4] = 0xff; // a byte no UTF-8 text holds
    const r = await post("/v1/completions", bytes);
    expectError(r, 400);
    expect(r.json.error.message).toContain("UTF-8");
  });

  it("Should return 400 for nesting past 32 levels, even in an ignored field", async () => {
    const deep = "[".repeat(500_000) + "]".repeat(500_000);
    for (const body of [
      `{"model":"${MODEL}","prompt":"hi","extra":${deep}}`,
      `{"model":"${MODEL}","n":${deep}}`,
    ]) {
      const r = await post("/v1/completions", body);
      expectError(r, 400);
      expect(r.json.error.param).toBe("body");
    }
    const ok = "[".repeat(30) + "]".repeat(30);
    const r = await post("/v1/completions", `{"model":"${MODEL}","max_tokens":1,"x":${ok}}`);
    expect(r.status).toBe(200);
  });

  it("Should say what a number that overflowed is, never 'got null'", async () => {
    const r = await post("/v1/completions", `{"model":"${MODEL}","max_tokens":1e400}`);
    expectError(r, 400);
    expect(r.json.error.param).toBe("max_tokens");
    expect(r.json.error.message).toContain("Infinity");
    expect(r.json.error.message).not.toContain("null");
  });

  it("Should refuse an analogy whose terms cancel out, and write one with single spaces", async () => {
    const zero = { model: MODEL, plus: [" the", " and"], minus: [" and", " the"] };
    const r = await post("/v1/neighbours", JSON.stringify(zero));
    expectError(r, 400);
    expect(r.json.error).toMatchObject({ param: "minus" });
    expect(r.json.error.message).toMatch(/cancel out/);
    const ok = { model: MODEL, plus: [" king", " woman"], minus: [" man"], k: 3 };
    const a = await post("/v1/neighbours", JSON.stringify(ok));
    expect(a.status).toBe(200);
    expect(a.json.text).toBe(" king - man + woman");
    expect(a.json.items).toHaveLength(3);
  });

  it("Should keep errors short whatever they echo", async () => {
    const long = "m".repeat(100_000);
    for (const [path, body] of [
      ["/v1/completions", { model: MODEL, temperature: long }],
      ["/v1/completions", { model: MODEL, logit_bias: { [long]: 1 } }],
      ["/v1/tokenize", { model: MODEL, prompt: 5, add_special_tokens: long }],
      ["/v1/neighbours", { model: MODEL, token: long }],
    ] as const) {
      const r = await post(path, JSON.stringify(body));
      expectError(r, 400);
    }
  });
});

describe("Caps on tokenize, detokenize and prompts", () => {
  /** A JSON body for MODEL, posted under the small caps (200 chars, 40 tokens, 1500 bytes, 20). */
  const postSmall = (path: string, body: object) =>
    post(path, JSON.stringify({ model: MODEL, ...body }), small);

  // Each cap: a body past it, the error it gets, and (where one exists) a body at the cap.
  const refusals: { name: string; path: string; body: object; error: object; fits?: object }[] = [
    {
      name: "a tokenize prompt over MAX_TOKENIZE_CHARS",
      path: "/v1/tokenize",
      body: { prompt: "a".repeat(201) },
      error: { param: "prompt", code: "string_above_max_length" },
    },
    {
      name: "a tokenize prompt over MAX_TOKENIZE_TOKENS", // 199 chars of 1-letter words: ~100 tokens
      path: "/v1/tokenize",
      body: { prompt: "a ".repeat(99) },
      error: { param: "prompt", code: "context_length_exceeded" },
    },
    {
      name: "detokenize past MAX_TOKENIZE_TOKENS ids",
      path: "/v1/detokenize",
      body: { tokens: Array(41).fill(5) },
      error: { param: "tokens", code: "array_above_max_length" },
      fits: { tokens: Array(40).fill(5) },
    },
    {
      name: "a 1 MB completions prompt as context_length_exceeded",
      path: "/v1/completions",
      body: { prompt: "word ".repeat(200_000) },
      error: {
        param: "prompt",
        code: "context_length_exceeded",
        message: expect.stringContaining("more than 20 tokens"),
      },
    },
  ];
  for (const { name, path, body, error, fits } of refusals) {
    it(`Should refuse ${name}`, async () => {
      const r = await postSmall(path, body);
      expectError(r, 400);
      expect(r.json.error).toMatchObject(error);
      if (fits) expect((await postSmall(path, fits)).status).toBe(200);
    });
  }

  it("Should refuse details that would pass MAX_RESPONSE_BYTES, and serve them when they fit", async () => {
    const details = { return_token_strs: true, return_offsets: true };
    const prompt = "To be, or not to be: that is it. ".repeat(2);
    const big = await postSmall("/v1/tokenize", { prompt, ...details });
    expectError(big, 400);
    expect(big.json.error.code).toBe("response_too_large");
    expect((await postSmall("/v1/tokenize", { prompt })).status).toBe(200);
    const fits = await postSmall("/v1/tokenize", { prompt: "To be.", ...details });
    expect(fits.status).toBe(200);
    expect(fits.text.length).toBeLessThanOrEqual(1500);
  });
});

describe("Methods and Authorization", () => {
  it("Should refuse with a 400, not a retryable 503, more sequences than the model ever holds", async () => {
    const tight: Env = { ...open, MAX_SLOTS: "2", MAX_QUEUE: "2" }; // holds 4 at once
    const body = (extra: object) => JSON.stringify({ model: MODEL, max_tokens: 2, ...extra });
    const six = await post("/v1/completions", body({ prompt: ["a", "b"], best_of: 3 }), tight);
    expectError(six, 400);
    expect(six.json.error).toMatchObject({ type: "invalid_request_error", param: "prompt" });
    expect(six.json.error.message).toContain("at most 4 at once");
    const five = await post("/v1/completions", body({ prompt: "a", n: 5 }), tight);
    expectError(five, 400);
    expect(five.json.error.param).toBe("n");
    const four = await post("/v1/completions", body({ prompt: "a", n: 4 }), tight);
    expect(four.status, four.text.slice(0, 300)).toBe(200);
    expect(four.json.choices).toHaveLength(4);
  });

  it("Should answer a wrong method on a known route with 405 and Allow", async () => {
    const cases: [string, string, string][] = [
      ["GET", "/v1/completions", "POST"],
      ["PUT", "/v1/tokenize", "POST"],
      ["POST", "/v1/models", "GET"],
      ["DELETE", "/v1/models/tiny-shakespeare", "GET"],
      ["POST", "/v1/status", "GET"],
    ];
    for (const [method, path, allow] of cases) {
      const r = await call(path, { method });
      expectError(r, 405);
      expect(r.headers.get("allow")).toBe(allow);
      expect(r.json.error).toMatchObject({
        type: "invalid_request_error",
        code: "method_not_allowed",
      });
    }
    expectError(await call("/v1/nothing", { method: "POST" }), 404);
  });

  it("Should name what is wrong with a malformed Authorization header", async () => {
    const cases: [string, RegExp][] = [
      ["Basic c2stb25lOg==", /scheme is 'Basic'/],
      ["sk-one", /no 'Bearer' scheme/],
      ["Bearer", /followed by no key/],
      ["Bearer sk one", /whitespace/],
    ];
    for (const [authorization, message] of cases) {
      const r = await call("/v1/models", { headers: { authorization } }, keyed);
      expectError(r, 401);
      expect(r.json.error.code).toBe("invalid_api_key");
      expect(r.json.error.message).toMatch(message);
    }
    const none = await call("/v1/models", {}, keyed);
    expect(none.json.error.message).toContain("didn't provide");
    const right = await call("/v1/models", { headers: { authorization: "Bearer sk-one" } }, keyed);
    expect(right.status).toBe(200);
  });
});
