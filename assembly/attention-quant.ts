// The int8 KV cache's part of attention (attention.ts has the token loop and the softmax): a
// token's scores, and a head's weighted sum of values, against a cache in blocks of 32 channels
// with an f32 scale per position and block. q arrives quantized the same way (by `quantize`), so
// q·k is an exact integer dot per block. HS = C / NH must be a multiple of 32, so every block lies
// inside one head.

import { QBLOCK, QDot } from "./quant";
import { Vec } from "./vec";

/**
 * One token's scores: head h's query (i8 at qr + h·HS, scales at qsr + h·(HS/32)·4) against keys
 * 0..n-1 (k: i8 [n_ctx][C], ks: f32 [n_ctx][C/32]) into the att row at ar + h·hs. Score of key j:
 * acc = Σ_blocks f32(isum) · (ks[j] · qs) in block order, times scale. Key rows in order with all
 * heads per row (as the f32 scores, and for the same reason: the cache streams contiguously).
 */
export function scoresQ8(
  ar: usize,
  hs: usize,
  qr: usize,
  qsr: usize,
  k: usize,
  ks: usize,
  n: i32,
  C: i32,
  NH: i32,
  scale: f32,
): void {
  const HS = C / NH;
  const nbh = HS / QBLOCK; // blocks per head
  const kr = <usize>C; // bytes per cache row
  const sr = (<usize>(C / QBLOCK)) << 2; // bytes per cache scale row
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
}

/**
 * out[HS] = Σ_j (p[j] · vs[j][c / 32]) · f32(v[j][c]) for j < n: the probability and the value
 * scale fold into one coefficient per key and block, then a block's 32 channels per step in 8
 * accumulators (in registers: the i8 -> f32 widening makes this compute-bound, so the V rows of
 * one head are read with a stride rather than adding into out in memory, which cost 15% more at
 * 1024 keys; one coefficient per key and block, not one per 16 channels: -2..-6%). The relaxed build
 * fuses each multiply-add (Vec.madd).
 */
export function weightedSumQ8(
  out: usize,
  p: usize,
  v: usize,
  vs: usize,
  vr: usize,
  sr: usize,
  n: i32,
  HS: i32,
): void {
  for (let c = 0; c < HS; c += QBLOCK) {
    let a0 = f32x4.splat(0),
      a1 = f32x4.splat(0),
      a2 = f32x4.splat(0),
      a3 = f32x4.splat(0),
      a4 = f32x4.splat(0),
      a5 = f32x4.splat(0),
      a6 = f32x4.splat(0),
      a7 = f32x4.splat(0);
    let vp = v + <usize>c;
    let sp = vs + ((<usize>(c / QBLOCK)) << 2);
    for (let j = 0; j < n; j++) {
      const coef = f32x4.splat(load<f32>(p + ((<usize>j) << 2)) * load<f32>(sp));
      const q0 = v128.load8x8_s(vp); // channels c..c+7 as i16
      const q1 = v128.load8x8_s(vp, 8);
      a0 = Vec.madd(coef, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q0)), a0);
      a1 = Vec.madd(coef, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q0)), a1);
      a2 = Vec.madd(coef, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q1)), a2);
      a3 = Vec.madd(coef, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q1)), a3);
      const q2 = v128.load8x8_s(vp, 16);
      const q3 = v128.load8x8_s(vp, 24);
      a4 = Vec.madd(coef, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q2)), a4);
      a5 = Vec.madd(coef, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q2)), a5);
      a6 = Vec.madd(coef, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q3)), a6);
      a7 = Vec.madd(coef, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q3)), a7);
      vp += vr;
      sp += sr;
    }
    const o = out + ((<usize>c) << 2);
    v128.store(o, a0);
    v128.store(o, a1, 16);
    v128.store(o, a2, 32);
    v128.store(o, a3, 48);
    v128.store(o, a4, 64);
    v128.store(o, a5, 80);
    v128.store(o, a6, 96);
    v128.store(o, a7, 112);
  }
}
