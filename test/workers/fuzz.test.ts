// A seeded fuzz of the whole API inside workerd: 2,400 generated hostile requests over every
// route (wrong types, huge numbers, deep nesting, bad UTF-8, long strings and model ids, unknown
// models, wrong methods, bad auth, huge prompts with offsets). None may answer 5xx, every error
// must be in OpenAI's shape, and a seeded completion must read the same before and after.

import { env as baseEnv } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker, { type Env } from "../../src/index.js";
import { MODEL, seedModel } from "./seed.js";

const SEED = 0x5eed;
const COUNT = 2400;
// Small generations only: whatever max_tokens and n the fuzz picks, the work stays tiny.
const open: Env = { ...(baseEnv as unknown as Env), MAX_TOKENS: "3", MAX_N: "2" };
const keyed: Env = { ...open, API_KEYS: "sk-fuzz" };

/** mulberry32: a small seeded PRNG, so a failure replays exactly. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ROUTES: Record<string, { method: string; fields: string[] }> = {
  "/v1/completions": {
    method: "POST",
    fields: ["prompt", "max_tokens", "n", "best_of", "stream", "stream_options", "logprobs", "echo"]
      .concat(["stop", "temperature", "top_p", "top_k", "min_p", "seed", "logit_bias", "suffix"])
      .concat(["presence_penalty", "frequency_penalty", "repetition_penalty", "ignore_eos"]),
  },
  "/v1/tokenize": {
    method: "POST",
    fields: ["prompt", "add_special_tokens", "return_token_strs", "return_offsets"],
  },
  "/v1/detokenize": { method: "POST", fields: ["tokens"] },
  "/v1/inspect": { method: "POST", fields: ["prompt", "top_n", "layers", "hidden", "neighbours"] },
  "/v1/neighbours": { method: "POST", fields: ["token_id", "token", "k"] },
  "/v1/models": { method: "GET", fields: [] },
  "/v1/models/{id}": { method: "GET", fields: [] },
  "/v1/status": { method: "GET", fields: [] },
  "/openapi.json": { method: "GET", fields: [] },
  "/": { method: "GET", fields: [] },
  "/v1/nothing": { method: "GET", fields: [] },
};

/** JSON text for a hostile value: some are only writable as raw text (1e400, 500k-deep). */
function hostileValue(r: () => number): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const depth = pick([40, 1000, 100_000, 500_000]);
  const long = pick([1000, 100_000, 1_000_000]);
  const kinds: (() => string)[] = [
    () => pick(["null", "true", "false", "0", "-0", "1", "-1", "1.5", "3", "2047", "2048"]),
    () => pick(["1e400", "-1e400", "1e-400", "1e308", "-1e308", "9007199254740993", "1e21"]),
    () => pick(['""', '"x"', '"\\ud800"', '"😀"', '"<|endoftext|>"', '"all"', '"\\u0000"']),
    () => JSON.stringify("ab ".repeat(long / 3)),
    () => pick(["[]", "{}", "[1,2,3]", '["a","b"]', "[[1],[2,3]]", "[[]]", '{"1":5}', '{"a":1}']),
    () => `${"[".repeat(depth)}${"]".repeat(depth)}`,
    () => `{"a":${"[".repeat(depth)}1${"]".repeat(depth)}}`,
    () => JSON.stringify(Array.from({ length: pick([5, 5000, 200_000]) }, (_, i) => i % 3000)),
  ];
  return pick(kinds)();
}

const MODELS = [`"${MODEL}"`, `"${MODEL}"`, '"nope"', '""', "5", "null", '"../../x"'];

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  env: Env;
}

