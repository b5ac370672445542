// Kernels against this machine's limits, one core, one run: first the limits (assembly/probe.ts:
// peak f32x4 mul + add, relaxed madd, int8 dots, streaming bandwidth), then the forward pass of
// GPT-2 124M shapes (random weights, f32 / q8 / q4) and of the default tiny-shakespeare model,
// through the baseline and the relaxed-SIMD kernels, each as a fraction of its roofline:
//   decode (T = 1): reads every weight once, so tokens/s <= bandwidth / model bytes;
//   prefill of T tokens and batched decode of B sequences: 2·T FLOPs per linear weight (the
//   unembedding only for the rows that need logits), so GFLOP/s <= the SIMD peak.
// The host this runs on slows down by up to half for seconds at a time (another tenant on the core:
// CPU time slows with wall time). So every model is loaded first, then timed in ROUNDS rounds
// that each run every row once, the limits are measured again after every round, and each
// figure is the best of its runs, as each limit is: the share of a roofline compares the fastest
// the code ran with the fastest the core ran. The median is printed beside it; a ratio of two rows
// (batched decode ÷ prefill) is the median of per-round ratios, two runs next to each other.
// Alone: npx tsx test/bench/kernels.ts [gpt2|tiny]

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  loadKernelModule,
  loadWasm,
  type KernelVariant,
  workerdCodegen,
} from "../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../src/model/loader.js";
import type { DType, Manifest } from "../../src/model/manifest.js";
import { kvAddress } from "../../src/model/plan.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { FIXTURE_DIR } from "../setup/paths.js";
import { convertedGpt2 } from "./gpt2-random.js";
import { median, type Row } from "./row.js";

const ROUNDS = 9;
const STEPS = 16; // decode steps per timed run
const PREFILL = 128;
const BATCH = 8;
const STREAM_BYTES = 512 * 2 ** 20;
const CACHED_BYTES = 64 * 2 ** 20; // a model this small stays in the caches between its runs
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

interface Limits {
  mulAdd: number; // GFLOP/s, baseline f32x4 mul + add
  madd: number; // GFLOP/s, f32x4.relaxed_madd
  dotI16: number; // GOP/s (2 per multiply-add), i32x4.dot_i16x8_s
  dotI8: number; // GOP/s, i32x4.relaxed_dot_i8x16_i7x16_add_s
  bandwidth: number; // GB/s, v128 loads streaming STREAM_BYTES: the best of `streams` and `parts`
  streams: Record<number, number>; // GB/s with k interleaved streams over the same bytes
  parts: Record<number, number>; // GB/s reading logits-sized matrices in k parts side by side
}

const STREAMS = [1, 2, 4, 8];
const PARTS = [2, 4, 8];
// The matrix `parts` reads, as many as fit in STREAM_BYTES: GPT-2's logits, the biggest T = 1
// matmul of a decode step (V rows of 768 floats), cut into k parts of whole rows as rows4 cuts it.
const [V_ROWS, ROW_BYTES] = [50257, 768 * 4];
const partBytes = (k: number) => Math.floor(V_ROWS / k) * ROW_BYTES;
const MATRICES = Math.floor(STREAM_BYTES / (V_ROWS * ROW_BYTES));

/** Seconds of fn over `runs` runs after one warm-up: the best (the limits' statistic). */
function best(fn: () => void, runs: number): number {
  fn();
  let t = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    t = Math.min(t, (performance.now() - t0) / 1e3);
  }
  return t;
}

