// attention: causal multi-head attention of T new tokens against one sequence's KV cache
// (positions 0..pos0+T-1 already written), as documented on Kernels.attention in types.ts, for
// either cache dtype: f32, or int8 blocks of 32 channels with an f32 scale per position and block
// (scoresQ8 and weightedSumQ8: attention-quant.ts). One token loop and one causal softmax for
// both; per dtype the scores of a token's keys and the weighted sum of its values.

import { scoresQ8, weightedSumQ8 } from "./attention-quant";
import { dot, dot1x4 } from "./matmul";
import { DTYPE_Q8, QBLOCK } from "./quant";
import { softmaxRow } from "./softmax";
import { Vec } from "./vec";

/**
 * dtype DTYPE_F32: q rows at q + t·qStride floats; k, v: f32 [n_ctx][C]; qs, ks, vs unused.
 * dtype DTYPE_Q8: q i8 rows at q + t·qStride bytes, their scales at qs + t·(qStride/32)·4 (q and
 * qs from `quantize`); k, v: i8 [n_ctx][C], ks, vs: f32 [n_ctx][C/32]; HS a multiple of 32.
 * att: [NH][T][pos0 + T] probabilities; out: [T][C] f32. out must not overlap q, k, v or att.
 *
 * Each new token runs alone, key rows in order, all heads per key row, so the K and V caches
 * stream through memory contiguously (a head-at-a-time loop strides C values per key, one
 * cache line per row, and a 1024-key context then costs a latency-bound miss per line). A
 * row's scores and sums never depend on T or on the other rows: a prefill's last token and the
 * same token decoded alone get the same bits.
 */
export function attention(
  out: usize,
  att: usize,
  q: usize,
  qs: usize,
  k: usize,
  ks: usize,
  v: usize,
  vs: usize,
  T: i32,
  pos0: i32,
  C: i32,
  NH: i32,
  qStride: i32,
  dtype: i32,
): void {
  const HS = C / NH;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>HS); // keeps score variance ~1 (Vaswani et al.)
  const sc = f32x4.splat(scale);
  const L = pos0 + T; // length of every att row: all keys the last new token sees
  const cs = (<usize>C) << 2; // bytes per f32 KV cache row, and per out row
  const hb = (<usize>HS) << 2; // bytes per head slice of an f32 row
  const hs = (<usize>T * <usize>L) << 2; // bytes from one head's att rows to the next's
  const sr = (<usize>(C / QBLOCK)) << 2; // bytes per scale row of an int8 cache
  const q8 = dtype == DTYPE_Q8;
  for (let t = 0; t < T; t++) {
    const qt = <usize>t * <usize>qStride; // values before q row t
    const ar = att + ((<usize>t * <usize>L) << 2); // head h's row: ar + h·hs
    const n = pos0 + t + 1; // causal: token pos0 + t sees keys 0..pos0 + t
    if (q8) scoresQ8(ar, hs, q + qt, qs + ((qt / QBLOCK) << 2), k, ks, n, C, NH, scale);
    else {
      // Keys j, j + m, j + 2m, j + 3m at once (m = n / 4), every head of each row in order: four
      // steady streams through the quarters of the cache (as matmul's rows4; four adjacent rows
      // read head by head jump at every group).
      const qr = q + (qt << 2);
      const m = n >> 2;
      const ms = <usize>m * cs;
      for (let i = 0; i < m; i++) {
        const ki = k + <usize>i * cs;
        for (let h = 0; h < NH; h++) {
          const hh = <usize>h * hb;
          const s = dot1x4(qr + hh, ki + hh, ms, HS);
          Vec.storeCol4(ar + <usize>h * hs + ((<usize>i) << 2), (<usize>m) << 2, f32x4.mul(s, sc));
        }
      }
      for (let j = m << 2; j < n; j++) {
        for (let h = 0; h < NH; h++) {
          const hh = <usize>h * hb;
          const s = dot(qr + hh, k + <usize>j * cs + hh, HS) * scale;
          store<f32>(ar + <usize>h * hs + ((<usize>j) << 2), s);
        }
      }
    }
    for (let h = 0; h < NH; h++) {
      const a = ar + <usize>h * hs;
      softmaxRow(a, a, n);
      memory.fill(a + ((<usize>n) << 2), 0, (<usize>(L - n)) << 2); // future keys: probability 0
    }
    const o = out + <usize>t * cs;
    if (q8) {
      for (let h = 0; h < NH; h++) {
        const c = <usize>(h * HS); // head h's first channel
        const sh = vs + ((c / QBLOCK) << 2); // its value scales
        weightedSumQ8(o + (c << 2), ar + <usize>h * hs, v + c, sh, <usize>C, sr, n, HS);
      }
    } else weightedSum(o, ar, hs, v, cs, n, NH, HS, T > 1);
  }
}

/**
 * out[C] = Σ_j p_h[j] · v[j][C] per head h (p_h at p + h·ps), key rows in order, all heads of a
 * row (or two) per pass, out added into in L1. Every out element is summed in j order from 0, so
 * its bits depend neither on the batch nor on `pairs`: two rows per pass when V is in cache
 * (T > 1: the previous token just read it; half the passes over out) or one when it comes from
 * DRAM (decode: two rows 3 KiB apart read side by side fetch at half the rate of one steady
 * stream on AMD Zen 4, assembly/PERF.md).
 */
function weightedSum(
  out: usize,
  p: usize,
  ps: usize,
  v: usize,
  vs: usize,
  n: i32,
  NH: i32,
  HS: i32,
  pairs: bool,
): void {
  memory.fill(out, 0, <usize>vs);
  let j = 0;
  if (pairs) {
    for (; j + 2 <= n; j += 2) {
      Sum.rows(out, p + ((<usize>j) << 2), ps, v + <usize>j * vs, vs, NH, HS, true);
    }
  }
  for (; j < n; j++) Sum.rows(out, p + ((<usize>j) << 2), ps, v + <usize>j * vs, vs, NH, HS, false);
}

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
class Sum {
  /** out += p_h[0]·v[0] (then p_h[1]·v[1], rows vs bytes apart, if two) for every head h. */
  @inline static rows(
    out: usize,
    p: usize,
    ps: usize,
    v: usize,
    vs: usize,
    NH: i32,
    HS: i32,
    two: bool,
  ): void {
    const hb = (<usize>HS) << 2;
    const vec = (<usize>(HS & ~3)) << 2; // bytes of a head slice in whole vectors
    for (let h = 0; h < NH; h++) {
      const ph = p + <usize>h * ps;
      const p0 = f32x4.splat(load<f32>(ph));
      const p1 = two ? f32x4.splat(load<f32>(ph, 4)) : p0;
      const o = out + <usize>h * hb;
      const a = v + <usize>h * hb;
      const b = a + vs;
      let c: usize = 0;
      for (; c < vec; c += 16) {
        const s = Vec.madd(p0, v128.load(a + c), v128.load(o + c));
        v128.store(o + c, two ? Vec.madd(p1, v128.load(b + c), s) : s);
      }
      for (; c < hb; c += 4) {
        const s = load<f32>(o + c) + f32x4.extract_lane(p0, 0) * load<f32>(a + c);
        store<f32>(o + c, two ? s + f32x4.extract_lane(p1, 0) * load<f32>(b + c) : s);
      }
    }
  }
}
