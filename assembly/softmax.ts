// softmax: row-wise e^(x - max) / Σ e^(x - max) over x[T][n].

import { Vec } from "./vec";

/** out may equal x. */
export function softmax(out: usize, x: usize, T: i32, n: i32): void {
  const rs = (<usize>n) << 2;
  for (let t = 0; t < T; t++) softmaxRow(out + <usize>t * rs, x + <usize>t * rs, n);
}

/**
 * One row of n floats. Subtracting the row max first changes nothing mathematically but keeps
 * every exponent <= 0: e^x overflows f32 for x > 88.7 (logits and unscaled scores get there),
 * while e^(x - max) lies in (0, 1] and the sum is >= 1, so the division is always safe.
 * Used by attention too.
 */
export function softmaxRow(out: usize, x: usize, n: i32): void {
  const vecBytes = (<usize>(n & ~3)) << 2;
  const bytes = (<usize>n) << 2;
  let mv = f32x4.splat(-Infinity);
  let i: usize = 0;
  if (ASC_FEATURE_RELAXED_SIMD) {
    // relaxed_max (one maxps) drops a NaN where x86 returns the other operand; f32x4.ne finds it
    let nan = i32x4.splat(0);
    for (; i < vecBytes; i += 16) {
      const v = v128.load(x + i);
      mv = f32x4.relaxed_max(mv, v);
      nan = v128.or(nan, f32x4.ne(v, v));
    }
    if (v128.any_true(nan)) mv = f32x4.splat(NaN);
  } else {
    for (; i < vecBytes; i += 16) mv = f32x4.max(mv, v128.load(x + i));
  }
  let mx = Vec.hmax(mv);
  for (; i < bytes; i += 4) mx = max(mx, load<f32>(x + i));
  const m = f32x4.splat(mx);
  let sv = f32x4.splat(0);
  for (i = 0; i < vecBytes; i += 16) {
    const e = Vec.exp4(f32x4.sub(v128.load(x + i), m));
    v128.store(out + i, e);
    sv = f32x4.add(sv, e);
  }
  let sum = Vec.hsum(sv);
  for (; i < bytes; i += 4) {
    const e = f32x4.extract_lane(Vec.exp4(f32x4.splat(load<f32>(x + i) - mx)), 0);
    store<f32>(out + i, e);
    sum += e;
  }
  const inv = f32x4.splat(1.0 / sum);
  for (i = 0; i < vecBytes; i += 16) v128.store(out + i, f32x4.mul(v128.load(out + i), inv));
  for (; i < bytes; i += 4) store<f32>(out + i, load<f32>(out + i) * f32x4.extract_lane(inv, 0));
}
