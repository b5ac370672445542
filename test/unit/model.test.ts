// The whole forward pass (WASM kernels, converted weights, KV cache) against the independent
// float64 reference, and the memory plan's refusal. (Batch isolation: isolation.test.ts.)

import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../src/model/loader.js";
import { planMemory, ModelTooLargeError } from "../../src/model/plan.js";
import { loadReference, referenceForward, type RefModel } from "../reference/gpt2-f64.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { FIXTURE_DIR, SOURCE_DIR, CORPUS_SNIPPET } from "../setup/paths.js";
import { logitsAt, relErr } from "./helpers/logits.js";

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
    slots: 2,
  });
  scalar = await loadModel(store, "tiny-shakespeare", {
    kernels: null,
    budgetBytes: BUDGET,
    slots: 1,
  });
  ref = loadReference(SOURCE_DIR);
  prompt = lm.tokenizer.encode(readFileSync(CORPUS_SNIPPET, "utf8")).slice(0, 64);
});

describe("GPT-2 forward pass", () => {
  it("Should match the float64 reference at every position within 1e-4", () => {
    const want = referenceForward(ref, prompt).logits;
    const got = logitsAt(lm, prompt);
    expect(got).toHaveLength(64);
    const worst = Math.max(...got.map((g, t) => relErr(g, want[t])));
    expect(worst).toBeLessThan(1e-4);
  });

  it("Should give the same logits through the scalar kernel twins", () => {
    const want = referenceForward(ref, prompt.slice(0, 16)).logits;
    const got = logitsAt(scalar, prompt.slice(0, 16));
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
    for (let pos = 20; pos < 24; pos++) {
      lm.model.forward(
        [{ slot: 1, pos0: pos, ids: [prompt[pos]], logits: "last" }],
        (_s, _t, l) => {
          worst = Math.max(worst, relErr(l, want[pos]));
        },
      );
    }
    expect(worst).toBeLessThan(1e-4);
  });
});

describe("Memory plan", () => {
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
