// matmulQuant: out[T][d] = x[T][n] · w[d][n]ᵀ + b[d] with w in blocks of 32 values, int8 (q8:
// the tiles here) or 4-bit (q4: rowsQ4 in matmul-q4.ts), and x in int8 blocks: quantized by
// `quantize` before the call for q8, into the scratch xq by rowsQ4 for q4. Integer dots per block
// (i32x4.dot_i16x8_s), one f32 multiply-add per block. q8 tiles: 2 tokens × 4 rows, like
// matmul.ts.

import { rowsQ4 } from "./matmul-q4";
import { DTYPE_Q4, QBLOCK, QDot } from "./quant";
import { tokenBlock } from "./token-block";
import { Vec } from "./vec";

/**
 * dtype DTYPE_Q8: w i8 [d][n] (row j at w + j·n); xq: i8 [T][n], xs: f32 [T][n/32] (x unused).
 * dtype DTYPE_Q4: w [ceil(d/4)][n/32][64] bytes (layout: matmul-q4.ts); x: f32 [T][n], quantized
 * into xq, a scratch of q4ScratchBytes(T, n) bytes (xs unused).
 * ws: f32 [ceil(d/4)][n/32][4], the scales of each group of 4 rows side by side, block after
 * block (a tile reads one v128 per block, sequentially, in step with its quants).
 * n must be a multiple of 32. b = 0 means no bias. out must not overlap the inputs.
 *
 * Every output is computed with the same operations in the same order whatever T is and
 * wherever its row sits in the batch: per block an exact integer dot isum, then
 * acc = acc + f32(isum) · (ws · xs), blocks in order from acc = 0, and finally out = acc + b.
 */
export function matmulQuant(
  out: usize,
  x: usize,
  xq: usize,
  xs: usize,
  w: usize,
  ws: usize,
  b: usize,
  T: i32,
  n: i32,
  d: i32,
  dtype: i32,
): void {
  const nb = n / QBLOCK; // blocks per row
  if (dtype == DTYPE_Q4) return rowsQ4(out, x, xq, w, ws, b, T, nb, d);
  const rs: usize = <usize>n; // bytes per weight row and per activation row
  const sr: usize = (<usize>nb) << 2; // bytes per activation scale row
  const os: usize = (<usize>d) << 2; // bytes per out row
  const TB = tokenBlock(rs, 2);
  for (let t0 = 0; t0 < T; t0 += TB) {
    const t1 = min(T, t0 + TB);
    let j = 0;
    for (; j + 4 <= d; j += 4) {
      const wj = w + <usize>j * rs;
      const sj = ws + ((<usize>(j >> 2) * <usize>nb) << 4); // this group's scales, 16 B per block
      const oj = out + ((<usize>j) << 2);
      const bias = b ? v128.load(b + ((<usize>j) << 2)) : f32x4.splat(0);
      for (let t = t0; t + 2 <= t1; t += 2) {
        const x = xq + <usize>t * rs;
        const s = xs + <usize>t * sr;
        tile2x4(oj + <usize>t * os, os, x, x + rs, s, s + sr, wj, rs, sj, nb, bias);
      }
    }
    if ((t1 - t0) & 1) {
      // The odd token (all of T = 1 decode): rows r, r + q, r + 2q, r + 3q at once (q a
      // multiple of 4), each a steady stream through a quarter of the matrix (as matmul.ts's
      // rows4; a group's 4 rows, streams n bytes apart that jump at every group, and touches
      // of the next group read half as fast on AMD Zen 5); then the groups left over (< 4).
      const t = t1 - 1;
      const x = xq + <usize>t * rs;
      const s = xs + <usize>t * sr;
      const o = out + <usize>t * os;
      const q = (d >> 4) << 2;
      const gs = (<usize>nb) << 4; // scale bytes per group
      const qs = (<usize>q * gs) >> 2; // scale bytes from a row to its row in the next quarter
      for (let r = 0; r < q; r++) {
        const sg = ws + <usize>(r >> 2) * gs + ((<usize>(r & 3)) << 2); // row r's scales
        const br = b ? b + ((<usize>r) << 2) : 0;
        tile1x4(
          o + ((<usize>r) << 2),
          x,
          s,
          w + <usize>r * rs,
          rs * <usize>q,
          sg,
          qs,
          nb,
          q << 2,
          br,
        );
      }
      for (let g = q; g < d >> 2; g++) {
        const bg = b ? b + ((<usize>g) << 4) : 0;
        tile1x4(
          o + ((<usize>g) << 4),
          x,
          s,
          w + <usize>(g << 2) * rs,
          rs,
          ws + <usize>g * gs,
          4,
          nb,
          4,
          bg,
        );
      }
    }
    for (; j < d; j++) {
      // the last d % 4 rows, one at a time, with the same per-row arithmetic
      const bj: f32 = b ? load<f32>(b + ((<usize>j) << 2)) : 0;
      for (let t = t0; t < t1; t++) {
        const acc = rowDot(
          xq + <usize>t * rs,
          xs + <usize>t * sr,
          w + <usize>j * rs,
          ws + ((<usize>(j >> 2) * <usize>nb) << 4) + ((<usize>(j & 3)) << 2),
          nb,
        );
        store<f32>(out + <usize>t * os + ((<usize>j) << 2), acc + bj);
      }
    }
  }
}

/**
 * Tokens x0, x1 (scales s0, s1) against rows w + i·rs, i < 4 (their scales: 4 per block at sw).
 * Per block, four steps of 8 values: each step widens 8 values of each token and of each row
 * once and adds the 2 × 4 dots into 8 i32 accumulators, then two hsum4 give the block's integer
 * dots and one scale multiply-add per token. A step loads 6 vectors: TurboFan issues a loop
 * body's loads before its arithmetic, so the 8 accumulators + 6 loads fit the 15 xmm registers
 * (a whole block per iteration, 24 widening loads, spilled half of them).
 */