/** The probes over one memory, written once; each call measures every limit again. */
function limitProbe(): () => Limits {
  loadKernelModule("relaxed"); // sets V8's relaxed-SIMD flag before probe-relaxed compiles
  const pages = Math.ceil((STREAM_BYTES + (1 << 20)) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const inst = (file: string) =>
    new WebAssembly.Instance(loadWasm(file), { env: { memory, abort: () => {} } })
      .exports as Record<string, (...args: number[]) => number>;
  const base = inst("probe.wasm");
  const relaxed = inst("probe-relaxed.wasm");
  // m = 1 - 1e-7 and c = 1e-3 keep every chain normal (no denormals, no overflow) for N steps.
  new Float32Array(memory.buffer, 0, 64)
    .fill(1)
    .fill(1 - 1e-7, 0, 4)
    .fill(1e-3, 4, 8);
  // Written, not just allocated: untouched pages all map to one zero page that stays in cache.
  new Uint8Array(memory.buffer, 1 << 20, STREAM_BYTES).fill(7);
  const N = 20_000_000;
  // A limit is what the core can do: the best of 7, not the median. The bandwidth probes take the
  // best of 15 (~20 ms each): what the other cores draw from memory changes from one second to
  // the next, more than the compute they leave this core.
  const rate = (fn: () => void, work: number, runs = 7) => work / best(fn, runs) / 1e9;
  const bw = (fn: () => void, work: number) => rate(fn, work, 15);
  return () => {
    const streams = Object.fromEntries(
      STREAMS.map((k) => [k, bw(() => base.streams(1 << 20, STREAM_BYTES, k), STREAM_BYTES)]),
    );
    const parts = Object.fromEntries(
      PARTS.map((k) => [
        k,
        bw(() => base.parts(1 << 20, partBytes(k), k, MATRICES), MATRICES * k * partBytes(k)),
      ]),
    );
    return {
      mulAdd: rate(() => base.peakMulAdd(0, N), N * 12 * 4),
      madd: rate(() => relaxed.peakMadd(0, N), N * 12 * 8),
      dotI16: rate(() => base.peakDotI16(256, N), N * 12 * 16),
      dotI8: rate(() => relaxed.peakDotI8(256, N), N * 12 * 32),
      bandwidth: Math.max(...Object.values(streams), ...Object.values(parts)),
      streams,
      parts,
    };
  };
}

/** The best of two measurements of the limits, limit by limit. */
function bestLimits(a: Limits, b: Limits): Limits {
  const each = (x: Record<number, number>, y: Record<number, number>) =>
    Object.fromEntries(Object.keys(x).map((k) => [k, Math.max(x[+k], y[+k])]));
  return {
    mulAdd: Math.max(a.mulAdd, b.mulAdd),
    madd: Math.max(a.madd, b.madd),
    dotI16: Math.max(a.dotI16, b.dotI16),
    dotI8: Math.max(a.dotI8, b.dotI8),
    bandwidth: Math.max(a.bandwidth, b.bandwidth),
    streams: each(a.streams, b.streams),
    parts: each(a.parts, b.parts),
  };
}

/**
 * A full garbage collection, so no collection of garbage left by loading (a converted model's
 * buffers, a WebAssembly.Memory of up to 2 GiB from an earlier section) lands in a timed run:
 * when the models were timed one after another, the q8 decode row, right after f32's, read 69-74
 * tok/s in 3 of 5 runs against 110-129 in the others (assembly/PERF.md). Before each load (it
 * keeps the loads' peak down) and once more before the rounds.
 */
function collect(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

/** build/bench/gpt2-<dtype>, converted from the seeded random checkpoint if not current. */
export const gpt2Dir = (dtype: DType): string => convertedGpt2(dtype).dir;

/** Parameters a token multiplies with: the linear layers' weights, and wte (the unembedding). */
function flopWeights(m: Manifest): { body: number; wte: number } {
  let body = 0;
  let wte = 0;
  for (const t of m.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.name === "wte") wte = n;
    else if (t.shape.length === 2 && t.name.startsWith("h.")) body += n;
  }
  return { body, wte };
}

/** f32 models with an f32 KV cache; q8/q4 with the int8 cache they are served with. */
export async function loadBenchModel(
  dir: string,
  name: string,
  kernels: WebAssembly.Module,
): Promise<LoadedModel> {
  const f32 = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")).source?.dtype === "f32";
  return loadModel(modelDirStore(dir, name), name, {
    kernels,
    budgetBytes: 2 ** 31,
    slots: BATCH,
    rows: PREFILL,
    logitRows: BATCH,
    kv: f32 ? "f32" : "q8",
    cache: null,
  });
}

/** Fills every slot's KV cache (f32, or int8 + scales) with small values: decode is valid anywhere. */
export function fillKv(lm: LoadedModel): void {
  const { n_layer: L, n_embd: C } = lm.manifest.config;
  const buf = lm.kernels.memory.buffer;
  const n = lm.plan.context * C;
  for (let s = 0; s < lm.plan.slots; s++) {
    for (let l = 0; l < L; l++) {
      for (const which of [0, 1] as const) {
        const at = kvAddress(lm.plan, lm.manifest.config, s, l, which);
        if (lm.plan.kvDtype === "f32") {
          const a = new Float32Array(buf, at.data, n);
          for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.37 + s + l) * 0.5;
        } else {
          const q = new Int8Array(buf, at.data, n);
          for (let i = 0; i < n; i++) q[i] = Math.round(Math.sin(i * 0.37 + s + l) * 127);
          new Float32Array(buf, at.scales, n / 32).fill(0.5 / 127);
        }
      }
    }
  }
}

