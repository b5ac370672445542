// The stage plan (src/model/stages.ts): cuts that fit the budget by plan.ts's own numbers, the
// fewest for auto, balanced for N, refusals with the numbers; the manifest each stage loads,
// read back through a store; and the real GPT-2 shapes at the default 112 MiB.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Manifest, StagePlan } from "../../src/model/manifest.js";
import { layout, ModelTooLargeError, planMemory, planServing } from "../../src/model/plan.js";
import {
  planStages,
  stageManifest,
  stagePlanOptions,
  type StageOptions,
} from "../../src/model/stages.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { readManifest } from "../../weights/inspect.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { FIXTURE_DIR, SOURCE_DIR } from "../setup/paths.js";
import { readImage } from "./helpers/image.js";
import { shapeManifest } from "./helpers/shapes.js";

const MiB = 2 ** 20;
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
/** As the Worker plans: 64-row passes, 8 logit rows; one slot of the whole context. */
const SERVE = { rows: 64, logitRows: 8, slots: 1 };

let tiny: Manifest; // the default model, f32, as converted for the tests (4 layers, C 256)
beforeAll(() => (tiny = readManifest(FIXTURE_DIR)));

/** Each stage's memory plan, by plan.ts from the manifest that stage loads (shards left out). */
const stagePlans = (m: Manifest, plan: StagePlan) =>
  plan.list.map((_, i) =>
    layout(stageManifest({ ...m, shards: [], stages: plan }, i), stagePlanOptions(plan)),
  );

/** The largest stage of a cut given as layer counts, planned as stageManifest + layout. */
function largest(m: Manifest, plan: StagePlan, counts: number[]): number {
  let first = 0;
  const list = counts.map((n) => {
    const layers: [number, number] = [first, (first += n)];
    return { layers, shards: [], memory: { total: 0, weights: 0, kv: 0, scratch: 0 } };
  });
  return Math.max(...stagePlans(m, { ...plan, list }).map((p) => p.totalBytes));
}

/** Stages are non-empty contiguous runs covering every layer once, in order. */
function expectContiguous(plan: StagePlan, L: number) {
  expect(plan.list[0].layers[0]).toBe(0);
  expect(plan.list.at(-1)!.layers[1]).toBe(L);
  plan.list.forEach(({ layers: [first, end] }, i) => {
    expect(end).toBeGreaterThan(first);
    if (i) expect(first).toBe(plan.list[i - 1].layers[1]);
  });
}