function tile2x4(
  out: usize,
  os: usize,
  x0: usize,
  x1: usize,
  s0: usize,
  s1: usize,
  w: usize,
  rs: usize,
  sw: usize,
  nb: i32,
  bias: v128,
): void {
  let p = w; // row 0's block k (rows 1-3: rs bytes on)
  let acc0 = f32x4.splat(0),
    acc1 = f32x4.splat(0);
  const dx = x1 - x0;
  for (let k = 0; k < nb; k++) {
    // the block's first step sets the accumulators (no zeros to add to: -6% at T = 1)
    const u0 = v128.load8x8_s(x0),
      v0 = v128.load8x8_s(x0 + dx);
    const q0 = v128.load8x8_s(p),
      q1 = v128.load8x8_s(p + rs),
      q2 = v128.load8x8_s(p + 2 * rs),
      q3 = v128.load8x8_s(p + 3 * rs);
    let a0 = i32x4.dot_i16x8_s(u0, q0),
      a1 = i32x4.dot_i16x8_s(u0, q1),
      a2 = i32x4.dot_i16x8_s(u0, q2),
      a3 = i32x4.dot_i16x8_s(u0, q3),
      b0 = i32x4.dot_i16x8_s(v0, q0),
      b1 = i32x4.dot_i16x8_s(v0, q1),
      b2 = i32x4.dot_i16x8_s(v0, q2),
      b3 = i32x4.dot_i16x8_s(v0, q3);
    const end = p + QBLOCK;
    for (p += 8, x0 += 8; p < end; p += 8, x0 += 8) {
      const u = v128.load8x8_s(x0),
        v = v128.load8x8_s(x0 + dx);
      const r0 = v128.load8x8_s(p),
        r1 = v128.load8x8_s(p + rs),
        r2 = v128.load8x8_s(p + 2 * rs),
        r3 = v128.load8x8_s(p + 3 * rs);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(u, r0));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(u, r1));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(u, r2));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(u, r3));
      b0 = i32x4.add(b0, i32x4.dot_i16x8_s(v, r0));
      b1 = i32x4.add(b1, i32x4.dot_i16x8_s(v, r1));
      b2 = i32x4.add(b2, i32x4.dot_i16x8_s(v, r2));
      b3 = i32x4.add(b3, i32x4.dot_i16x8_s(v, r3));
    }
    const sw4 = v128.load(sw);
    acc0 = QDot.addBlock(acc0, QDot.hsum4(a0, a1, a2, a3), sw4, s0);
    acc1 = QDot.addBlock(acc1, QDot.hsum4(b0, b1, b2, b3), sw4, s1);
    s0 += 4;
    s1 += 4;
    sw += 16;
  }
  v128.store(out, f32x4.add(acc0, bias));
  v128.store(out + os, f32x4.add(acc1, bias));
}

/**
 * One token (T = 1 decode, and the odd token of a batch) against rows w + i·ws, i < 4: row i's
 * scales at sw + i·ss (16 bytes on per block), its output and bias at out + i·os and b + i·os
 * (b = 0: no bias). Per block, four steps of 8 values, each widening x's 8 once for the four
 * rows and adding one dot per row into its i32 accumulator (5 loads + 4 accumulators: no spills;
 * a whole block per iteration spilled 5 widened vectors and acc), then one hsum4 and one scale
 * multiply-add. matmulQuant gives it rows a quarter of the matrix apart, four steady streams from
 * DRAM, or a group's 4 rows (ws = n, ss = os = 4).
 */
function tile1x4(
  out: usize,
  x: usize,
  s: usize,
  w: usize,
  ws: usize,
  sw: usize,
  ss: usize,
  nb: i32,
  os: i32,
  b: usize,
): void {
  let acc = f32x4.splat(0);
  let p = w;
  for (let k = 0; k < nb; k++) {
    const u0 = v128.load8x8_s(x); // the first step sets the accumulators (no zeros to add to)
    let a0 = i32x4.dot_i16x8_s(u0, v128.load8x8_s(p)),
      a1 = i32x4.dot_i16x8_s(u0, v128.load8x8_s(p + ws)),
      a2 = i32x4.dot_i16x8_s(u0, v128.load8x8_s(p + 2 * ws)),
      a3 = i32x4.dot_i16x8_s(u0, v128.load8x8_s(p + 3 * ws));
    const end = p + QBLOCK;
    for (p += 8, x += 8; p < end; p += 8, x += 8) {
      const u = v128.load8x8_s(x);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(u, v128.load8x8_s(p)));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(u, v128.load8x8_s(p + ws)));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(u, v128.load8x8_s(p + 2 * ws)));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(u, v128.load8x8_s(p + 3 * ws)));
    }
    acc = QDot.addBlock(acc, QDot.hsum4(a0, a1, a2, a3), Vec.col4(sw, ss), s);
    s += 4;
    sw += 16;
  }
  const bias = b ? Vec.col4(b, <usize>os) : f32x4.splat(0);
  Vec.storeCol4(out, <usize>os, f32x4.add(acc, bias));
}

/** One token against one row: the scalar form of the tiles' per-lane arithmetic. */
function rowDot(x: usize, s: usize, w: usize, sw: usize, nb: i32): f32 {
  let acc: f32 = 0;
  const end = w + <usize>nb * QBLOCK;
  for (; w < end; w += QBLOCK, x += QBLOCK, s += 4, sw += 16) {
    const i = <f32>QDot.hsum(QDot.block(x, w));
    acc += i * (load<f32>(sw) * load<f32>(s)); // addBlock's order; the row's scale every 16 B
  }
  return acc;
}
