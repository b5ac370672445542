// The staged models of the `stages` bench section: seeded random checkpoints of the real GPT-2
// shapes, BF16 in Hugging Face's sharded layout (build/bench/hf/<shape>, written once per seed),
// cut into stages by `convert --stages` (build/bench/staged/<case>), each redone only when stale.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FORMAT, tensorLayout, type DType, type Manifest } from "../../src/model/manifest.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { SHAPES, writeRandomCheckpoint, type ShapeName } from "../../weights/random.js";
import type { StageRequest } from "../../weights/stage-plan.js";
import { ROOT } from "../setup/paths.js";
import { randomGpt2 } from "./gpt2-random.js";

export const BENCH_DIR = join(ROOT, "build", "bench");
/** Files of at most 300 MiB of tensors: medium in 3, large in 6, xl in 11 (HF's layout). */
const SHARD_MIB = 300;

/** What a case is measured for. */
export type Measure = "decode" | "ttft" | "hops" | "streams" | "once";

export interface StageCase {
  /** The model's name when served, and its folder under build/bench/staged/. */
  name: string;
  shape: ShapeName;
  dtype: DType;
  /** Absent: not staged, served in the gateway's own isolate (the group's budgetMb). */
  stages?: StageRequest;
  measure: Measure[];
  /** Concurrent streams for "streams". */
  streams?: number;
}

/** BENCH_STAGES groups (comma-separated; default medium): the cases each one runs, in one session. */
export const GATEWAY_BUDGET_MB: Record<string, number> = { medium: 1024 };
export const GROUPS: Record<string, StageCase[]> = {
  medium: [
    // the acceptance's model: 3 stages at one slot of 1024 positions, 112 MiB each
    {
      name: "medium-q4",
      shape: "gpt2-medium",
      dtype: "q4",
      stages: { count: "auto" },
      measure: ["decode", "ttft", "hops"],
    },
    // 8 slots per stage, so 8 streams decode together instead of queueing for one slot
    {
      name: "medium-q4-s8",
      shape: "gpt2-medium",
      dtype: "q4",
      stages: { count: "auto", slots: 8 },
      measure: ["decode", "streams", "hops"],
      streams: 8,
    },
    // the same model in 1 and in 3 stages at a budget no isolate has (so both keep an f32 KV
    // cache, as the 112 MiB cut does not): the gap is the pipeline's overhead
    {
      name: "medium-q4-1stage",
      shape: "gpt2-medium",
      dtype: "q4",
      stages: { count: 1, budgetMb: 1024 },
      measure: ["decode"],
    },
    {
      name: "medium-q4-3stage",
      shape: "gpt2-medium",
      dtype: "q4",
      stages: { count: 3, budgetMb: 1024 },
      measure: ["decode", "hops"],
    },
    // and not staged at all: the gateway's own isolate (MEMORY_BUDGET_MB 1024 for this group)
    { name: "medium-q4-flat", shape: "gpt2-medium", dtype: "q4", measure: ["decode"] },
  ],
  gpt2: [
    {
      name: "gpt2-q8-s16",
      shape: "gpt2",
      dtype: "q8",
      stages: { count: "auto", slots: 16 },
      measure: ["decode", "streams", "hops"],
      streams: 16,
    },
  ],
  large: [
    {
      name: "large-q4",
      shape: "gpt2-large",
      dtype: "q4",
      stages: { count: "auto" },
      measure: ["once"],
    },
  ],
  xl: [
    {
      name: "xl-q4",
      shape: "gpt2-xl",
      dtype: "q4",
      stages: { count: "auto" },
      measure: ["decode", "ttft", "hops"],
    },
  ],
  // a session of its own: with xl-q4's 13 stages beside these 17, GET /v1/status hung (> 300 s)
  "xl-s8": [
    // 8 slots of 512 positions: 8 of 1024 do not fit beside wte and wpe (the first stage with
    // layer 0 alone needs 114.3 MiB: 72.6 weights + 28.1 int8 KV + 13.4 scratch)
    {
      name: "xl-q4-s8",
      shape: "gpt2-xl",
      dtype: "q4",
      stages: { count: "auto", slots: 8, context: 512 },
      measure: ["decode", "streams", "hops"],
      streams: 8,
    },
  ],
};

const SEEDS: Record<ShapeName, number> = {
  distilgpt2: 82,
  gpt2: 124,
  "gpt2-medium": 355,
  "gpt2-large": 774,
  "gpt2-xl": 1558,
};

/** build/bench/hf/<shape>: BF16, sharded; gpt2 is the F32 one the other sections share. */
export function randomCheckpoint(shape: ShapeName): string {
  if (shape === "gpt2") return randomGpt2();
  const hf = join(BENCH_DIR, "hf", shape);
  const cfg = join(hf, "config.json");
  const old = existsSync(cfg) ? JSON.parse(readFileSync(cfg, "utf8")) : {};
  const current =
    old.gpt_edge_random?.seed === SEEDS[shape] &&
    old.n_layer === SHAPES[shape].n_layer &&
    old.torch_dtype === "bfloat16" &&
    existsSync(join(hf, "model.safetensors.index.json"));
  if (!current) {
    process.stderr.write(`bench: writing a random ${shape} (BF16, sharded) to ${hf}...\n`);
    const t0 = performance.now();
    writeRandomCheckpoint(hf, {
      shape,
      seed: SEEDS[shape],
      dtype: "BF16",
      maxShardBytes: SHARD_MIB * 2 ** 20,
      log: (s) => process.stderr.write(`  ${s}\n`),
    });
    process.stderr.write(`  in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  return hf;
}

/** The case's model converted with --dtype and --stages, reusing a current earlier conversion. */
export function convertedCase(c: StageCase): { dir: string; manifest: Manifest } {
  const hf = randomCheckpoint(c.shape);
  const dir = join(BENCH_DIR, "staged", c.name);
  const file = join(dir, "manifest.json");
  if (existsSync(file)) {
    const m: Manifest = JSON.parse(readFileSync(file, "utf8"));
    const [s, want] = [m.stages, c.stages];
    const current =
      m.format === FORMAT &&
      m.source?.hf_dir === hf &&
      m.source?.dtype === c.dtype &&
      (s === undefined || want === undefined
        ? s === want
        : (want.count === "auto" || s.list.length === want.count) &&
          s.slots === (want.slots ?? 1) &&
          s.context === (want.context ?? 1024) &&
          s.budget_mb === (want.budgetMb ?? 112)) &&
      m.tensors.every((t) => tensorLayout(t.shape, t.dtype).bytes === t.bytes);
    if (current) return { dir, manifest: m };
  }
  process.stderr.write(`bench: converting ${c.shape} to ${c.name}...\n`);
  const { manifest } = convertCheckpoint(hf, dir, {
    name: c.name,
    dtype: c.dtype,
    stages: c.stages && { budgetMb: 112, ...c.stages },
    log: (s) => process.stderr.write(`  ${s}\n`),
  });
  return { dir, manifest };
}
