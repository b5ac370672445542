// The whole forward pass (WASM kernels, converted weights, KV cache) against the independent
// float64 reference, plus the memory plan of the default model.

import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../src/model/loader.js";
import { planMemory, ModelTooLargeError } from "../../src/model/plan.js";
import { loadReference, referenceForward, type RefModel } from "../reference/gpt2-f64.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { FIXTURE_DIR, SOURCE_DIR, CORPUS_SNIPPET } from "../setup/paths.js";

const BUDGET = 112 * 1024 * 1024; // 128 MB isolate minus 16 MiB headroom for the JS heap

let lm: LoadedModel;
let scalar: LoadedModel;
let ref: RefModel;
let prompt: number[];

beforeAll(async () => {
  const store = modelDirStore(FIXTURE_DIR, "tiny-shakespeare");
  lm = await loadModel(store, "tiny-shakespeare", {
    kernels: loadKernelModule(),
    budgetBytes: BUDGET,
    slots: 4,
  });
  scalar = await loadModel(store, "tiny-shakespeare", {
    kernels: null,
    budgetBytes: BUDGET,
    slots: 1,
  });
  ref = loadReference(SOURCE_DIR);
  prompt = lm.tokenizer.encode(readFileSync(CORPUS_SNIPPET, "utf8")).slice(0, 64);
});

/** max |a - b| / max |b| over one position's logits. */
function relErr(a: Float32Array, b: Float64Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

function allLogits(m: LoadedModel, ids: number[], slot = 0): Float32Array[] {
  const out: Float32Array[] = [];
  m.model.forward([{ slot, pos0: 0, ids, logits: "all" }], (_s, t, l) => (out[t] = l.slice()));
  return out;
}

describe("GPT-2 forward pass", () => {
  it("Should use a 64-token prompt of real text", () => {
    expect(prompt).toHaveLength(64);
  });

  it("Should match the float64 reference at every position within 1e-4", () => {
    const want = referenceForward(ref, prompt).logits;
    const got = allLogits(lm, prompt);
    expect(got).toHaveLength(64);
    const worst = Math.max(...got.map((g, t) => relErr(g, want[t])));
    expect(worst).toBeLessThan(1e-4);
  });

  it("Should give the same logits through the scalar kernel twins", () => {
    const want = referenceForward(ref, prompt.slice(0, 16)).logits;
    const got = allLogits(scalar, prompt.slice(0, 16));
    const worst = Math.max(...got.map((g, t) => relErr(g, want[t])));
    expect(worst).toBeLessThan(1e-4);
  });

  it("Should give the same logits decoding one token at a time from the KV cache", () => {
    const want = referenceForward(ref, prompt.slice(0, 24)).logits;
    let worst = 0;
    // prefill 20 tokens in one chunk, then 4 single-token decode steps in another slot
    lm.model.forward(
      [{ slot: 1, pos0: 0, ids: prompt.slice(0, 20), logits: "last" }],
      (_s, _t, l) => {
        worst = Math.max(worst, relErr(l, want[19]));
      },
    );
    for (let p = 20; p < 24; p++) {
      lm.model.forward([{ slot: 1, pos0: p, ids: [prompt[p]], logits: "last" }], (_s, _t, l) => {
        worst = Math.max(worst, relErr(l, want[p]));
      });
    }
    expect(worst).toBeLessThan(1e-4);
  });

  it("Should compute a batch of sequences exactly as each alone", () => {
    const a = prompt.slice(0, 10);
    const b = prompt.slice(30, 37);
    const alone = [allLogits(lm, a, 2).at(-1)!, allLogits(lm, b, 3).at(-1)!];
    const batched: Float32Array[] = [];
    lm.model.forward(
      [
        { slot: 2, pos0: 0, ids: a, logits: "last" },
        { slot: 3, pos0: 0, ids: b, logits: "last" },
      ],
      (s, _t, l) => (batched[s] = l.slice()),
    );
    expect(Array.from(batched[0])).toEqual(Array.from(alone[0]));
    expect(Array.from(batched[1])).toEqual(Array.from(alone[1]));
  });
});

describe("Memory plan", () => {
  it("Should fit the default model with its KV slots in the isolate budget", () => {
    const p = lm.plan;
    console.log(
      `tiny-shakespeare plan: ${(p.totalBytes / 2 ** 20).toFixed(1)} MiB total = weights ` +
        `${(p.breakdown.weights / 2 ** 20).toFixed(1)} + KV ${(p.breakdown.kv / 2 ** 20).toFixed(1)} ` +
        `(${p.slots} slots) + scratch ${(p.breakdown.scratch / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(p.totalBytes).toBeLessThanOrEqual(BUDGET);
    expect(lm.kernels.memory.buffer.byteLength).toBe(p.totalBytes);
    // the model never grew memory while running the tests above
  });

  it("Should refuse a plan over budget with the numbers and the fix", () => {
    const m = { ...lm.manifest, image_bytes: 200 * 1024 * 1024 };
    expect(() => planMemory(m, { slots: 1, rows: 64, logitRows: 8, budgetBytes: BUDGET })).toThrow(
      ModelTooLargeError,
    );
    expect(() => planMemory(m, { slots: 1, rows: 64, logitRows: 8, budgetBytes: BUDGET })).toThrow(
      /--dtype q8 or q4/,
    );
  });
});
