// The sampler's passes over one row of logits x[n] (f32), in SIMD (src/sampler/logit-ops.ts):
// the index of the largest, Σ e^((x - max)·scale), and the inverse-CDF draw: the first index
// where the running sum of those weights passes r. At GPT-2's 50,257 logits a pass takes 15-50
// µs, where the same loops in JavaScript (Math.exp in f64) took 0.06-0.9 ms a token.

import { Vec } from "./vec";

/** Index of the largest x[i], ties → the lowest i (x without NaN). */
export function argmax(x: usize, n: i32): i32 {
  const bytes64 = (<usize>(n & ~15)) << 2;
  const vecBytes = (<usize>(n & ~3)) << 2;
  // Four independent (value, index) pairs of lanes, 16 floats a pass, so the compare-select
  // chains overlap; per lane the largest so far and where (a strict > keeps the first).
  const inf = f32x4.splat(-Infinity);
  let m0 = inf;
  let m1 = inf;
  let m2 = inf;
  let m3 = inf;
  let i0 = i32x4(0, 1, 2, 3);
  let i1 = i32x4(4, 5, 6, 7);
  let i2 = i32x4(8, 9, 10, 11);
  let i3 = i32x4(12, 13, 14, 15);
  let at0 = i0;
  let at1 = i1;
  let at2 = i2;
  let at3 = i3;
  const sixteen = i32x4.splat(16);
  let i: usize = 0;
  for (; i < bytes64; i += 64) {
    const v0 = v128.load(x + i);
    const v1 = v128.load(x + i, 16);
    const v2 = v128.load(x + i, 32);
    const v3 = v128.load(x + i, 48);
    const g0 = f32x4.gt(v0, m0);
    const g1 = f32x4.gt(v1, m1);
    const g2 = f32x4.gt(v2, m2);
    const g3 = f32x4.gt(v3, m3);
    m0 = v128.bitselect(v0, m0, g0);
    m1 = v128.bitselect(v1, m1, g1);
    m2 = v128.bitselect(v2, m2, g2);
    m3 = v128.bitselect(v3, m3, g3);
    at0 = v128.bitselect(i0, at0, g0);
    at1 = v128.bitselect(i1, at1, g1);
    at2 = v128.bitselect(i2, at2, g2);
    at3 = v128.bitselect(i3, at3, g3);
    i0 = i32x4.add(i0, sixteen);
    i1 = i32x4.add(i1, sixteen);
    i2 = i32x4.add(i2, sixteen);
    i3 = i32x4.add(i3, sixteen);
  }
  // The remaining whole blocks of 4 into pair 0 (its indices are the next ones).
  for (; i < vecBytes; i += 16) {
    const v = v128.load(x + i);
    const g = f32x4.gt(v, m0);
    m0 = v128.bitselect(v, m0, g);
    at0 = v128.bitselect(i0, at0, g);
    i0 = i32x4.add(i0, i32x4.splat(4));
  }
  // Pairs merged lane by lane, then the lanes across (halves, then neighbours): the larger value,
  // on a tie the lower index.
  let m = m0;
  let at = at0;
  const take1 = W.beats(m1, at1, m, at);
  m = v128.bitselect(m1, m, take1);
  at = v128.bitselect(at1, at, take1);
  const take2 = W.beats(m2, at2, m, at);
  m = v128.bitselect(m2, m, take2);
  at = v128.bitselect(at2, at, take2);
  const take3 = W.beats(m3, at3, m, at);
  m = v128.bitselect(m3, m, take3);
  at = v128.bitselect(at3, at, take3);
  const mh = i32x4.shuffle(m, m, 2, 3, 0, 1);
  const ah = i32x4.shuffle(at, at, 2, 3, 0, 1);
  const takeH = W.beats(mh, ah, m, at);
  m = v128.bitselect(mh, m, takeH);
  at = v128.bitselect(ah, at, takeH);
  const mn = i32x4.shuffle(m, m, 1, 0, 3, 2);
  const an = i32x4.shuffle(at, at, 1, 0, 3, 2);
  const takeN = W.beats(mn, an, m, at);
  let best = f32x4.extract_lane(v128.bitselect(mn, m, takeN), 0);
  let bi = i32x4.extract_lane(v128.bitselect(an, at, takeN), 0);
  // The tail's indices are above every lane's: only a strictly larger value moves the answer.
  for (let j = n & ~3; j < n; j++) {
    const v = load<f32>(x + ((<usize>j) << 2));
    if (v > best) {
      best = v;
      bi = j;
    }
  }
  return bi;
}

