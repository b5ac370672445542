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
 * cache line per row, and a 1024-key context then costs a latency-bound miss per line); only a
 * prefill's weighted sum, whose V the previous token left in cache, goes head by head in blocks
 * of rows (weightedSum). A
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
 * out[C] = Σ_j p_h[j] · v[j][C] per head h (p_h at p + h·ps). Every out element is summed in j
 * order from 0 (one multiply-add per row into the running sum), so its bits depend neither on
 * the batch nor on the path below:
 * - a prefill (T > 1: the previous token just read V, so it is in cache): blocks of RB rows, and
 *   in each block 16 channels of a head at a time summed in registers, so out is loaded and
 *   stored once per block, not once per row (the row loop is bound by those loads and stores:
 *   -56% for this sum with V in L1/L2; whole prefills -1..-2.5%, assembly/PERF.md);
 * - a decode (T = 1): key rows in order, all heads of a row per pass, out added into in L1: one
 *   steady stream. Its V comes from L3 or DRAM (the weights read since the last step evicted
 *   it), and there the blocks' 16 rows read side by side fetch slower: +17% for GPT-2 124M
 *   shapes at 1024 keys from DRAM, +4..6% for the default model's batched decode of 8.
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
  if (!blocks) {
    for (let j = 0; j < n; j++) Sum.row(out, p + ((<usize>j) << 2), ps, v + <usize>j * vs, NH, hb);
    return;
  }
  const cw = (<usize>(HS & ~15)) << 2; // bytes of a head slice in whole chunks of 16 channels
  for (let j0 = 0; j0 < n; j0 += RB) {
    const j1 = min(n, j0 + RB);
    for (let h = 0; h < NH; h++) {
      const ph = p + <usize>h * ps;
      const o = out + <usize>h * hb;
      const a = v + <usize>h * hb;
      for (let c: usize = 0; c < cw; c += 64) Sum.chunk(o + c, ph, a + c, vs, j0, j1);
      for (let j = j0; cw < hb && j < j1; j++) {
        // the head's last HS % 16 channels, row by row
        const pj = load<f32>(ph + ((<usize>j) << 2));
        Sum.span(o, pj, a + <usize>j * vs, cw, hb);
      }
    }
  }
}

// Rows per block of a prefill's weighted sum: out's loads and stores once per 16 rows (8: +6%,
// 32 and 64: the same, tiny model shapes).
const RB = 16;

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
class Sum {
  /** out[c..c+16] of one head += Σ_{j0 <= j < j1} p[j] · v[j][c..c+16], four accumulators. */
  @inline static chunk(o: usize, ph: usize, a: usize, vs: usize, j0: i32, j1: i32): void {
    let a0 = v128.load(o),
      a1 = v128.load(o, 16),
      a2 = v128.load(o, 32),
      a3 = v128.load(o, 48);
    let r = a + <usize>j0 * vs;
    const end = ph + ((<usize>j1) << 2);
    for (let q = ph + ((<usize>j0) << 2); q < end; q += 4, r += vs) {
      const pj = f32x4.splat(load<f32>(q));
      a0 = Vec.madd(pj, v128.load(r), a0);
      a1 = Vec.madd(pj, v128.load(r, 16), a1);
      a2 = Vec.madd(pj, v128.load(r, 32), a2);
      a3 = Vec.madd(pj, v128.load(r, 48), a3);
    }
    v128.store(o, a0);
    v128.store(o, a1, 16);
    v128.store(o, a2, 32);
    v128.store(o, a3, 48);
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
