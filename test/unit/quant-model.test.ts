// The whole forward pass with quantized weights (q8, q4) and the int8 KV cache, on the default
// model converted in each dtype: logits close to f32, the scalar twins agreeing, and the engine's
// isolation guarantee: a sequence's logits are bit-identical alone, batched, or chunked.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../src/model/loader.js";
import type { DType } from "../../src/model/manifest.js";
import type { KvDtype } from "../../src/model/plan.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { perplexity } from "../bench/eval.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { CORPUS_SNIPPET, SOURCE_DIR } from "../setup/paths.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "quant-model-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const BUDGET = 112 * 2 ** 20;

async function load(dtype: DType, kv: KvDtype, wasm = true): Promise<LoadedModel> {
  const dir = path.join(tmp, dtype);
  if (!fs.existsSync(path.join(dir, "manifest.json")))
    convertCheckpoint(SOURCE_DIR, dir, { name: dtype, dtype });
  return loadModel(modelDirStore(dir, dtype), dtype, {
    kernels: wasm ? loadKernelModule() : null,
    budgetBytes: BUDGET,
    slots: 4,
    kv,
    cache: null,
  });
}

function logitsAt(m: LoadedModel, ids: number[], slot = 0): Float32Array[] {
  const out: Float32Array[] = [];
  m.model.forward([{ slot, pos0: 0, ids, logits: "all" }], (_s, t, l) => (out[t] = l.slice()));
  return out;
}

/** max |a - b| / max |b| over a position's logits. */
function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}
const argmax = (a: Float32Array) => a.reduce((best, v, i) => (v > a[best] ? i : best), 0);
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

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

describe("isolation with quantized weights and the int8 KV cache", () => {
  for (const dtype of ["q8", "q4"] as const) {
    it(`Should compute a batch exactly as each sequence alone (${dtype}, int8 KV)`, async () => {
      const m = await load(dtype, "q8");
      const a = prompt.slice(0, 10);
      const b = prompt.slice(30, 37);
      const alone = [logitsAt(m, a, 1).at(-1)!, logitsAt(m, b, 2).at(-1)!];
      const batched: Float32Array[] = [];
      m.model.forward(
        [
          { slot: 2, pos0: 0, ids: b, logits: "last" },
          { slot: 1, pos0: 0, ids: a, logits: "last" },
        ],
        (s, _t, l) => (batched[s] = l.slice()),
      );
      expect(bits(batched[1])).toEqual(bits(alone[0]));
      expect(bits(batched[0])).toEqual(bits(alone[1]));
    });
  }

  it("Should give a position the same bits in one prefill, in chunks, and decoding", async () => {
    const m = await load("q4", "q8");
    const ids = prompt.slice(0, 24);
    const whole = logitsAt(m, ids, 0);
    const pieces: Float32Array[] = [];
    m.model.forward([{ slot: 3, pos0: 0, ids: ids.slice(0, 13), logits: "all" }], (_s, t, l) => {
      pieces[t] = l.slice();
    });
    for (let p = 13; p < 24; p++) {
      const seg = { slot: 3, pos0: p, ids: [ids[p]], logits: "last" as const };
      // decode beside another sequence's prefill, as the engine batches them
      const other = {
        slot: 1,
        pos0: 0,
        ids: prompt.slice(40, 40 + (p % 5) + 1),
        logits: "none" as const,
      };
      m.model.forward([other, seg], (s, _t, l) => {
        if (s === 1) pieces[p] = l.slice();
      });
    }
    for (let p = 0; p < 24; p++) expect(bits(pieces[p]), `position ${p}`).toEqual(bits(whole[p]));
    expect(m.kernels.memory.buffer.byteLength).toBe(m.plan.totalBytes); // never grew
  });
});
