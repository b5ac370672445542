// The whole forward pass with quantized weights (q8, q4) and the int8 KV cache, on the default
// model converted in each dtype: logits close to f32, the scalar twins agreeing, perplexity.
// (Batch isolation, for every dtype: isolation.test.ts.)

import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LoadedModel } from "../../src/model/loader.js";
import type { DType } from "../../src/model/manifest.js";
import type { KvDtype } from "../../src/model/plan.js";
import { perplexity } from "../bench/eval.js";
import { CORPUS_SNIPPET } from "../setup/paths.js";
import { argmax, ConvertedModels, logitsAt, relErr } from "./helpers/logits.js";

const models = new ConvertedModels();
afterAll(() => models.dispose());
const load = (dtype: DType, kv: KvDtype, wasm = true) => models.load(dtype, kv, wasm);

let f32: LoadedModel;
let prompt: number[];

beforeAll(async () => {
  f32 = await load("f32", "f32");
  prompt = f32.tokenizer.encode(fs.readFileSync(CORPUS_SNIPPET, "utf8")).slice(0, 64);
});

describe("quantized forward pass", () => {
  const cases: [DType, KvDtype, number, number][] = [
    // dtype, KV, max relative logit error, min top-1 agreement with f32 over 64 positions
    ["f32", "q8", 0.01, 0.95],
    ["q8", "f32", 0.02, 0.95],
    ["q4", "f32", 0.1, 0.85],
    ["q4", "q8", 0.1, 0.85],
  ];
  for (const [dtype, kv, maxErr, minTop1] of cases) {
    it(`Should stay close to f32 with ${dtype} weights and ${kv} KV`, async () => {
      const m = await load(dtype, kv);
      expect(m.plan.kvDtype).toBe(kv);
      const want = logitsAt(f32, prompt);
      const got = logitsAt(m, prompt);
      const worst = Math.max(...got.map((g, t) => relErr(g, want[t])));
      const top1 = got.filter((g, t) => argmax(g) === argmax(want[t])).length / got.length;
      console.log(
        `${dtype} weights, ${kv} KV: max rel. logit error ${worst.toFixed(4)}, top-1 ${top1}`,
      );
      expect(worst).toBeLessThan(maxErr);
      expect(top1).toBeGreaterThanOrEqual(minTop1);
    });
  }

  it("Should give the same logits through the scalar twins (q4 weights, int8 KV)", async () => {
    const [wasm, scalar] = [await load("q4", "q8"), await load("q4", "q8", false)];
    const ids = prompt.slice(0, 12);
    const [a, b] = [logitsAt(wasm, ids), logitsAt(scalar, ids)];
    // Not 1e-4 as for f32: activation quantization is a step function, so the twins' f64 GELU
    // and softmax (1e-7 away from f32) can move a value across a rounding edge: one int8 level,
    // 1/254 of its block's range, in one element, which then propagates.
    expect(Math.max(...a.map((g, t) => relErr(g, b[t])))).toBeLessThan(1e-2);
  });
});

describe("perplexity on held-out Shakespeare (npm run eval does all of it)", () => {
  it("Should stay within 1% of f32 with q8 and within 5% with q4 (int8 KV), on 2000 tokens", async () => {
    const ids = f32.tokenizer.encode(fs.readFileSync(CORPUS_SNIPPET, "utf8"));
    const ppl = async (m: LoadedModel) => Math.exp(perplexity(m.model, ids, 128, 2000).nll);
    const base = await ppl(f32);
    const q8 = await ppl(await load("q8", "f32"));
    const q4 = await ppl(await load("q4", "q8"));
    console.log(
      `perplexity f32 ${base.toFixed(3)}, q8 ${q8.toFixed(3)}, q4 + int8 KV ${q4.toFixed(3)}`,
    );
    expect(Math.abs(q8 / base - 1)).toBeLessThan(0.01);
    expect(Math.abs(q4 / base - 1)).toBeLessThan(0.05);
  });
});
