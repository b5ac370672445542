// One forward pass, cut by layer range: a model converted with --stages, each stage loaded alone
// into its own WASM memory from its own manifest, chained stage 0 -> 1 -> ... -> stage 0's
// logitsFrom, gives the whole model's logits bit for bit over a prefill of several sequences
// and decode steps in several slots; the hooks see the same layers under the same numbers.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Segment } from "../../src/model/gpt2.js";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../src/model/loader.js";
import type { DType, Manifest } from "../../src/model/manifest.js";
import type { KvDtype } from "../../src/model/plan.js";
import { stageManifest, stagePlanOptions } from "../../src/model/stages.js";
import { convertCheckpoint } from "../../weights/convert.js";
import type { StageRequest } from "../../weights/stage-plan.js";
import { randomGpt2 } from "../bench/gpt2-random.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { ROOT, SOURCE_DIR } from "../setup/paths.js";
import { expectBits } from "./helpers/kernel-twins.js";
import { argmax } from "./helpers/logits.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "stages-chain-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The whole model and each of its stages, loaded from one converted folder. */
async function convertAndLoad(hf: string, dir: string, dtype: DType, stages: StageRequest) {
  const m = convertCheckpoint(hf, dir, { name: "staged", dtype, stages }).manifest;
  const store = modelDirStore(dir, m.name);
  const opts = { ...stagePlanOptions(m.stages!), kernels: loadKernelModule(), cache: null };
  const load = (manifest: Manifest) => loadModel(store, m.name, { ...opts, manifest });
  const whole = await load(m);
  const parts = await Promise.all(m.stages!.list.map((_, i) => load(stageManifest(m, i))));
  return { m, whole, parts };
}

type Logits = { seg: number; t: number; logits: Float32Array }[];

/** One step through the whole model. */
function whole(lm: LoadedModel, segs: Segment[]): Logits {
  const out: Logits = [];
  lm.model.forward(segs, (seg, t, l) => out.push({ seg, t, logits: l.slice() }));
  return out;
}

/** The same step down the pipeline: each stage's rows into the next, logits in the first. */
function chained(parts: LoadedModel[], segs: Segment[]): Logits {
  const out: Logits = [];
  let x: Float32Array | undefined; // undefined: the first stage embeds the ids
  for (const p of parts) x = p.model.forwardLayers(segs, x);
  parts[0].model.logitsFrom(segs, x, (seg, t, l) => out.push({ seg, t, logits: l.slice() }));
  return out;
}

/**
 * Runs both paths over a prefill of three sequences (all logits, the last, none) in slots 0, 2
 * and 1, a second chunk beside a decode, then `steps` decode steps of all three (each token the
 * argmax of the step before); every step's logits must be the same bits.
 */
function expectSameLogits(lm: LoadedModel, parts: LoadedModel[], ids: number[], steps: number) {
  const next = new Map<number, number>(); // next position of each slot
  const seg = (slot: number, tokens: number[], logits: Segment["logits"]): Segment => {
    const pos0 = next.get(slot) ?? 0;
    next.set(slot, pos0 + tokens.length);
    return { slot, pos0, ids: tokens, logits };
  };
  let last: Logits = [];
  let compared = 0;
  const step = (segs: Segment[]) => {
    const [want, got] = [whole(lm, segs), chained(parts, segs)];
    expect(got.map(({ seg, t }) => [seg, t])).toEqual(want.map(({ seg, t }) => [seg, t]));
    got.forEach((g, i) => expectBits(g.logits, want[i].logits));
    compared += got.length;
    last = want;
  };
  step([
    seg(0, ids.slice(0, 9), "all"),
    seg(2, ids.slice(20, 25), "last"),
    seg(1, ids.slice(40, 49), "none"),
  ]);
  step([seg(1, ids.slice(49, 53), "last"), seg(0, [ids[9]], "last")]);
  for (let k = 0; k < steps; k++) {
    const tokens = last.map(({ logits }) => argmax(logits));
    step([0, 1, 2].map((slot, i) => seg(slot, [tokens[i % tokens.length]], "last")));
  }
  expect(compared).toBe(9 + 1 + 2 + 3 * steps);
}

