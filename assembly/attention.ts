// attention: causal multi-head attention of T new tokens against one sequence's KV cache
// (positions 0..pos0+T-1 already written), as documented on Kernels.attention in types.ts, for
// either cache dtype: f32, or int8 blocks of 32 channels with an f32 scale per position and block
// (scoresQ8 and weightedSumQ8: attention-quant.ts). One token loop and one causal softmax for
// both; per dtype the scores of a token's keys and the weighted sum of its values.

import { scoresQ8, weightedSumQ8 } from "./attention-quant";
import { Dot, dot } from "./matmul";
import { DTYPE_Q8, QBLOCK } from "./quant";
import { softmaxRow } from "./softmax";
import { Vec } from "./vec";

/**
 * dtype DTYPE_F32: q rows at q + t·qStride floats; k, v: f32 [n_ctx][C]; qs, ks, vs unused.
 * dtype DTYPE_Q8: q i8 rows at q + t·qStride bytes, their scales at qs + t·(qStride/32)·4 (q and
 * qs from `quantize`); k, v: i8 [n_ctx][C], ks, vs: f32 [n_ctx][C/32]; HS a multiple of 32.
 * att: [NH][T][pos0 + T] probabilities; out: [T][C] f32. out must not overlap q, k, v or att.
 *
 * Each new token runs alone, all heads per key row, the rows in quarters (i, i + m, i + 2m,
 * i + 3m together), so the K and V caches stream through memory as four steady streams (a
 * head-at-a-time loop strides C values per key, one cache line per row, and a 1024-key context
 * then costs a latency-bound miss per line); only a prefill's weighted sum, whose V the previous
 * token left in cache, goes head by head in blocks of rows (weightedSum). A row's scores and
 * sums never depend on T or on the other rows: a prefill's last token and the same token
 * decoded alone get the same bits.
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
          const s = Dot.x4(qr + hh, ki + hh, ms, HS);
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
 * out[C] = Σ_j p_h[j] · v[j][C] per head h (p_h at p + h·ps). The rows go in quarters, as the
 * scores' keys: with m = n / 4 (rounded down), rows i, i + m, i + 2m, i + 3m for i = 0..m-1, then
 * the n % 4 rows left, in order. Every out element is summed in that one order from 0 (one
 * multiply-add per row into the running sum), so its bits depend neither on the batch nor on the
 * path below:
 * - a decode (T = 1): every head of the four rows per pass, out added into in L1. Four steady
 *   streams through the quarters of V, which comes from L3 or DRAM (the weights read since the
 *   last step evicted it), and out loaded and stored once per four rows: against one row per
 *   pass, attention at 1,023 keys -27%, the default model's batched decode of 8 -3% (PERF.md);
 * - a prefill (T > 1: the previous token just read V, so it is in cache): blocks of IB values
 *   of i (4·IB rows), and in each block 16 channels of a head at a time summed in registers, so
 *   out is loaded and stored once per block.
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
  blocks: bool,
): void {
  memory.fill(out, 0, <usize>vs);
  const hb = (<usize>HS) << 2;
  const m = n >> 2;
  const ms = <usize>m * vs; // bytes from a V row to its row in the next quarter
  const pm = (<usize>m) << 2; // and from a probability to its
  if (!blocks) {
    for (let i = 0; i < m; i++) {
      const pi = p + ((<usize>i) << 2);
      const vi = v + <usize>i * vs;
      for (let h = 0; h < NH; h++) {
        const ph = pi + <usize>h * ps;
        Sum.quad(out + <usize>h * hb, ph, pm, vi + <usize>h * hb, ms, 0, hb);
      }
    }
  } else {
    const cw = (<usize>(HS & ~15)) << 2; // bytes of a head slice in whole chunks of 16 channels
    for (let i0 = 0; i0 < m; i0 += IB) {
      const i1 = min(m, i0 + IB);
      for (let h = 0; h < NH; h++) {
        const ph = p + <usize>h * ps;
        const o = out + <usize>h * hb;
        const a = v + <usize>h * hb;
        for (let c: usize = 0; c < cw; c += 64) Sum.chunk(o + c, ph, pm, a + c, vs, ms, i0, i1);
        for (let i = i0; cw < hb && i < i1; i++) {
          // the head's last HS % 16 channels, four rows per pass
          Sum.quad(o, ph + ((<usize>i) << 2), pm, a + <usize>i * vs, ms, cw, hb);
        }
      }
    }
  }
  for (let j = m << 2; j < n; j++)
    Sum.row(out, p + ((<usize>j) << 2), ps, v + <usize>j * vs, NH, hb);
}

// Values of i per block of a prefill's weighted sum (4 rows each): out's loads and stores once
// per 16 rows.
const IB = 4;

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
class Sum {
  /**
   * out[c..c+16] of one head += the rows i, i + m, i + 2m, i + 3m for i0 <= i < i1 (p_h at ph,
   * a quarter pm bytes on; V at a, a quarter ms bytes on), in that order, four accumulators.
   */
  @inline static chunk(
    o: usize,
    ph: usize,
    pm: usize,
    a: usize,
    vs: usize,
    ms: usize,
    i0: i32,
    i1: i32,
  ): void {
    let a0 = v128.load(o),
      a1 = v128.load(o, 16),
      a2 = v128.load(o, 32),
      a3 = v128.load(o, 48);
    let r = a + <usize>i0 * vs;
    const end = ph + ((<usize>i1) << 2);
    for (let q = ph + ((<usize>i0) << 2); q < end; q += 4, r += vs) {
      for (let k = 0; k < 4; k++) {
        const pk = f32x4.splat(load<f32>(q + <usize>k * pm));
        const rk = r + <usize>k * ms;
        a0 = Vec.madd(pk, v128.load(rk), a0);
        a1 = Vec.madd(pk, v128.load(rk, 16), a1);
        a2 = Vec.madd(pk, v128.load(rk, 32), a2);
        a3 = Vec.madd(pk, v128.load(rk, 48), a3);
      }
    }
    v128.store(o, a0);
    v128.store(o, a1, 16);
    v128.store(o, a2, 32);
    v128.store(o, a3, 48);
  }

  /**
   * o[c] += p_0 · a_0[c], then p_1 · a_1[c], p_2 · a_2[c], p_3 · a_3[c] (p_k at q + k·pm, a_k at
   * a + k·ms) for the bytes c0 <= c < hb of one head slice: one multiply-add per row, in order.
   */
  @inline static quad(
    o: usize,
    q: usize,
    pm: usize,
    a: usize,
    ms: usize,
    c0: usize,
    hb: usize,
  ): void {
    const p0 = load<f32>(q),
      p1 = load<f32>(q + pm),
      p2 = load<f32>(q + 2 * pm),
      p3 = load<f32>(q + 3 * pm);
    const v0 = f32x4.splat(p0),
      v1 = f32x4.splat(p1),
      v2 = f32x4.splat(p2),
      v3 = f32x4.splat(p3);
    let c = c0;
    for (; c + 16 <= hb; c += 16) {
      let acc = Vec.madd(v0, v128.load(a + c), v128.load(o + c));
      acc = Vec.madd(v1, v128.load(a + ms + c), acc);
      acc = Vec.madd(v2, v128.load(a + 2 * ms + c), acc);
      v128.store(o + c, Vec.madd(v3, v128.load(a + 3 * ms + c), acc));
    }
    for (; c < hb; c += 4) {
      let s = load<f32>(o + c) + p0 * load<f32>(a + c);
      s = s + p1 * load<f32>(a + ms + c);
      s = s + p2 * load<f32>(a + 2 * ms + c);
      store<f32>(o + c, s + p3 * load<f32>(a + 3 * ms + c));
    }
  }

  /** out += p_h · v for every head h of one row (p_h at p + h·ps). */
  @inline static row(out: usize, p: usize, ps: usize, v: usize, NH: i32, hb: usize): void {
    for (let h = 0; h < NH; h++) {
      const o = out + <usize>h * hb;
      Sum.span(o, load<f32>(p + <usize>h * ps), v + <usize>h * hb, 0, hb);
    }
  }

  /** o[c] += p · a[c] for the bytes c0 <= c < hb of one head slice. */
  @inline static span(o: usize, p: f32, a: usize, c0: usize, hb: usize): void {
    const pv = f32x4.splat(p);
    let c = c0;
    for (; c + 16 <= hb; c += 16)
      v128.store(o + c, Vec.madd(pv, v128.load(a + c), v128.load(o + c)));
    for (; c < hb; c += 4) store<f32>(o + c, load<f32>(o + c) + p * load<f32>(a + c));
  }
}