function generate(r: () => number): Req {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const route = pick(Object.keys(ROUTES));
  const spec = ROUTES[route];
  const longId = "m".repeat(pick([1004, 5000]));
  let path = route.replace("{id}", encodeURIComponent(pick([MODEL, "nope", longId, "%zz"])));
  if (r() < 0.05) path = `${path}?x=${"q".repeat(3000)}`;
  const method = r() < 0.12 ? pick(["GET", "POST", "PUT", "DELETE", "PATCH"]) : spec.method;
  const headers: Record<string, string> = { "content-type": "application/json" };
  let env = open;
  if (r() < 0.15) {
    env = keyed;
    const auth = pick(["Bearer sk-fuzz", "Bearer sk-fuzz", "Bearer", "Basic eA==", "sk-fuzz", ""]);
    if (auth) headers.authorization = auth + (r() < 0.2 ? " extra" : "");
  }
  if (method === "GET" || method === "DELETE") return { method, path, headers, env };
  const model = r() < 0.1 ? JSON.stringify("x".repeat(pick([1004, 70_000]))) : pick(MODELS);
  const parts = r() < 0.05 ? [] : [`"model":${model}`];
  const fields = spec.fields.length ? spec.fields : ["prompt"];
  for (let i = 0, n = 1 + Math.floor(r() * 4); i < n; i++) {
    parts.push(`${JSON.stringify(r() < 0.1 ? "unknown_field" : pick(fields))}:${hostileValue(r)}`);
  }
  if (route === "/v1/tokenize" && r() < 0.2) {
    // Huge prompts asking for every detail: capped before any of it is built.
    parts.push(`"prompt":${JSON.stringify("word ".repeat(pick([2000, 400_000, 800_000])))}`);
    parts.push('"return_token_strs":true,"return_offsets":true');
  }
  let text = `{${parts.join(",")}}`;
  if (r() < 0.05) text = pick(["", "[", "{,}", "null", "[]", text.slice(0, text.length >> 1)]);
  const body = new TextEncoder().encode(text);
  if (r() < 0.08 && body.length > 2) body[Math.floor(r() * body.length)] = pick([0xff, 0xc3, 0x80]);
  return { method, path, headers, body, env };
}

async function send(q: Req) {
  const init: RequestInit = { method: q.method, headers: q.headers, body: q.body };
  const res = await worker.fetch(new Request(`http://gpt-edge.test${q.path}`, init), q.env);
  return {
    status: res.status,
    type: res.headers.get("content-type") ?? "",
    text: await res.text(),
  };
}

/** The seeded completion that must not change: greedy and sampled, both with a fixed seed. */
async function fixed(): Promise<string[]> {
  const out: string[] = [];
  for (const temperature of [0, 0.9]) {
    const body = { model: MODEL, prompt: "ROMEO:", max_tokens: 3, temperature, seed: 7, n: 2 };
    const bytes = new TextEncoder().encode(JSON.stringify(body));
    const r = await send({
      method: "POST",
      path: "/v1/completions",
      headers: {},
      body: bytes,
      env: open,
    });
    expect(r.status, r.text).toBe(200);
    out.push(...JSON.parse(r.text).choices.map((c: { text: string }) => c.text));
  }
  return out;
}

beforeAll(async () => {
  await seedModel();
});

describe("Fuzz", () => {
  it(`Should answer ${COUNT} seeded hostile requests with no 5xx and OpenAI-shaped errors`, async () => {
    const before = await fixed();
    const r = rng(SEED);
    const statuses = new Map<number, number>();
    for (let i = 0; i < COUNT; i++) {
      const q = generate(r);
      const res = await send(q);
      const what = `#${i} ${q.method} ${q.path.slice(0, 80)} -> ${res.status} ${res.text.slice(0, 200)}`;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, what).toBeLessThan(500);
      if (res.status >= 400) {
        const e = JSON.parse(res.text).error;
        expect(Object.keys(e).sort(), what).toEqual(["code", "message", "param", "type"]);
        expect(typeof e.message === "string" && typeof e.type === "string", what).toBe(true);
        expect(e.param === null || typeof e.param === "string", what).toBe(true);
        expect(e.code === null || typeof e.code === "string", what).toBe(true);
        expect(res.text.length, what).toBeLessThan(1000);
      }
    }
    console.log("fuzz statuses", JSON.stringify(Object.fromEntries(statuses)));
    // The fuzz reached both answers and refusals of several kinds.
    for (const s of [200, 400, 401, 404, 405])
      expect(statuses.get(s) ?? 0, `${s}`).toBeGreaterThan(0);
    expect(await fixed()).toEqual(before);
  });
});
