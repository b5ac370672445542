// The sampler's passes over one row of logits x[n] (f32), in SIMD (src/sampler/logit-ops.ts):
// the index of the largest, Σ e^((x - max)·scale), those weights summed by bucket of log weight
// and the ids of chosen buckets (top_p's, min_p's and top_k's cuts), and the inverse-CDF draw:
// the first index where the running sum of those weights passes r. At GPT-2's 50,257 logits a
// pass takes 15-90 µs, where the same loops in JavaScript (Math.exp in f64) took 0.06-0.9 ms a
// token, and top_p's candidates up to 2 ms.

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

  /** t = (x - max)·scale of the 4 floats at p (one = true: the one float at p, in every lane). */
  @inline static t4(p: usize, m: v128, s: v128, one: bool = false): v128 {
    const v = one ? f32x4.splat(load<f32>(p)) : v128.load(p);
    return f32x4.mul(f32x4.sub(v, m), s);
  }

  /** e^((x - max)·scale) of the 4 floats at p. */
  @inline static four(p: usize, m: v128, s: v128): v128 {
    return Vec.exp4(W.t4(p, m, s));
  }

  /** The weight of the one float at p (a tail element), as four() computes it. */
  @inline static one(p: usize, m: v128, s: v128): f64 {
    return <f64>f32x4.extract_lane(Vec.exp4(W.t4(p, m, s, true)), 0);
  }

  /**
   * expHist's bucket of each t: min(⌊-t · 32⌋, last). -t · 32 is exact (a power of two); the
   * saturating truncation (not the relaxed one: it must give the same bits in both builds, and
   * +Infinity must saturate) sends t = -Infinity to the last bucket.
   */
  @inline static bucket4(t: v128, last: v128): v128 {
    return i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.mul(t, f32x4.splat(-PER_UNIT))), last);
  }

  /** Per lane, whether t's bucket is in lo..hi and t ≥ floor. */
  @inline static inBuckets(t: v128, last: v128, lo: v128, hi: v128, floor: v128): v128 {
    const b = W.bucket4(t, last);
    return v128.and(v128.and(i32x4.ge_s(b, lo), i32x4.le_s(b, hi)), f32x4.ge(t, floor));
  }

  /** out[b] += e, in f64. */
  @inline static scatter(out: usize, b: i32, e: f32): void {
    const at = out + ((<usize>b) << 3);
    store<f64>(at, load<f64>(at) + <f64>e);
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
 * none does (r ≥ the total), over the tokens whose t = (x - max)·scale (f32, as exp4 gets it) is
 * above `above` (-Infinity: every token; -b / HIST_PER_UNIT: expHist's buckets below b). The
 * running sum goes block by block in index order (in f64, as expSum's, which adds in another
 * order: an r within rounding of the total may find none); inside the block that passes r the
 * weights are added one by one, and should rounding keep that short of r, the block's last index
 * with any weight is the answer.
 */
export function expFind(x: usize, n: i32, max: f32, scale: f32, r: f64, above: f32): i32 {
  const vecBytes = (<usize>(n & ~3)) << 2;
  const bytes = (<usize>n) << 2;
  const m = f32x4.splat(max);
  const s = f32x4.splat(scale);
  const a = f32x4.splat(above);
  let acc: f64 = 0;
  let i: usize = 0;
  for (; i < vecBytes; i += 16) {
    const t = W.t4(x + i, m, s);
    const e = v128.and(Vec.exp4(t), f32x4.gt(t, a)); // weight 0 where t ≤ above
    const next = acc + W.blockSum(e);
    if (r < next) {
      const k = <i32>(i >> 2);
      const e0 = <f64>f32x4.extract_lane(e, 0);
      const e1 = <f64>f32x4.extract_lane(e, 1);
      const e2 = <f64>f32x4.extract_lane(e, 2);
      const e3 = <f64>f32x4.extract_lane(e, 3);
      let c = acc + e0;
      if (r < c) return k;
      c += e1;
      if (r < c) return k + 1;
      c += e2;
      if (r < c) return k + 2;
      if (e3 > 0) return k + 3;
      if (e2 > 0) return k + 2;
      return e1 > 0 ? k + 1 : k;
    }
    acc = next;
  }
  for (; i < bytes; i += 4) {
    const t = W.t4(x + i, m, s, true);
    acc += <f64>f32x4.extract_lane(v128.and(Vec.exp4(t), f32x4.gt(t, a)), 0);
    if (r < acc) return <i32>(i >> 2);
  }
  return -1;
}

/** expHist's buckets (src/kernels/types.ts: HIST_BUCKETS, HIST_PER_UNIT). */
const BUCKETS = 1024;
const PER_UNIT: f32 = 32;

/**
 * The weights e^t of expSum (t = (x - max)·scale ≤ 0) summed by bucket into out[BUCKETS] (f64,
 * 8-byte aligned): bucket b = ⌊-t · PER_UNIT⌋ holds the tokens with -(b + 1)/32 < t ≤ -b/32,
 * highest logits first; the last also every token further down (t ≤ -1023/32: weight < 1.4e-14
 * of the top's, and -Infinity). Each bucket adds its tokens in index order. The sampler finds
 * top_p's boundary in these sums (nucleusOfLogits, src/sampler/select.ts), so it only has to
 * look at one bucket's tokens.
 * A block of 4 whose tokens all fall in the last bucket (most of a peaked distribution) is summed
 * in registers, not scattered.
 */
export function expHist(x: usize, n: i32, max: f32, scale: f32, out: usize): void {
  memory.fill(out, 0, BUCKETS << 3);
  const vecBytes = (<usize>(n & ~3)) << 2;
  const bytes = (<usize>n) << 2;
  const m = f32x4.splat(max);
  const s = f32x4.splat(scale);
  const last = i32x4.splat(BUCKETS - 1);
  let lo = f64x2.splat(0); // the last bucket's blocks, lanes 0 and 1
  let hi = f64x2.splat(0); // and lanes 2 and 3
  let i: usize = 0;
  for (; i < vecBytes; i += 16) {
    const t = W.t4(x + i, m, s);
    const e = Vec.exp4(t);
    const b = W.bucket4(t, last);
    if (i32x4.all_true(i32x4.eq(b, last))) {
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(e));
      hi = f64x2.add(hi, f64x2.promote_low_f32x4(f32x4.shuffle(e, e, 2, 3, 0, 1)));
      continue;
    }
    W.scatter(out, i32x4.extract_lane(b, 0), f32x4.extract_lane(e, 0));
    W.scatter(out, i32x4.extract_lane(b, 1), f32x4.extract_lane(e, 1));
    W.scatter(out, i32x4.extract_lane(b, 2), f32x4.extract_lane(e, 2));
    W.scatter(out, i32x4.extract_lane(b, 3), f32x4.extract_lane(e, 3));
  }
  for (; i < bytes; i += 4) {
    const t = W.t4(x + i, m, s, true);
    const b = W.bucket4(t, last);
    W.scatter(out, i32x4.extract_lane(b, 0), f32x4.extract_lane(Vec.exp4(t), 0));
  }
  const tail = f64x2.add(lo, hi);
  const at = out + ((<usize>(BUCKETS - 1)) << 3);
  store<f64>(at, load<f64>(at) + (f64x2.extract_lane(tail, 0) + f64x2.extract_lane(tail, 1)));
}

/**
 * The ids of expHist's buckets from..to whose t ≥ minT (min_p's floor; -Infinity: all), in index
 * order, into out[0..count) (i32): count, or -1 when there are more than cap (out then holds cap
 * of them). The sampler looks at the one bucket its top_p or min_p cut falls in, and takes the
 * top k of the buckets 0..to that hold k tokens (src/sampler/select.ts).
 */
export function expBucket(
  x: usize,
  n: i32,
  max: f32,
  scale: f32,
  from: i32,
  to: i32,
  minT: f32,
  out: usize,
  cap: i32,
): i32 {
  const vecBytes = (<usize>(n & ~3)) << 2;
  const bytes = (<usize>n) << 2;
  const m = f32x4.splat(max);
  const s = f32x4.splat(scale);
  const last = i32x4.splat(BUCKETS - 1);
  const lo = i32x4.splat(from);
  const hi = i32x4.splat(to);
  const floor = f32x4.splat(minT);
  let count = 0;
  let i: usize = 0;
  for (; i < vecBytes; i += 16) {
    const hit = W.inBuckets(W.t4(x + i, m, s), last, lo, hi, floor);
    if (!v128.any_true(hit)) continue;
    const bits = i32x4.bitmask(hit);
    const k = <i32>(i >> 2);
    for (let j = 0; j < 4; j++) {
      if (!(bits & (1 << j))) continue;
      if (count == cap) return -1;
      store<i32>(out + ((<usize>count) << 2), k + j);
      count++;
    }
  }
  for (; i < bytes; i += 4) {
    const hit = W.inBuckets(W.t4(x + i, m, s, true), last, lo, hi, floor);
    if (!(i32x4.bitmask(hit) & 1)) continue;
    if (count == cap) return -1;
    store<i32>(out + ((<usize>count) << 2), <i32>(i >> 2));
    count++;
  }
  return count;
}
