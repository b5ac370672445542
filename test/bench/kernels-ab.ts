// A/B of two kernel builds in one process, for "no kernel slower" checks (assembly/PERF.md):
// single kernel calls on GPT-2 124M shapes (both builds instantiated over one memory, so the same
// data at the same addresses) and the GPT-2 124M random models' and the tiny test model's decode,
// prefill and batched decode, old and new build interleaved (the order alternating per round),
// medians of the rounds.
//   npx tsx test/bench/kernels-ab.ts <old-build-dir> [rounds] [filter ...]
// Filters pick rows by a part of their name: "matmulQuant q4", "relaxed gpt2 124M q4", "T=1 ", ...
// <old-build-dir> holds kernels.wasm and kernels-relaxed.wasm of the old sources (PERF.md: how).
// An old build from before matmulQuant (exports matmulQ8, matmulQ4, attentionQ8: 6faade0..a85ea99)
// runs behind today's interface (legacyKernels), and then the new build's calls of the kernels
// that changed go through the same kind of JS wrapper, so both sides pay the same call.

import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import {
  enableRelaxedSimd,
  type KernelVariant,
  V8_MAJOR,
  workerdCodegen,
} from "../../src/kernels/node.js";
import { q4ScratchBytes, quantBytes, scaleCount } from "../../src/kernels/quant.js";
import { DTYPE_CODE, type Kernels, type Ptr } from "../../src/kernels/types.js";
import { instantiateKernels } from "../../src/kernels/wasm.js";
import { GPT2 } from "../../src/model/gpt2.js";
import { fillUniform, mulberry32 } from "../unit/helpers/random.js";
import { FIXTURE_DIR, ROOT } from "../setup/paths.js";
import { fillKv, gpt2Dir, ids, loadBenchModel } from "./kernels.js";
import { median } from "./row.js";

const [oldDir, roundsArg = "31", ...only] = process.argv.slice(2);
if (!oldDir) {
  console.error("usage: npx tsx test/bench/kernels-ab.ts <old-build-dir> [rounds] [filter ...]");
  process.exit(2);
}
const ROUNDS = Number(roundsArg);
const TARGET_MS = 5;
const SIDE_MS = 1500; // at least this long on each side: long calls get more rounds
/** A row runs when no filter is given, or when its name contains one of them. */
const want = (name: string) => only.length === 0 || only.some((f) => name.includes(f));
const FILES: Record<KernelVariant, string> = {
  baseline: "kernels.wasm",
  relaxed: "kernels-relaxed.wasm",
};

function compile(dir: string, variant: KernelVariant): WebAssembly.Module {
  const Compile = WebAssembly.Module as unknown as new (b: Uint8Array) => WebAssembly.Module;
  return new Compile(readFileSync(join(dir, FILES[variant])));
}

/**
 * CPU ms per call of a and of b (process.cpuUsage: the time this process ran, to which the other
 * tenants of a shared machine add far less than to wall time; the process has one busy thread).
 * Calls per timing chosen so one takes ~TARGET_MS, one warm-up each, then ROUNDS rounds of both,
 * or more to fill SIDE_MS, a first in even rounds. The figure to read is the median per-round
 * ratio b/a (an old/old run of this tool stays within ±0.5% with it); best and medians come too.
 */
function ab(a: () => void, b: () => void) {
  const time = (f: () => void, reps: number) => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) f();
    const t = process.cpuUsage(t0);
    return (t.user + t.system) / 1e3 / reps;
  };
  const once = Math.max(time(a, 1), time(b, 1), 1e-3);
  const reps = Math.max(1, Math.round(TARGET_MS / once));
  time(a, reps);
  time(b, reps);
  const ta: number[] = [];
  const tb: number[] = [];
  const rounds = Math.max(ROUNDS, Math.ceil(SIDE_MS / (reps * once)));
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) (ta.push(time(a, reps)), tb.push(time(b, reps)));
    else (tb.push(time(b, reps)), ta.push(time(a, reps)));
  }
  const best = (ts: number[]) => Math.min(...ts);
  return {
    best: [best(ta), best(tb)],
    median: [median(ta), median(tb)],
    ratio: median(tb.map((t, i) => t / ta[i])),
  };
}

function report(name: string, r: ReturnType<typeof ab>) {
  const ms = (t: number[]) => `${t[0].toFixed(3)} / ${t[1].toFixed(3)}`;
  const pct = (x: number) => `${x >= 1 ? "+" : ""}${((x - 1) * 100).toFixed(1)}%`;
  console.log(
    `${name.padEnd(48)} best ${ms(r.best).padStart(17)} ms ${pct(r.best[1] / r.best[0]).padStart(6)}` +
      `  median ${ms(r.median).padStart(17)} ms, per-round ratio ${pct(r.ratio).padStart(6)}`,
  );
}