describe("planStages", () => {
  it("Should refuse int8 KV for heads of 16 (no whole block of 32), and plan f32 for auto", () => {
    // The default model with 16 heads: C 256, heads of 16. The attention kernel's int8 path
    // reads whole blocks of 32 values a head, so int8 KV would give every q·k 0.
    const narrow = { ...tiny, config: { ...tiny.config, n_head: 16 } };
    const opts: StageOptions = { ...SERVE, budgetBytes: 64 * MiB, stages: 1 };
    expect(() => planStages(narrow, { ...opts, kv: "q8" })).toThrowError(
      /int8 KV needs n_embd and the head size to be multiples of 32; .* heads of 16/,
    );
    expect(planStages(narrow, { ...opts, kv: "auto" }).kv).toBe("f32");
    expect(() => planServing(narrow, { ...SERVE, budgetBytes: 64 * MiB, kv: "q8" })).toThrowError(
      /int8 KV needs/,
    );
    expect(planStages(tiny, { ...opts, kv: "q8" }).kv).toBe("q8"); // heads of 64: fine
  });

  it("Should cut the tiny model into the fewest stages that fit a small budget", () => {
    const budgetBytes = 8 * MiB; // the whole f32 model needs ~17 MiB
    const opts: StageOptions = { ...SERVE, budgetBytes, stages: "auto" };
    const plan = planStages(tiny, opts);
    expect(plan.list.length).toBeGreaterThanOrEqual(2);
    expectContiguous(plan, 4);
    stagePlans(tiny, plan).forEach((p, i) => {
      expect(p.totalBytes).toBeLessThanOrEqual(budgetBytes);
      expect(p.totalBytes).toBe(plan.list[i].memory.total);
      const again = planMemory(
        stageManifest({ ...tiny, shards: [], stages: plan }, i),
        stagePlanOptions(plan),
      );
      expect(again.totalBytes).toBeLessThanOrEqual(budgetBytes);
    });
    // the fewest: one stage fewer does not fit, however cut
    const fewer = { ...opts, stages: plan.list.length - 1 };
    expect(() => planStages(tiny, fewer)).toThrow(ModelTooLargeError);
  });

  it("Should cut into exactly N balanced stages: no single boundary move shrinks the largest", () => {
    for (const n of [2, 3, 4]) {
      const plan = planStages(tiny, { ...SERVE, budgetBytes: 112 * MiB, stages: n });
      expect(plan.list).toHaveLength(n);
      expectContiguous(plan, 4);
      const counts = plan.list.map(({ layers: [a, b] }) => b - a);
      const best = largest(tiny, plan, counts);
      expect(best).toBe(Math.max(...plan.list.map((s) => s.memory.total)));
      for (let k = 0; k + 1 < n; k++)
        for (const d of [-1, 1]) {
          const moved = counts.slice();
          [moved[k], moved[k + 1]] = [moved[k] + d, moved[k + 1] - d];
          if (moved[k] && moved[k + 1])
            expect(largest(tiny, plan, moved)).toBeGreaterThanOrEqual(best);
        }
    }
  });

  it("Should give the first stage a smaller share of layers when it holds the embedding", () => {
    const m = shapeManifest("gpt2-medium", "q4");
    const plan = planStages(m, { ...SERVE, budgetBytes: 112 * MiB, stages: 3 });
    const counts = plan.list.map(({ layers: [a, b] }) => b - a);
    expect(counts[0]).toBeLessThan(counts[1]);
    const max = Math.max(...plan.list.map((s) => s.memory.total));
    expect(largest(m, plan, [8, 8, 8])).toBeGreaterThan(max); // equal layer counts: worse
  });

  it("Should refuse with the numbers when one layer alone does not fit", () => {
    const opts: StageOptions = { ...SERVE, budgetBytes: 3 * MiB, stages: "auto" }; // a layer is 3.0 MiB of f32
    expect(() => planStages(tiny, opts)).toThrow(ModelTooLargeError);
    expect(() => planStages(tiny, opts)).toThrow(/does not fit even with one layer per stage/);
    expect(() => planStages(tiny, opts)).toThrow(/needs \d+\.\d MiB of WASM memory \(weights /);
    expect(() => planStages(tiny, opts)).toThrow(/budget is 3\.0 MiB.*--dtype q8 or q4/);
  });

  it("Should refuse N stages that cannot fit, naming the cut and the fix", () => {
    const opts: StageOptions = { ...SERVE, budgetBytes: 8 * MiB, stages: 1 };
    expect(() => planStages(tiny, opts)).toThrow(
      /cut into 1 stage\(s\) \(layers 0-3\).*--stages auto/,
    );
    expect(() => planStages(tiny, { ...opts, stages: 5 })).toThrow(/from 1 to n_layer 4/);
  });

  it("Should prefer the exact f32 KV cache unless int8 needs fewer stages", () => {
    const m = shapeManifest("gpt2-medium", "q4");
    const opts = { ...SERVE, budgetBytes: 112 * MiB };
    expect(planStages(tiny, { ...opts, stages: 2 }).kv).toBe("f32");
    const auto = planStages(m, opts);
    expect(auto.kv).toBe("q8");
    expect(auto.list.length).toBeLessThan(planStages(m, { ...opts, kv: "f32" }).list.length);
  });
});

describe("a stage's memory plan", () => {
  const plan = (m: Manifest, n: number) =>
    planStages(m, { ...SERVE, slots: 2, budgetBytes: 1024 * MiB, stages: n, kv: "f32" });

  it("Should hold the KV cache of its own layers only, and logits only in the first stage", () => {
    const p = plan(tiny, 3);
    const [first, middle] = stagePlans(tiny, p);
    const whole = layout(tiny, stagePlanOptions(p));
    const layers = p.list.map(({ layers: [a, b] }) => b - a);
    p.list.forEach((s, i) => expect(s.memory.kv).toBe((whole.breakdown.kv / 4) * layers[i]));
    const { n_vocab: V, n_embd: C } = tiny.config;
    expect(middle.logitRows).toBe(0);
    expect(first.breakdown.scratch - middle.breakdown.scratch).toBeGreaterThanOrEqual(
      8 * V * 4 + 8 * C * 4,
    );
    expect(first.breakdown.scratch).toBe(whole.breakdown.scratch); // the first stage scratch = the model's
  });

  it("Should plan q4 scratch only in stages with q4 tensors (a q4 wte, f32 layers)", () => {
    const q4wte = shapeManifest("distilgpt2", "f32", "q4");
    const f32 = shapeManifest("distilgpt2", "f32");
    const [a, b] = [stagePlans(q4wte, plan(q4wte, 2)), stagePlans(f32, plan(f32, 2))];
    expect(a[1].breakdown.scratch).toBe(b[1].breakdown.scratch);
    expect(a[0].breakdown.scratch).toBeGreaterThan(b[0].breakdown.scratch);
  });
});

// 256 KiB shards: c_fc (1 MiB of f32) spans several, and every stage has several; 16 MiB: the
// whole tiny model would fit one shard, so only the cut at stage boundaries separates them.
describe.each([
  ["256 KiB", 256 << 10],
  ["16 MiB", undefined],
])("stageManifest, %s shards", (_, maxShardBytes) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "stages-test-"));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  let m: Manifest;
  beforeAll(() => {
    const stages = { count: 3, budgetMb: 112 } as const;
    m = convertCheckpoint(SOURCE_DIR, tmp, { maxShardBytes, stages }).manifest;
  });

  it("Should give the first stage wte, wpe and ln_f, and every layer's tensors to its stage", () => {
    const names = m.stages!.list.map((_, i) => stageManifest(m, i).tensors.map((t) => t.name));
    expect(names[0]).toEqual(expect.arrayContaining(["wte", "wpe", "ln_f.weight", "ln_f.bias"]));
    m.stages!.list.forEach(({ layers: [first, end] }, i) => {
      const layers = new Set(names[i].flatMap((n) => /^h\.(\d+)\./.exec(n)?.[1] ?? []).map(Number));
      expect([...layers]).toEqual(Array.from({ length: end - first }, (_, k) => first + k));
      if (i) expect(names[i].every((n) => n.startsWith("h."))).toBe(true);
    });
    expect(names.flat().sort()).toEqual(m.tensors.map((t) => t.name).sort()); // each exactly once
  });

  it("Should rebase every tensor onto its stage's shards, same bytes, read through a store", async () => {
    const whole = readImage(tmp, m);
    const store = modelDirStore(tmp, m.name);
    const shards: string[] = [];
    for (let i = 0; i < m.stages!.list.length; i++) {
      const s = stageManifest(m, i);
      expect(s.stage).toEqual({ index: i, count: 3, layers: m.stages!.list[i].layers });
      const image = new Uint8Array(s.image_bytes);
      let at = 0;
      for (const f of s.shards) {
        expect(f.offset).toBe(at); // the stage's image is its shards, concatenated
        const bytes = new Uint8Array(
          await (await store.get(`models/${m.name}/${f.file}`))!.arrayBuffer(),
        );
        image.set(bytes, f.offset);
        at += bytes.length;
        shards.push(f.file);
      }
      expect(at).toBe(s.image_bytes);
      for (const t of s.tensors) {
        const orig = m.tensors.find((o) => o.name === t.name)!;
        expect(t.offset % 16).toBe(0);
        const got = image.subarray(t.offset, t.offset + t.bytes);
        expect(
          Buffer.compare(got, whole.subarray(orig.offset, orig.offset + orig.bytes)),
          t.name,
        ).toBe(0);
      }
    }
    expect(shards.sort()).toEqual(m.shards.map((f) => f.file).sort()); // each shard in one stage
  });

  it("Should refuse a stage whose shards do not tile its part of the image", () => {
    const list = m.stages!.list.map((s) => ({ ...s }));
    list[1].shards = [...list[1].shards, list[2].shards[0]]; // another stage's shard
    expect(() => stageManifest({ ...m, stages: { ...m.stages!, list } }, 1)).toThrow(/reconvert/);
    list[1].shards = list[1].shards.slice(0, -2); // one short
    expect(() => stageManifest({ ...m, stages: { ...m.stages!, list } }, 1)).toThrow(
      /not its whole part/,
    );
    expect(() => stageManifest(tiny, 0)).toThrow(/no stage plan; convert it with --stages/);
  });
});

describe("GPT-2 medium, large and XL at q4 in 112 MiB isolates (1 slot, context 1024)", () => {
  for (const shape of ["gpt2-medium", "gpt2-large", "gpt2-xl"] as const) {
    it(`Should cut ${shape} into stages that each fit`, () => {
      const m = shapeManifest(shape, "q4");
      const plan = planStages(m, { ...SERVE, budgetBytes: 112 * MiB, context: 1024 });
      expectContiguous(plan, m.config.n_layer);
      const plans = stagePlans(m, plan);
      for (const p of plans) expect(p.totalBytes).toBeLessThanOrEqual(112 * MiB);
      console.log(
        `${shape} q4: ${plan.list.length} stages (${plan.kv} KV): ` +
          plan.list
            .map((s, i) => `${s.layers[0]}-${s.layers[1] - 1} ${mib(plans[i].totalBytes)}`)
            .join(", "),
      );
    });
  }
});
