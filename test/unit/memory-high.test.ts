// WASM memory past 2 GiB: the default model planned with enough KV slots that the slots it runs
// in, and every scratch buffer after them, lie above 2^31, must generate exactly what it does
// low in memory (issue #16: signed 32-bit offsets corrupted generation silently there).

import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadKernelModule, type KernelVariant } from "../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../src/model/loader.js";
import type { DType } from "../../src/model/manifest.js";
import {
  kvAddress,
  kvSlotBytes,
  MAX_MEMORY_BYTES,
  ModelTooLargeError,
  planMemory,
  type KvDtype,
} from "../../src/model/plan.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { FIXTURE_DIR, SOURCE_DIR } from "../setup/paths.js";

const GiB = 2 ** 30;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "memory-high-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The default model in `dtype`, planned with `slots` KV slots (untouched memory costs no RAM). */
async function load(dtype: DType, kv: KvDtype, variant: KernelVariant, slots: number) {
  let dir = FIXTURE_DIR;
  if (dtype !== "f32") {
    dir = path.join(tmp, dtype);
    if (!fs.existsSync(path.join(dir, "manifest.json")))
      convertCheckpoint(SOURCE_DIR, dir, { name: "tiny-shakespeare", dtype });
  }
  return loadModel(modelDirStore(dir, "tiny-shakespeare"), "tiny-shakespeare", {
    kernels: loadKernelModule(variant),
    budgetBytes: 3 * GiB,
    slots,
    kv,
    cache: null,
  });
}

const PROMPTS = [
  [20, 118, 1100, 9, 31, 7, 400, 12],
  [5, 77, 1500, 3, 250],
];
const STEPS = 12;
const argmax = (a: Float32Array) => a.reduce((best, v, i) => (v > a[best] ? i : best), 0);
/** A logit row's exact bits, digested (a failing deep-equal of raw rows takes seconds to print). */
const digest = (a: Float32Array) =>
  createHash("sha256")
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest("hex");

/**
 * Greedy generation of PROMPTS[i] in slots[i], all in one batch (one prefill call, then one call
 * per step): per sequence, its tokens and the digests of the logit rows it sampled from.
 */
function greedy(m: LoadedModel, slots: number[], prompts: number[][]) {
  const out = prompts.map(() => ({ tokens: [] as number[], logits: [] as string[] }));
  const take = (s: number, _t: number, l: Float32Array) => {
    out[s].tokens.push(argmax(l));
    out[s].logits.push(digest(l));
  };
  m.model.forward(
    prompts.map((ids, i) => ({ slot: slots[i], pos0: 0, ids, logits: "last" as const })),
    take,
  );
  for (let step = 1; step < STEPS; step++) {
    const segs = prompts.map((ids, i) => ({
      slot: slots[i],
      pos0: ids.length + step - 1,
      ids: [out[i].tokens[step - 1]],
      logits: "last" as const,
    }));
    m.model.forward(segs, take);
  }
  return out;
}

describe("a model whose KV cache and scratch lie above 2 GiB", () => {
  const cases: [DType, KvDtype, KernelVariant][] = [
    ["f32", "f32", "baseline"],
    ["f32", "f32", "relaxed"],
    ["q4", "q8", "baseline"],
    ["q4", "q8", "relaxed"],
  ];
  for (const [dtype, kv, variant] of cases) {
    it(`Should generate the same bits as below 2 GiB, run after run, alone or batched (${dtype} weights, ${kv} KV, ${variant})`, async () => {
      const low = await load(dtype, kv, variant, 2);
      const cfg = low.manifest.config;
      // enough slots that the last two start past 2 GiB + 16 MiB
      const slots = Math.ceil((2 * GiB + 16 * 2 ** 20) / kvSlotBytes(cfg, kv)) + 2;
      const high = await load(dtype, kv, variant, slots);
      expect(high.plan.slots).toBe(slots);
      const [a, b] = [slots - 2, slots - 1];
      for (const s of [a, b])
        expect(kvAddress(high.plan, cfg, s, 0, 0).data).toBeGreaterThan(2 * GiB);
      expect(high.plan.x).toBeGreaterThan(2 * GiB);
      expect(high.plan.logits).toBeGreaterThan(2 * GiB);

      const want = [greedy(low, [0], [PROMPTS[0]])[0], greedy(low, [1], [PROMPTS[1]])[0]];
      expect(want[0].tokens).toHaveLength(STEPS);
      // alone, twice each, in either high slot
      expect(greedy(high, [a], [PROMPTS[0]])[0]).toEqual(want[0]);
      expect(greedy(high, [b], [PROMPTS[0]])[0]).toEqual(want[0]);
      expect(greedy(high, [b], [PROMPTS[1]])[0]).toEqual(want[1]);
      // batched, in both orders
      expect(greedy(high, [a, b], PROMPTS)).toEqual(want);
      expect(greedy(high, [b, a], [PROMPTS[1], PROMPTS[0]])).toEqual([want[1], want[0]]);
    });
  }
});

describe("the plan's address limit", () => {
  it("Should refuse a plan past 4 GiB less one page, whatever the budget, with the reason", async () => {
    const m = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, "manifest.json"), "utf8"));
    const opts = { rows: 64, logitRows: 8, budgetBytes: 16 * GiB, kv: "f32" as const };
    const fit = Math.floor((MAX_MEMORY_BYTES - 64 * 2 ** 20) / kvSlotBytes(m.config));
    expect(planMemory(m, { ...opts, slots: fit }).totalBytes).toBeLessThanOrEqual(MAX_MEMORY_BYTES);
    const over = () => planMemory(m, { ...opts, slots: fit + 64 });
    expect(over).toThrow(ModelTooLargeError);
    expect(over).toThrow(/WASM memory addresses at most 4095\.9 MiB/);
  });
});