/** The old and the new build over one memory (see the header for an old build's interface). */
function instantiateBoth(
  oldMod: WebAssembly.Module,
  newMod: WebAssembly.Module,
  memory: WebAssembly.Memory,
): [Kernels, Kernels] {
  const fresh = instantiateKernels(newMod, memory);
  const legacy = !WebAssembly.Module.exports(oldMod).some((e) => e.name === "matmulQuant");
  if (!legacy) return [instantiateKernels(oldMod, memory), fresh];
  const wrapped: Kernels = {
    ...fresh,
    matmulQuant: (out, x, xq, xs, w, ws, b, T, n, d, dtype) =>
      fresh.matmulQuant(out, x, xq, xs, w, ws, b, T, n, d, dtype),
    attention: (out, att, q, qs, k, ks, v, vs, T, pos0, C, NH, qStride, dtype) =>
      fresh.attention(out, att, q, qs, k, ks, v, vs, T, pos0, C, NH, qStride, dtype),
  };
  return [legacyKernels(oldMod, memory), wrapped];
}

/** A build with matmulQ8 / matmulQ4 / attentionQ8 behind today's Kernels interface. */
function legacyKernels(mod: WebAssembly.Module, memory: WebAssembly.Memory): Kernels {
  const abort = () => {
    throw new Error("WASM kernel aborted (old build)");
  };
  const e = new WebAssembly.Instance(mod, { env: { memory, abort } }).exports as Record<
    string,
    (...args: Ptr[]) => void
  >;
  const k = e as unknown as Kernels;
  return {
    ...k,
    memory,
    matmulQuant: (out, x, xq, xs, w, ws, b, T, n, d, dtype) =>
      dtype === DTYPE_CODE.q8
        ? e.matmulQ8(out, xq, xs, w, ws, b, T, n, d)
        : e.matmulQ4(out, x, xq, w, ws, b, T, n, d),
    attention: (out, att, q, qs, k, ks, v, vs, T, pos0, C, NH, qStride, dtype) =>
      dtype === DTYPE_CODE.q8
        ? e.attentionQ8(out, att, q, qs, k, ks, v, vs, T, pos0, C, NH, qStride)
        : e.attention(out, att, q, k, v, T, pos0, C, NH, qStride),
  };
}

/** Single calls on GPT-2 124M shapes, both builds over one memory. */
function kernelCalls(
  variant: KernelVariant,
  oldMod: WebAssembly.Module,
  newMod: WebAssembly.Module,
) {
  const memory = new WebAssembly.Memory({ initial: 8192, maximum: 8192 }); // 512 MiB
  const [A, B] = instantiateBoth(oldMod, newMod, memory);
  const rng = mulberry32(7);
  let at = 65536;
  const take = (bytes: number) => (
    (at += Math.ceil(bytes / 64) * 64),
    at - Math.ceil(bytes / 64) * 64
  );
  const f32 = (n: number, lo = -1, hi = 1) => {
    const p = take(n * 4);
    fillUniform(new Float32Array(memory.buffer, p, n), rng, lo, hi);
    return p;
  };
  const bytes = (n: number) => {
    const p = take(n);
    const u = new Uint8Array(memory.buffer, p, n);
    for (let i = 0; i < n; i++) u[i] = (rng() * 256) & 0xff;
    return p;
  };
  const C = 768;
  const V = 50257;
  const cases: [string, (k: Kernels) => void][] = [];
  for (const [T, d] of [
    [1, 3 * C],
    [1, V], // 154 MB: from DRAM, as every weight in decode
    [8, 3 * C],
    [128, C],
  ]) {
    const x = f32(T * C);
    const w = f32(d * C, -0.05, 0.05);
    const b = f32(d);
    const out = take(T * d * 4);
    cases.push([`matmul T=${T} n=${C} d=${d}`, (k) => k.matmul(out, x, w, b, T, C, d)]);
  }
  for (const [T, n, d] of [
    [1, C, 3 * C],
    [8, C, 3 * C],
    [128, C, C],
    [8, 4 * C, C],
    [128, 4 * C, C],
    [1, C, V],
  ]) {
    const x = f32(T * n, -3, 3);
    const xq = take(Math.max(q4ScratchBytes(T, n), T * n));
    const xs = take((T * n) / 8);
    const out = take(T * d * 4);
    const b = f32(d);
    for (const dt of ["q8", "q4"] as const) {
      const w = bytes(quantBytes(d, n, dt));
      const ws = f32(scaleCount(d, n), 0.001, 0.002);
      const name = `matmulQuant ${dt} T=${T} n=${n} d=${d}`;
      if (dt === "q8") A.quantize(xq, xs, x, T, n); // q4 quantizes x into xq itself
      const code = DTYPE_CODE[dt];
      cases.push([name, (k) => k.matmulQuant(out, x, xq, xs, w, ws, b, T, n, d, code)]);
    }
  }
  {
    const NH = 12;
    const L = 1024;
    const T = 1;
    const pos0 = L - 1;
    const q = bytes(3 * C);
    const qs = f32((3 * C) / 32, 0.01, 0.02);
    const kc = bytes(L * C);
    const vc = bytes(L * C);
    const ks = f32((L * C) / 32, 0.001, 0.002);
    const vs = f32((L * C) / 32, 0.001, 0.002);
    const att = take(NH * L * 4);
    const out = take(C * 4);
    cases.push([
      `attention q8 T=1 at position ${pos0}`,
      (k) => k.attention(out, att, q, qs, kc, ks, vc, vs, T, pos0, C, NH, 3 * C, DTYPE_CODE.q8),
    ]);
    const [qf, kf, vf] = [f32(3 * C), f32(L * C), f32(L * C)]; // an f32 KV cache
    cases.push([
      `attention f32 T=1 at position ${pos0}`,
      (k) => k.attention(out, att, qf, 0, kf, 0, vf, 0, T, pos0, C, NH, 3 * C, DTYPE_CODE.f32),
    ]);
  }
  for (const [name, call] of cases) {
    if (!want(`${variant} ${name}`)) continue;
    report(
      `${variant} ${name}`,
      ab(
        () => call(A),
        () => call(B),
      ),
    );
  }
}

