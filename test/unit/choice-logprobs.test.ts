// The API's logprobs against the independent float64 GPT-2: the whole route (Hono app, engine,
// WASM kernels, sampler, choice builder) runs in Node over the converted default model, and every
// echo and generation logprob must be log_softmax of the reference model's raw logits.

import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { ModelRegistry, type R2Listable } from "../../src/engine/registry.js";
import { loadKernelModule } from "../../src/kernels/node.js";
import { registryDeps } from "../../src/routes/context.js";
import { createApp } from "../../src/routes/index.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { loadReference, referenceForward, type RefModel } from "../reference/gpt2-f64.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { CORPUS_SNIPPET, FIXTURE_DIR, SOURCE_DIR } from "../setup/paths.js";
import { testCaps } from "../helpers/caps.js";

const MODEL = "tiny-shakespeare";
let app: ReturnType<typeof createApp>;
let ref: RefModel;
let tok: Tokenizer;

beforeAll(() => {
  const store = modelDirStore(FIXTURE_DIR, MODEL) as ReturnType<typeof modelDirStore> & R2Listable;
  const registry = new ModelRegistry(store, {
    kernels: loadKernelModule(),
    budgetBytes: 112 * 1024 * 1024,
    slots: 4,
    engine: { maxQueue: 8, prefillChunk: 16 }, // several prefill chunks for a 40-token prompt
  });
  const deps = registryDeps(registry, testCaps());
  app = createApp(() => deps);
  ref = loadReference(SOURCE_DIR);
  tok = Tokenizer.fromBytes(new Uint8Array(readFileSync(`${FIXTURE_DIR}/tokenizer.bin`)));
});

async function complete(body: Record<string, unknown>) {
  const res = await app.request("/v1/completions", {
    method: "POST",
    body: JSON.stringify({ model: MODEL, ...body }),
  });
  const json = (await res.json()) as any;
  expect(res.status, JSON.stringify(json)).toBe(200);
  return json.choices[0];
}

/** log_softmax of the reference logits at every position, (T, V), in float64. */
function refLogprobs(ids: number[]): Float64Array[] {
  return referenceForward(ref, ids).logits.map((z) => {
    let max = -Infinity;
    for (const x of z) max = Math.max(max, x);
    let sum = 0;
    for (const x of z) sum += Math.exp(x - max);
    const lse = max + Math.log(sum);
    return z.map((x) => x - lse);
  });
}

/** Ids of the k largest entries, best first. */
const topK = (lp: Float64Array, k: number) =>
  Array.from(lp.keys())
    .sort((a, b) => lp[b] - lp[a])
    .slice(0, k);

describe("Logprobs against the float64 reference", () => {
  it("Should score every echoed prompt token as log_softmax of the previous position", async () => {
    const ids = tok.encode(readFileSync(CORPUS_SNIPPET, "utf8")).slice(0, 40);
    // Sampling settings are set on purpose: logprobs are of the raw model, before them.
    const c = await complete({
      prompt: ids,
      max_tokens: 0,
      echo: true,
      logprobs: 5,
      temperature: 1.7,
      top_k: 2,
      presence_penalty: 2,
      logit_bias: { [ids[5]]: -100 },
    });
    const want = refLogprobs(ids);
    const lp = c.logprobs;
    expect(lp.tokens).toHaveLength(ids.length);
    expect(lp.token_logprobs[0]).toBeNull();
    for (let t = 1; t < ids.length; t++) {
      expect(Math.abs(lp.token_logprobs[t] - want[t - 1][ids[t]])).toBeLessThan(1e-4);
      const top = lp.top_logprobs[t] as Record<string, number>;
      for (const id of topK(want[t - 1], 5)) {
        expect(Math.abs(top[tok.tokenString(id)] - want[t - 1][id])).toBeLessThan(1e-4);
      }
    }
    // The summed prompt logprob is the sequence's log-likelihood under the model.
    const total = lp.token_logprobs.slice(1).reduce((s: number, x: number) => s + x, 0);
    const refTotal = ids.slice(1).reduce((s, id, t) => s + want[t][id], 0);
    expect(Math.abs(total - refTotal)).toBeLessThan(1e-3);
  });

  it("Should give a greedy generation the reference's argmax tokens and their logprobs", async () => {
    const prompt = tok.encode("ROMEO:\n");
    const c = await complete({ prompt, max_tokens: 20, temperature: 0, logprobs: 2 });
    const lp = c.logprobs;
    const gen = (lp.tokens as string[]).map((s) => tok.encode(s));
    expect(gen.every((g) => g.length === 1)).toBe(true);
    const ids = [...prompt, ...gen.flat()];
    const want = refLogprobs(ids);
    for (let i = 0; i < gen.length; i++) {
      const at = want[prompt.length - 1 + i];
      expect(topK(at, 1)[0]).toBe(gen[i][0]);
      expect(Math.abs(lp.token_logprobs[i] - at[gen[i][0]])).toBeLessThan(1e-4);
    }
  });
});