export const ids = (n: number, seed: number, V: number) =>
  Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % V);

/**
 * One model through one kernel variant: its timed phases (decode at two contexts, prefill,
 * batched decode), its warm-up before them in each round (after the other models' runs), and
 * what makes its rows once the runs' seconds are in.
 */
interface Prepared {
  phases: (() => void)[];
  warm: () => void;
  timed: (ts: number[][]) => Timed;
}

function prepareModel(label: string, lm: LoadedModel, variant: KernelVariant): Prepared {
  const m = lm.manifest;
  const { n_vocab: V, n_ctx, n_layer, n_embd } = m.config;
  const { body, wte } = flopWeights(m);
  const bytes = m.image_bytes;
  const fwd = lm.model.forward.bind(lm.model);
  fillKv(lm);
  const contexts = [128, Math.min(1024, n_ctx)];
  const decodeAt = (ctx: number) => {
    const pos0 = Math.min(ctx, n_ctx - STEPS);
    const tok = ids(STEPS, 1, V);
    return () => {
      for (let i = 0; i < STEPS; i++) {
        fwd([{ slot: 0, pos0: pos0 + i, ids: [tok[i]], logits: "last" }], () => {});
      }
    };
  };
  const T = Math.min(PREFILL, n_ctx);
  const prompt = ids(T, 2, V);
  const prefill = () => fwd([{ slot: 0, pos0: 0, ids: prompt, logits: "last" }], () => {});
  const batch = Array.from({ length: BATCH }, (_, s) => ({
    slot: s,
    pos: 128,
    tok: ids(STEPS, 3 + s, V),
  }));
  const batched = () => {
    for (let i = 0; i < STEPS; i++) {
      const segs = batch.map((b) => ({
        slot: b.slot,
        pos0: b.pos + i,
        ids: [b.tok[i]],
        logits: "last" as const,
      }));
      fwd(segs, () => {});
    }
  };
  const quant = m.tensors.find((t) => t.dtype !== "f32")?.dtype;
  const kvDtype = lm.plan.kvDtype;
  const tok = ids(1, 9, V);
  const phases = [...contexts.map(decodeAt), prefill, batched];
  return {
    phases,
    // A model that fits in cache (the default one) runs from cache when served: it gets a whole
    // untimed round of its own (~70 ms) after the other models have been through the caches.
    warm:
      bytes < CACHED_BYTES
        ? () => phases.forEach((f) => f())
        : () => fwd([{ slot: 0, pos0: 128, ids: tok, logits: "last" }], () => {}),
    // The figures the rows need, taken out of the model: modelRows makes them from these alone.
    timed: ([dec128, dec1024, pre, bat]) => ({
      label,
      variant,
      quant,
      body,
      wte,
      bytes,
      n_layer,
      n_embd,
      kvDtype,
      contexts,
      T,
      dec: [dec128, dec1024],
      pre,
      bat,
    }),
  };
}

/** One model's timings (seconds per run, per round) and what its rooflines need. */
interface Timed {
  label: string;
  variant: KernelVariant;
  quant: DType | undefined;
  body: number;
  wte: number;
  bytes: number;
  n_layer: number;
  n_embd: number;
  kvDtype: string;
  contexts: number[];
  T: number;
  dec: number[][];
  pre: number[];
  bat: number[];
}