const ids = Array.from({ length: 64 }, (_, i) => (i * 37 + 11) % 2000);

describe("the tiny model in 3 stages, each in its own memory", () => {
  const cases: [DType, KvDtype][] = [
    ["f32", "f32"],
    ["q8", "q8"],
    ["q4", "q8"],
  ];
  for (const [dtype, kv] of cases) {
    it(`Should give the whole model's logits bit for bit (${dtype} weights, ${kv} KV)`, async () => {
      const stages = { count: 3, slots: 3, kv } as const;
      const { m, whole, parts } = await convertAndLoad(
        SOURCE_DIR,
        path.join(tmp, dtype),
        dtype,
        stages,
      );
      expect(m.stages!.list.map((s) => s.layers)).toEqual([
        [0, 1],
        [1, 2],
        [2, 4],
      ]);
      expect(parts.map((p) => p.plan.kvDtype)).toEqual([kv, kv, kv]);
      // loaded with the recorded options, each stage plans exactly the memory the converter did
      expect(parts.map((p) => p.plan.totalBytes)).toEqual(
        m.stages!.list.map((s) => s.memory.total),
      );
      expect(whole.plan.kvDtype).toBe(kv);
      expectSameLogits(whole, parts, ids, 4);
    });
  }

  it("Should report the same residuals and attention under global layer numbers", async () => {
    const stages = { count: 3, slots: 3 } as const;
    const { whole, parts } = await convertAndLoad(
      SOURCE_DIR,
      path.join(tmp, "hooks"),
      "f32",
      stages,
    );
    const segs: Segment[] = [{ slot: 1, pos0: 0, ids: ids.slice(0, 7), logits: "last" }];
    const record = (into: Map<string, Float32Array>) => ({
      onResidual: (l: number, x: Float32Array) => into.set(`x${l}`, x.slice()),
      onAttention: (l: number, s: number, att: Float32Array) =>
        into.set(`att${l}.${s}`, att.slice()),
    });
    const want = new Map<string, Float32Array>();
    whole.model.forward(segs, () => {}, record(want));
    const got = new Map<string, Float32Array>();
    let x: Float32Array | undefined;
    for (const p of parts) x = p.model.forwardLayers(segs, x, record(got));
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    expect([...got.keys()]).toContain("x3");
    for (const [k, v] of want) expectBits(got.get(k)!, v);
  });

  it("Should refuse logits or embedding in a stage that has no wte", async () => {
    const { parts } = await convertAndLoad(SOURCE_DIR, path.join(tmp, "refuse"), "q8", {
      count: 2,
    });
    const segs: Segment[] = [{ slot: 0, pos0: 0, ids: [1, 2], logits: "last" }];
    expect(() => parts[1].model.forwardLayers(segs)).toThrow(/only the first stage embeds/);
    const x = new Float32Array(2 * 256);
    expect(() => parts[1].model.logitsFrom(segs, x, () => {})).toThrow(/only the first stage/);
    expect(() => parts[1].model.forwardLayers(segs, x.subarray(1))).toThrow(/2 rows need 512/);
  });
});

describe("a GPT-2-124M-wide model (C 768, V 50257, 4 layers) in 2 stages", () => {
  let staged: Awaited<ReturnType<typeof convertAndLoad>>;
  beforeAll(async () => {
    const hf = randomGpt2(4, path.join(ROOT, "build", "test")); // written once, then reused
    const stages = { count: 2, slots: 3, context: 128, kv: "q8" } as const;
    staged = await convertAndLoad(hf, path.join(tmp, "gpt2-q4"), "q4", stages);
  }, 60_000);

  it("Should give the whole model's logits bit for bit (q4 weights, int8 KV)", () => {
    // balanced by memory: the first stage, with wte (24 MiB of q4) and wpe, gets fewer layers
    expect(staged.m.stages!.list.map((s) => s.layers)).toEqual([
      [0, 1],
      [1, 4],
    ]);
    const wide = Array.from({ length: 64 }, (_, i) => (i * 7919 + 13) % 50257);
    expectSameLogits(staged.whole, staged.parts, wide, 2);
  });
});
