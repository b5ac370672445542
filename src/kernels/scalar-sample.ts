// The sampler's passes over a row of logits in plain f64 loops: the scalar twins of
// assembly/sample.ts (scalarKernels wraps them over memory), and what src/sampler/logit-ops.ts
// runs on logits that are not in a kernel module's memory. x[at..at + n). Weights are f64; which
// bucket (expHistOf) or side of a bound (expFindOf) a token is on is decided by the kernels' own
// f32 t = (x - max)·scale (Math.fround of each operation: the same bits), so twins and kernels
// split the tokens the same way.

import { HIST_BUCKETS, HIST_PER_UNIT } from "./types";

const f32 = Math.fround;

/**
 * Index (from at) of the largest x[i], ties → the lowest. Also the sampler's argmax over its own
 * f64 scores (logits after bias and penalties).
 */
export function argmaxOf(x: Float32Array | Float64Array, at: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[at + i] > x[at + best]) best = i;
  return best;
}

/** Σ e^((x[i] - max)·scale), in index order. */
export function expSumOf(
  x: Float32Array,
  at: number,
  n: number,
  max: number,
  scale: number,
): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp((x[at + i] - max) * scale);
  return sum;
}

/** The kernels' t of a logit: (v - max)·scale with every operation rounded to f32, as f32x4's. */
export const t32 = (v: number, max: number, scale: number) => f32(f32(v - max) * f32(scale));

/** expHist's bucket of a t (an f32 value): min(⌊-t · HIST_PER_UNIT⌋, HIST_BUCKETS - 1). */
export const bucketOf = (t: number) => Math.min(Math.floor(-t * HIST_PER_UNIT), HIST_BUCKETS - 1);

/**
 * The first i whose running sum of e^((x - max)·scale) exceeds r, or -1 (r ≥ the total), over the
 * tokens whose t32 is above `above` (-Infinity: every token).
 */
export function expFindOf(
  x: Float32Array,
  at: number,
  n: number,
  max: number,
  scale: number,
  r: number,
  above = -Infinity,
): number {
  let acc = 0;
  const a = f32(above);
  for (let i = 0; i < n; i++) {
    const v = x[at + i];
    if (!(t32(v, max, scale) > a)) continue;
    acc += Math.exp((v - max) * scale);
    if (r < acc) return i;
  }
  return -1;
}

/** e^((x[i] - max)·scale) summed by the bucket of its t32 into out[0..HIST_BUCKETS), from o. */
export function expHistOf(
  x: Float32Array,
  at: number,
  n: number,
  max: number,
  scale: number,
  out: Float64Array,
  o = 0,
): void {
  out.fill(0, o, o + HIST_BUCKETS);
  for (let i = 0; i < n; i++) {
    const v = x[at + i];
    out[o + bucketOf(t32(v, max, scale))] += Math.exp((v - max) * scale);
  }
}

/**
 * The ids i in expHist's buckets from..to whose t32 ≥ minT, ascending, into out from o: how
 * many. Their logits lie in [xLo, xHi] (margins far wider than f32 rounding), so only those are
 * bucketed one by one.
 */
export function expBucketOf(
  x: Float32Array,
  at: number,
  n: number,
  max: number,
  scale: number,
  from: number,
  to: number,
  minT: number,
  out: Int32Array,
  o = 0,
): number {
  const sc = f32(scale);
  const tHi = -from / HIST_PER_UNIT;
  const tLo = to >= HIST_BUCKETS - 1 ? -Infinity : -(to + 1) / HIST_PER_UNIT;
  const xLo = max + (tLo * (1 + 1e-5)) / sc;
  const xHi = max + (tHi * (1 - 1e-5)) / sc;
  const m = f32(minT);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = x[at + i];
    if (v < xLo || v > xHi) continue;
    const t = t32(v, max, sc);
    const b = bucketOf(t);
    if (b >= from && b <= to && t >= m) out[o + count++] = i;
  }
  return count;
}