/** A model's rows against the run's limits: each rate the fastest of its runs, the median beside. */
function modelRows(t: Timed, lim: Limits): Row[] {
  const { label, variant, quant, body, wte, bytes, n_layer, n_embd, kvDtype, T, pre, bat } = t;
  const name = (w: string) => `kernels ${label} ${variant}: ${w}`;
  const fastest = (ts: number[]) => Math.min(...ts);
  // Quantized models multiply integers (assembly/matmul-quant.ts, matmul-q4.ts): their reference
  // is the peak of the integer dot their kernel uses, 2 ops per multiply-add like a FLOP: q8's
  // i32x4.dot_i16x8_s in both builds, q4's too in the baseline build, and in the relaxed one its
  // i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw), which the relaxed i8 dot probe is built on.
  const quantized = quant !== undefined;
  const i8 = quant === "q4" && variant === "relaxed";
  const [peak, peakName] = quantized
    ? i8
      ? [lim.dotI8, "relaxed i8 dot peak"]
      : [lim.dotI16, "i32x4.dot_i16x8_s peak"]
    : variant === "relaxed"
      ? [lim.madd, "relaxed madd peak"]
      : [lim.mulAdd, "SIMD peak"];
  const rows: Row[] = [];
  const roof = (lim.bandwidth * 1e9) / bytes; // tokens/s if weight traffic were the only cost
  // tokens/s if the multiply-adds at the peak were the only cost (2 ops per weight and token)
  const computeRoof = (peak * 1e9) / (2 * (body + wte));
  const lower = Math.min(roof, computeRoof);
  const bound = roof <= computeRoof ? "bandwidth" : peakName;
  t.dec.forEach((ts, c) => {
    const ctx = t.contexts[c];
    const rate = STEPS / fastest(ts);
    const kvBytes = kvDtype === "f32" ? 4 : 1 + 4 / 32;
    const kvMiB = (2 * n_layer * ctx * n_embd * kvBytes) / 2 ** 20; // K and V read per token
    const target = ctx === 128 ? ", target 75% (issue #13)" : "";
    rows.push({
      name: name(`decode ctx ${ctx}`),
      value: rate,
      unit: "tokens/s",
      note:
        `median ${(STEPS / median(ts)).toFixed(1)}; ${((rate * bytes) / 1e9).toFixed(1)} GB/s ` +
        `of weights, ${pct(rate / lower)} of the lower roofline ${lower.toFixed(1)} tok/s ` +
        `(${bound}; bandwidth ${roof.toFixed(1)}, compute ${computeRoof.toFixed(1)})${target}; ` +
        `+ ${kvMiB.toFixed(0)} MiB ${kvDtype === "f32" ? "f32" : "int8"} KV/token` +
        (bytes < CACHED_BYTES ? "; model fits in cache" : ""),
    });
  });

  const prefillFlops = 2 * (T * body + wte);
  const prefillG = prefillFlops / fastest(pre) / 1e9;
  rows.push({
    name: name(`prefill ${T}`),
    value: T / fastest(pre),
    unit: "tokens/s",
    note:
      `median ${(T / median(pre)).toFixed(1)}; ${prefillG.toFixed(1)} GFLOP/s, ` +
      `${pct(prefillG / peak)} of ${peakName} ${peak.toFixed(1)}` +
      (quantized ? "" : ` (target ${variant === "relaxed" ? 75 : 80}%)`),
  });

  const batchFlops = STEPS * BATCH * 2 * (body + wte);
  const batchG = batchFlops / fastest(bat) / 1e9;
  // Batched ÷ prefill in work per second, round by round: the two runs sat side by side.
  const perRound = median(bat.map((t, r) => batchFlops / t / (prefillFlops / pre[r])));
  rows.push({
    name: name(`batched decode ${BATCH} seqs ctx 128`),
    value: (STEPS * BATCH) / fastest(bat),
    unit: "tokens/s",
    note:
      `median ${((STEPS * BATCH) / median(bat)).toFixed(1)}; ${batchG.toFixed(1)} GFLOP/s, ` +
      `${pct(perRound)} of prefill (median of per-round ratios; target 75%), ` +
      `${pct(batchG / peak)} of ${peakName}`,
  });
  return rows;
}