/**
 * Decode (at 128 and near the end of the context), prefill and batched decode of a model through
 * both builds: one loaded model, the new build instantiated over its memory too, so both read the
 * same weights at the same addresses (two copies of a model would differ in physical placement).
 */
async function model(
  label: string,
  [dir, name]: [string, string],
  oldMod: WebAssembly.Module,
  newMod: WebAssembly.Module,
) {
  const lm = await loadBenchModel(dir, name, newMod);
  fillKv(lm);
  const gpt2 = instantiateBoth(oldMod, newMod, lm.kernels.memory).map(
    (k) => new GPT2(lm.manifest, lm.plan, k),
  );
  const V = lm.manifest.config.n_vocab;
  const tok = ids(16, 1, V);
  const prompt = ids(128, 2, V);
  const decode =
    (m: GPT2, pos0 = 128) =>
    () => {
      for (let i = 0; i < 16; i++) {
        m.forward([{ slot: 0, pos0: pos0 + i, ids: [tok[i]], logits: "last" }], () => {});
      }
    };
  const prefill = (m: GPT2) => () =>
    m.forward([{ slot: 0, pos0: 0, ids: prompt, logits: "last" }], () => {});
  const batched = (m: GPT2) => () => {
    for (let i = 0; i < 4; i++) {
      const segs = Array.from({ length: 8 }, (_, s) => ({
        slot: s,
        pos0: 128 + i,
        ids: [tok[(i + s) % 16]],
        logits: "last" as const,
      }));
      m.forward(segs, () => {});
    }
  };
  report(`${label} decode ctx 128, 16 tokens`, ab(decode(gpt2[0]), decode(gpt2[1])));
  const far = lm.plan.context - 16; // the bench's "decode ctx 1024": attention over ~1k keys
  report(`${label} decode ctx ${far}, 16 tokens`, ab(decode(gpt2[0], far), decode(gpt2[1], far)));
  report(`${label} prefill 128`, ab(prefill(gpt2[0]), prefill(gpt2[1])));
  report(`${label} batched decode 8 seqs, 4 steps`, ab(batched(gpt2[0]), batched(gpt2[1])));
}

console.log(
  `${cpus()[0].model}, ${cpus().length} cores; old ${oldDir}, new build/; ${ROUNDS} rounds`,
);
enableRelaxedSimd();
// TurboFan from the first call: on a loaded machine the background tier-up can land mid-run,
// in one build and not the other.
// Set at run time only in V8 11 (Node 20); a newer V8 aborts on it here: pass it on the command
// line (`node --no-liftoff --import tsx test/bench/kernels-ab.ts ...`).
if (V8_MAJOR < 12) setFlagsFromString("--no-liftoff");
if (!process.env.NODE_CODEGEN) workerdCodegen(); // explicit bounds checks, as the Worker runs them
const variants = ["baseline", "relaxed"] as const;
// GPT-2 124M's weights stream from DRAM at T = 1; the tiny model's stay in cache
const MODELS: [string, () => [dir: string, name: string]][] = [
  ["gpt2 124M f32", () => [gpt2Dir("f32"), "gpt2-random"]],
  ["gpt2 124M q8", () => [gpt2Dir("q8"), "gpt2-random"]],
  ["gpt2 124M q4", () => [gpt2Dir("q4"), "gpt2-random"]],
  ["tiny f32", () => [FIXTURE_DIR, "tiny-shakespeare"]],
];
// every module compiled before anything runs, so a rebuild meanwhile cannot slip into the run
const mods = variants.map((v) => [compile(oldDir, v), compile(join(ROOT, "build"), v)] as const);
for (const [i, variant] of variants.entries()) {
  const [oldMod, newMod] = mods[i];
  kernelCalls(variant, oldMod, newMod);
  for (const [label, where] of MODELS) {
    const name = `${variant} ${label}`;
    if (want(name)) await model(name, where(), oldMod, newMod);
  }
}
