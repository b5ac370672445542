// attentionQ8: causal multi-head attention of T new tokens against one sequence's int8 KV cache
// (blocks of 32 channels with an f32 scale per position and block), as attention.ts does for f32.
// q arrives quantized the same way (by `quantize`), so q·k is an exact integer dot per block.

import { QBLOCK, QDot } from "./quant";
import { softmaxRow } from "./softmax";
import { Vec } from "./vec";

/**
 * q: i8 rows at q + t·qStride bytes, their scales at qs + t·(qStride/32)·4 (qStride = 3C when q
 * is the quantized c_attn output). k, v: i8 [n_ctx][C]; ks, vs: f32 [n_ctx][C/32]; positions
 * 0..pos0+T-1 already written. att: [NH][T][pos0 + T] probabilities; out: [T][C] f32.
 * HS = C / NH must be a multiple of 32, so every block lies inside one head.
 * Score of key j: acc = Σ_blocks f32(isum) · (ks[j] · qs) in block order, times 1/sqrt(HS).
 */
export function attentionQ8(
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
): void {
  const HS = C / NH;
  const nbh = HS / QBLOCK; // blocks per head
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>HS); // keeps score variance ~1 (Vaswani et al.)
  const L = pos0 + T;
  const kr = <usize>C; // bytes per cache row
  const sr = (<usize>(C / QBLOCK)) << 2; // bytes per cache scale row
  const hs = (<usize>T * <usize>L) << 2; // bytes from one head's att rows to the next's
  // Token by token, key rows in order with all heads per row (as attention.ts, and for the same
  // reason: the cache streams contiguously); a row's bits do not depend on T.
  for (let t = 0; t < T; t++) {
    const qr = q + <usize>t * <usize>qStride;
    const qsr = qs + ((<usize>((t * qStride) / QBLOCK)) << 2);
    const ar = att + ((<usize>t * <usize>L) << 2); // head h's row: ar + h·hs
    const n = pos0 + t + 1; // causal: token pos0 + t sees keys 0..pos0 + t
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      for (let h = 0; h < NH; h++) {
        const kj = k + <usize>(h * HS) + <usize>j * kr;
        const sj = ks + ((<usize>(h * nbh)) << 2) + <usize>j * sr;
        const qh = qr + <usize>(h * HS);
        const qsh = qsr + ((<usize>(h * nbh)) << 2);
        let acc = f32x4.splat(0);
        for (let b = 0; b < nbh; b++) {
          const xb = qh + <usize>b * QBLOCK;
          const kb = kj + <usize>b * QBLOCK;
          const i = QDot.hsum4(
            QDot.block(xb, kb),
            QDot.block(xb, kb + kr),
            QDot.block(xb, kb + 2 * kr),
            QDot.block(xb, kb + 3 * kr),
          );
          const s4 = Vec.col4(sj + ((<usize>b) << 2), sr); // the four keys' scales of block b
          acc = QDot.addBlock(acc, i, s4, qsh + ((<usize>b) << 2));
        }
        v128.store(ar + <usize>h * hs + ((<usize>j) << 2), f32x4.mul(acc, f32x4.splat(scale)));
      }
    }
    for (; j < n; j++) {
      for (let h = 0; h < NH; h++) {
        const kj = k + <usize>(h * HS) + <usize>j * kr;
        const sj = ks + ((<usize>(h * nbh)) << 2) + <usize>j * sr;
        const qh = qr + <usize>(h * HS);
        const qsh = qsr + ((<usize>(h * nbh)) << 2);
        let acc: f32 = 0;
        for (let b = 0; b < nbh; b++) {
          const bo = <usize>b * QBLOCK;
          const i = <f32>QDot.hsum(QDot.block(qh + bo, kj + bo));
          acc += i * (load<f32>(sj + ((<usize>b) << 2)) * load<f32>(qsh + ((<usize>b) << 2)));
        }
        store<f32>(ar + <usize>h * hs + ((<usize>j) << 2), acc * scale);
      }
    }
    for (let h = 0; h < NH; h++) {
      const a = ar + <usize>h * hs;
      softmaxRow(a, a, n);
      memory.fill(a + ((<usize>n) << 2), 0, (<usize>(L - n)) << 2); // future keys: probability 0
    }
    for (let h = 0; h < NH; h++) {
      const o = out + ((<usize>(t * C + h * HS)) << 2);
      const vh = v + <usize>(h * HS);
      weightedSumQ8(o, ar + <usize>h * hs, vh, vs + ((<usize>(h * nbh)) << 2), kr, sr, n, HS);
    }
  }
}

/**
 * out[HS] = Σ_j (p[j] · vs[j][c / 32]) · f32(v[j][c]) for j < n: the probability and the value
 * scale fold into one coefficient per key and block, then 16 channels per step in 4 accumulators
 * (in registers: the i8 -> f32 widening makes this compute-bound, so the V rows of one head are
 * read with a stride rather than adding into out in memory, which cost 15% more at 1024 keys).
 */
function weightedSumQ8(
  out: usize,
  p: usize,
  v: usize,
  vs: usize,
  vr: usize,
  sr: usize,
  n: i32,
  HS: i32,
): void {
  for (let c = 0; c < HS; c += 16) {
    let a0 = f32x4.splat(0),
      a1 = f32x4.splat(0),
      a2 = f32x4.splat(0),
      a3 = f32x4.splat(0);
    let vp = v + <usize>c;
    let sp = vs + ((<usize>(c / QBLOCK)) << 2);
    for (let j = 0; j < n; j++) {
      const coef = f32x4.splat(load<f32>(p + ((<usize>j) << 2)) * load<f32>(sp));
      const lo = v128.load8x8_s(vp); // channels c..c+7 as i16
      const hi = v128.load8x8_s(vp, 8);
      a0 = f32x4.add(a0, f32x4.mul(coef, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo))));
      a1 = f32x4.add(a1, f32x4.mul(coef, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo))));
      a2 = f32x4.add(a2, f32x4.mul(coef, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi))));
      a3 = f32x4.add(a3, f32x4.mul(coef, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi))));
      vp += vr;
      sp += sr;
    }
    const o = out + ((<usize>c) << 2);
    v128.store(o, a0);
    v128.store(o, a1, 16);
    v128.store(o, a2, 32);
    v128.store(o, a3, 48);
  }
}