export async function benchKernels(which: string[] = []): Promise<Row[]> {
  // The probes' loops keep their operands in registers: the same limits either way (measured).
  workerdCodegen(); // the models' kernels as the Worker runs them (bounds checks, TurboFan)
  const probe = limitProbe();
  let lim = probe();
  let measured = 1;
  const models: [string, () => string, string][] = [
    ["tiny-shakespeare f32", () => FIXTURE_DIR, "tiny-shakespeare"],
    ["gpt2 124M f32", () => gpt2Dir("f32"), "gpt2-random"],
    ["gpt2 124M q8", () => gpt2Dir("q8"), "gpt2-random"],
    ["gpt2 124M q4", () => gpt2Dir("q4"), "gpt2-random"],
  ];
  // Every model stays loaded (~3.5 GiB in all), and each round runs every model's phases once:
  // a model's runs spread over the whole section, so a slow phase of the host (it can last half
  // a minute) takes a few of its runs, not all of them.
  const prepared: Prepared[] = [];
  for (const [label, dir, name] of models) {
    if (which.length && !which.some((w) => label.includes(w))) continue;
    for (const variant of ["baseline", "relaxed"] as const) {
      process.stderr.write(`bench kernels: loading ${label} ${variant}...\n`);
      collect();
      const lm = await loadBenchModel(dir(), name, loadKernelModule(variant));
      prepared.push(prepareModel(label, lm, variant));
    }
  }
  const seconds = prepared.map((p) => p.phases.map(() => [] as number[]));
  collect();
  for (let r = -1; r < ROUNDS; r++) {
    process.stderr.write(`bench kernels: round ${r + 1} of ${ROUNDS} (0: warm-up)\n`);
    prepared.forEach((p, i) => {
      p.warm();
      p.phases.forEach((fn, j) => {
        const t0 = performance.now();
        fn();
        if (r >= 0) seconds[i][j].push((performance.now() - t0) / 1e3);
      });
    });
    // The limits again after every round: a slow phase of the host during one measurement
    // would otherwise flatter every share.
    lim = bestLimits(lim, probe());
    measured++;
  }
  const timed = prepared.map((p, i) => p.timed(seconds[i]));
  const decode: Record<string, number> = {};
  for (const t of timed) decode[`${t.label} ${t.variant}`] = STEPS / Math.min(...t.dec[0]);
  const rows: Row[] = [
    {
      name: "kernels limit: f32x4 mul + add peak",
      value: lim.mulAdd,
      unit: "GFLOP/s",
      note: `one core, 6 mul + 6 add chains, best of 7 × ${measured} measurements`,
    },
    {
      name: "kernels limit: f32x4.relaxed_madd peak",
      value: lim.madd,
      unit: "GFLOP/s",
      note: `12 FMA chains, best of 7 × ${measured}`,
    },
    {
      name: "kernels limit: i32x4.dot_i16x8_s peak",
      value: lim.dotI16,
      unit: "GOP/s",
      note: `2 ops per multiply-add, 12 chains, best of 7 × ${measured}`,
    },
    {
      name: "kernels limit: relaxed_dot_i8x16_i7x16_add_s peak",
      value: lim.dotI8,
      unit: "GOP/s",
      note: `12 chains, best of 7 × ${measured}`,
    },
    {
      name: "kernels limit: memory bandwidth",
      value: lim.bandwidth,
      unit: "GB/s",
      note:
        `v128 loads over ${STREAM_BYTES / 2 ** 20} MiB, the best of ${STREAMS.join(", ")} streams ` +
        `and ${PARTS.join(", ")} parts of a matrix, best of 15 × ${measured} each`,
    },
    ...STREAMS.map((k) => ({
      name: `kernels limit: memory bandwidth, ${k} stream${k > 1 ? "s" : ""}`,
      value: lim.streams[k],
      unit: "GB/s",
      note: `${k} parts of the ${STREAM_BYTES / 2 ** 20} MiB (a power of two apart) read side by side, a line of each per step`,
    })),
    ...PARTS.map((k) => ({
      name: `kernels limit: memory bandwidth, ${k} parts of a matrix`,
      value: lim.parts[k],
      unit: "GB/s",
      note:
        `${MATRICES} matrices of ${V_ROWS} rows of ${ROW_BYTES} bytes (the logits'), each read as ` +
        `rows4 reads it: ${k} parts of whole rows side by side, 16 bytes of each per step`,
    })),
    ...timed.flatMap((t) => modelRows(t, lim)),
  ];
  for (const variant of ["baseline", "relaxed"]) {
    const f32 = decode[`gpt2 124M f32 ${variant}`];
    for (const dt of ["q8", "q4"]) {
      const q = decode[`gpt2 124M ${dt} ${variant}`];
      if (f32 && q) {
        rows.push({
          name: `kernels gpt2 124M ${dt} ${variant}: decode vs f32`,
          value: q / f32,
          unit: "x",
          note: `target ${dt === "q8" ? 4 : 5}x`,
        });
      }
    }
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await benchKernels(process.argv.slice(2));
  for (const r of rows)
    console.log(
      `${r.name.padEnd(58)} ${r.value.toFixed(2).padStart(9)} ${r.unit.padEnd(9)} ${r.note ?? ""}`,
    );
}