// Static methods only so that @inline (at every call site) is valid TypeScript syntax (vec.ts).
class W {
  /** Per lane, whether (v, i) ranks above (w, j): a larger value, or the same at a lower index. */
  @inline static beats(v: v128, i: v128, w: v128, j: v128): v128 {
    return v128.or(f32x4.gt(v, w), v128.and(f32x4.eq(v, w), i32x4.lt_s(i, j)));
  }

  /** e^((x - max)·scale) of the 4 floats at p. */
  @inline static four(p: usize, m: v128, s: v128): v128 {
    return Vec.exp4(f32x4.mul(f32x4.sub(v128.load(p), m), s));
  }

  /** The weight of the one float at p (a tail element), as four() computes it. */
  @inline static one(p: usize, m: v128, s: v128): f64 {
    const v = f32x4.splat(load<f32>(p));
    return <f64>f32x4.extract_lane(Vec.exp4(f32x4.mul(f32x4.sub(v, m), s)), 0);
  }

  /** (e0 + e2) + (e1 + e3) in f64: one block's share of the running sum. */
  @inline static blockSum(e: v128): f64 {
    const lo = f64x2.promote_low_f32x4(e);
    const hi = f64x2.promote_low_f32x4(f32x4.shuffle(e, e, 2, 3, 0, 1));
    const t = f64x2.add(lo, hi);
    return f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
  }
}

/**
 * Σ e^((x[i] - max)·scale) over i < n: weights in f32 (exp4: ~2e-7 relative), summed in f64.
 */
export function expSum(x: usize, n: i32, max: f32, scale: f32): f64 {
  const vecBytes = (<usize>(n & ~3)) << 2;
  const bytes = (<usize>n) << 2;
  const m = f32x4.splat(max);
  const s = f32x4.splat(scale);
  // Two f64x2 running sums (lanes 0, 1 and lanes 2, 3 of every block): no dependent add chain.
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  let i: usize = 0;
  for (; i < vecBytes; i += 16) {
    const e = W.four(x + i, m, s);
    lo = f64x2.add(lo, f64x2.promote_low_f32x4(e));
    hi = f64x2.add(hi, f64x2.promote_low_f32x4(f32x4.shuffle(e, e, 2, 3, 0, 1)));
  }
  const t = f64x2.add(lo, hi);
  let acc = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
  for (; i < bytes; i += 4) acc += W.one(x + i, m, s);
  return acc;
}

/**
 * The first index whose running sum of expSum's weights exceeds r (r < running sum), or -1 when
 * none does (r ≥ the total). The running sum goes block by block in index order (in f64, as
 * expSum's, which adds in another order: an r within rounding of the total may find none);
 * inside the block that passes r the weights are added one by one, and should rounding keep
 * that short of r, the block's last index with any weight is the answer.
 */
export function expFind(x: usize, n: i32, max: f32, scale: f32, r: f64): i32 {
  const vecBytes = (<usize>(n & ~3)) << 2;
  const bytes = (<usize>n) << 2;
  const m = f32x4.splat(max);
  const s = f32x4.splat(scale);
  let acc: f64 = 0;
  let i: usize = 0;
  for (; i < vecBytes; i += 16) {
    const e = W.four(x + i, m, s);
    const next = acc + W.blockSum(e);
    if (r < next) {
      const k = <i32>(i >> 2);
      const e0 = <f64>f32x4.extract_lane(e, 0);
      const e1 = <f64>f32x4.extract_lane(e, 1);
      const e2 = <f64>f32x4.extract_lane(e, 2);
      const e3 = <f64>f32x4.extract_lane(e, 3);
      let a = acc + e0;
      if (r < a) return k;
      a += e1;
      if (r < a) return k + 1;
      a += e2;
      if (r < a) return k + 2;
      if (e3 > 0) return k + 3;
      if (e2 > 0) return k + 2;
      return e1 > 0 ? k + 1 : k;
    }
    acc = next;
  }
  for (; i < bytes; i += 4) {
    acc += W.one(x + i, m, s);
    if (r < acc) return <i32>(i >> 2);
  }
  return -1;
}
