// matmulQ4: out[T][d] = x[T][n] · w[d][n]ᵀ + b[d] with w in 4-bit blocks of 32, laid out at
// convert time for these kernels. x (f32) is quantized here first (quantizeQ4Input: int8 blocks,
// the rule of matmulQ8), then one exact integer dot per block and row and one f32 multiply-add.
//
// Weight layout (manifest.ts; src/kernels/quant.ts q4Index): rows in groups of 4 (the last
// padded with zero rows), a group's blocks in order, 64 bytes per block = four 16-byte chunks;
// chunk c holds values 8c..8c+7 of the group's 4 rows: byte 4r + i (i < 4) of the chunk holds
// value 8c + i of row r in its low nibble and value 8c + 4 + i in its high nibble, as q + 8.
// So a chunk's low nibbles are 4 rows × 4 consecutive values, and one dot with x[8c..8c+3]
// broadcast to every row gives each row's partial sum in its own lanes: no horizontal sums, no
// transposes, and a single contiguous weight stream per group.
//
// Relaxed build: i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw: 16 byte products per instruction)
// with x int8 and the nibbles (0..15, so 7-bit: its result is defined, the same on every
// engine) as operands. Baseline build: the nibbles as four planes of i16 lanes (masks and
// shifts of the chunk read as u16) against pairs of i16 activations (i32x4.dot_i16x8_s).
// Both produce the same exact integer per block and row, hence the same bits.

import { quantizeQ4Input } from "./quant";
import { Vec } from "./vec";

// Tokens per block, as in matmul.ts: their quant rows stay in L2 while the weights stream past.
const X_BLOCK_BYTES: usize = 512 * 1024;

/** Scratch bytes matmulQ4 needs at xq for T rows of n: quants (2 per value), scales, sums. */
export function q4ScratchBytes(T: i32, n: i32): usize {
  return <usize>T * <usize>n * 2 + <usize>T * <usize>(n >> 5) * 8;
}

/**
 * x: f32 [T][n]; xq: scratch of q4ScratchBytes(T, n) bytes; w: [ceil(d/4)][n/32][64] bytes;
 * ws: f32 scales [ceil(d/4)][n/32][4] (as matmulQ8). n must be a multiple of 32. b = 0 means
 * no bias. out must not overlap the inputs.
 *
 * Every output is computed with the same operations in the same order whatever T is and
 * wherever its row sits in the batch: per block an exact integer dot isum, then
 * acc = acc + f32(isum) · (ws · xs), blocks in order from acc = 0, and finally out = acc + b.
 */
export function matmulQ4(
  out: usize,
  x: usize,
  xq: usize,
  w: usize,
  ws: usize,
  b: usize,
  T: i32,
  n: i32,
  d: i32,
): void {
  const nb = n >> 5; // blocks per row
  const xs = xq + <usize>T * <usize>n * 2; // f32 [T][nb] activation scales
  const xc = xs + ((<usize>T * <usize>nb) << 2); // i32 [T][nb] corrections
  quantizeQ4Input(xq, xs, xc, x, T, n);
  const xr: usize = ASC_FEATURE_RELAXED_SIMD ? <usize>n : (<usize>n) << 1; // bytes per quant row
  const sr: usize = (<usize>nb) << 2; // bytes per row of xs and of xc
  const os: usize = (<usize>d) << 2; // bytes per out row
  const gs: usize = (<usize>nb) << 6; // weight bytes per group of 4 rows
  const TB = max<i32>(2, (<i32>(X_BLOCK_BYTES / max<usize>(xr, 1))) & ~1);
  const groups = (d + 3) >> 2;
  for (let t0 = 0; t0 < T; t0 += TB) {
    const t1 = min(T, t0 + TB);
    // pairs of tokens (none in T = 1 decode)
    for (let g = 0; t1 - t0 >= 2 && g < groups; g++) {
      const j = g << 2;
      const lanes = min(4, d - j); // outputs of this group (the last may have 1-3)
      const bias = b ? Vec.loadN(b + ((<usize>j) << 2), lanes) : f32x4.splat(0);
      const wg = w + <usize>g * gs;
      const sg = ws + ((<usize>g * <usize>nb) << 4); // this group's scales, 16 B per block
      for (let t = t0; t + 2 <= t1; t += 2) {
        const o = out + <usize>t * os + ((<usize>j) << 2);
        const st = <usize>t * sr;
        const xt = xq + <usize>t * xr;
        tile2x4(o, os, lanes, xt, xt + xr, xs + st, xc + st, sr, wg, sg, nb, bias);
      }
    }
    if ((t1 - t0) & 1) {
      // The odd token (all of T = 1 decode): groups g and g + half together, two weight streams
      // far apart. One stream from DRAM stalls at every 4 KiB page the prefetcher cannot cross;
      // two overlap their stalls (assembly/PERF.md).
      const t = t1 - 1;
      const o = out + <usize>t * os;
      const x = xq + <usize>t * xr;
      const s = xs + <usize>t * sr,
        c = xc + <usize>t * sr;
      const half = groups >> 1;
      for (let g = 0; g < half; g++) {
        const h = g + half; // g < half <= h: only h can be the last, partial group
        const lanes = min(4, d - (h << 2));
        const biasA = b ? v128.load(b + ((<usize>g) << 4)) : f32x4.splat(0);
        const biasB = b ? Vec.loadN(b + ((<usize>h) << 4), lanes) : f32x4.splat(0);
        const wA = w + <usize>g * gs,
          wB = w + <usize>h * gs;
        const swA = ws + ((<usize>g * <usize>nb) << 4),
          swB = ws + ((<usize>h * <usize>nb) << 4);
        const oA = o + ((<usize>g) << 4),
          oB = o + ((<usize>h) << 4);
        tile1x8(oA, oB, lanes, x, s, c, wA, wB, swA, swB, nb, biasA, biasB);
      }
      if (groups & 1) {
        const g = groups - 1;
        const lanes = min(4, d - (g << 2));
        const bias = b ? Vec.loadN(b + ((<usize>g) << 4), lanes) : f32x4.splat(0);
        const sg = ws + ((<usize>g * <usize>nb) << 4);
        tile1x4(o + ((<usize>g) << 4), lanes, x, s, c, w + <usize>g * gs, sg, nb, bias);
      }
    }
  }
}

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
class Q4 {
  /** acc + f32(isum) · (sw · s): a block's contribution, in the one order every path uses. */
  @inline static addBlock(acc: v128, isum: v128, sw: v128, s: usize): v128 {
    const scale = f32x4.mul(sw, f32x4.splat(load<f32>(s)));
    return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), scale));
  }
}

/**
 * One token (T = 1 decode, and the odd token of a batch) against a group of 4 rows: x its quant
 * row, s and c its scales and sums (tile1x8 does most groups; this one the odd one out). V8
 * schedules every load of a loop body first: relaxed, a whole block (4 chunks, 8 broadcasts)
 * fits the 15 xmm registers; the baseline's 16 broadcasts and 3 masks spill, so it steps one
 * chunk at a time (assembly/PERF.md).
 */
function tile1x4(
  out: usize,
  lanes: i32,
  x: usize,
  s: usize,
  c: usize,
  w: usize,
  sw: usize,
  nb: i32,
  bias: v128,
): void {
  let acc = f32x4.splat(0);
  const end = w + ((<usize>nb) << 6);
  if (ASC_FEATURE_RELAXED_SIMD) {
    const m = i8x16.splat(0x0f);
    while (w < end) {
      // 8 dots of 2 products per lane, each |.| <= 2·127·15: their sum fits an i16 lane
      const v0 = v128.load(w),
        v1 = v128.load(w, 16),
        v2 = v128.load(w, 32),
        v3 = v128.load(w, 48);
      const d0 = i16x8.add(
        i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x), v128.and(v0, m)),
        i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 4), v128.and(i16x8.shr_u(v0, 4), m)),
      );
      const d1 = i16x8.add(
        i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 8), v128.and(v1, m)),
        i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 12), v128.and(i16x8.shr_u(v1, 4), m)),
      );
      const d2 = i16x8.add(
        i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 16), v128.and(v2, m)),
        i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 20), v128.and(i16x8.shr_u(v2, 4), m)),
      );
      const d3 = i16x8.add(
        i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 24), v128.and(v3, m)),
        i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 28), v128.and(i16x8.shr_u(v3, 4), m)),
      );
      const a = i16x8.add(i16x8.add(d0, d1), i16x8.add(d2, d3));
      const isum = i32x4.add(i32x4.extadd_pairwise_i16x8_s(a), v128.load32_splat(c));
      acc = Q4.addBlock(acc, isum, v128.load(sw), s);
      ((x += 32), (w += 64), (s += 4), (c += 4), (sw += 16));
    }
  } else {
    // Planes: v & 0x000f (pairs x0 x2 of the chunk), v & 0x0f00 (x1 x3), v & 0x00f0 (x4 x6),
    // v >> 12 (x5 x7). The middle two are left 256× and 16× the nibble (one instruction each,
    // not two) and summed apart, divided exactly (shifts of multiples) once per block.
    // |plane-2 dot| <= 2·127·3840, so a block's sums stay below 2^22.
    const m0 = i16x8.splat(0x000f),
      m1 = i16x8.splat(0x00f0),
      m2 = i16x8.splat(0x0f00);
    while (w < end) {
      let a = v128.load32_splat(c),
        a1 = i32x4.splat(0),
        a2 = i32x4.splat(0);
      for (let ch: usize = 0; ch < 64; ch += 16) {
        const v = v128.load(w + ch);
        const xc = x + ch;
        a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(xc), v128.and(v, m0)));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load32_splat(xc, 4), v128.and(v, m2)));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load32_splat(xc, 8), v128.and(v, m1)));
        a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(xc, 12), i16x8.shr_u(v, 12)));
      }
      const isum = i32x4.add(a, i32x4.add(i32x4.shr_s(a1, 4), i32x4.shr_s(a2, 8)));
      acc = Q4.addBlock(acc, isum, v128.load(sw), s);
      ((x += 64), (w += 64), (s += 4), (c += 4), (sw += 16));
    }
  }
  Vec.storeN(out, f32x4.add(acc, bias), lanes);
}

/**
 * One token against two groups of 4 rows at once (wA, wB; their scales swA, swB), outputs at oA
 * (4) and oB (lanesB): tile1x4's arithmetic with two weight streams in flight.
 */
function tile1x8(
  oA: usize,
  oB: usize,
  lanesB: i32,
  x: usize,
  s: usize,
  c: usize,
  wA: usize,
  wB: usize,
  swA: usize,
  swB: usize,
  nb: i32,
  biasA: v128,
  biasB: v128,
): void {
  let accA = f32x4.splat(0),
    accB = f32x4.splat(0);
  const end = wA + ((<usize>nb) << 6);
  if (ASC_FEATURE_RELAXED_SIMD) {
    const m = i8x16.splat(0x0f);
    while (wA < end) {
      let a = i16x8.splat(0),
        b = i16x8.splat(0);
      for (let ch: usize = 0; ch < 64; ch += 32) {
        // two chunks of each stream per step: 8 x bytes per chunk
        const xl = x + (ch >> 1);
        const x0 = v128.load32_splat(xl),
          x1 = v128.load32_splat(xl, 4),
          x2 = v128.load32_splat(xl, 8),
          x3 = v128.load32_splat(xl, 12);
        const va = v128.load(wA + ch),
          va2 = v128.load(wA + ch, 16);
        const vb = v128.load(wB + ch),
          vb2 = v128.load(wB + ch, 16);
        a = i16x8.add(
          a,
          i16x8.add(
            i16x8.add(
              i16x8.relaxed_dot_i8x16_i7x16_s(x0, v128.and(va, m)),
              i16x8.relaxed_dot_i8x16_i7x16_s(x1, v128.and(i16x8.shr_u(va, 4), m)),
            ),
            i16x8.add(
              i16x8.relaxed_dot_i8x16_i7x16_s(x2, v128.and(va2, m)),
              i16x8.relaxed_dot_i8x16_i7x16_s(x3, v128.and(i16x8.shr_u(va2, 4), m)),
            ),
          ),
        );
        b = i16x8.add(
          b,
          i16x8.add(
            i16x8.add(
              i16x8.relaxed_dot_i8x16_i7x16_s(x0, v128.and(vb, m)),
              i16x8.relaxed_dot_i8x16_i7x16_s(x1, v128.and(i16x8.shr_u(vb, 4), m)),
            ),
            i16x8.add(
              i16x8.relaxed_dot_i8x16_i7x16_s(x2, v128.and(vb2, m)),
              i16x8.relaxed_dot_i8x16_i7x16_s(x3, v128.and(i16x8.shr_u(vb2, 4), m)),
            ),
          ),
        );
      }
      const cc = v128.load32_splat(c);
      accA = Q4.addBlock(accA, i32x4.add(i32x4.extadd_pairwise_i16x8_s(a), cc), v128.load(swA), s);
      accB = Q4.addBlock(accB, i32x4.add(i32x4.extadd_pairwise_i16x8_s(b), cc), v128.load(swB), s);
      ((x += 32), (wA += 64), (wB += 64), (s += 4), (c += 4), (swA += 16), (swB += 16));
    }
  } else {
    const m = i16x8.splat(0x000f);
    while (wA < end) {
      let a = v128.load32_splat(c);
      let b = a;
      for (let ch: usize = 0; ch < 64; ch += 16) {
        const va = v128.load(wA + ch),
          vb = v128.load(wB + ch);
        const xc = x + ch;
        let xp = v128.load32_splat(xc);
        a = i32x4.add(a, i32x4.dot_i16x8_s(xp, v128.and(va, m)));
        b = i32x4.add(b, i32x4.dot_i16x8_s(xp, v128.and(vb, m)));
        xp = v128.load32_splat(xc, 4);
        a = i32x4.add(a, i32x4.dot_i16x8_s(xp, v128.and(i16x8.shr_u(va, 8), m)));
        b = i32x4.add(b, i32x4.dot_i16x8_s(xp, v128.and(i16x8.shr_u(vb, 8), m)));
        xp = v128.load32_splat(xc, 8);
        a = i32x4.add(a, i32x4.dot_i16x8_s(xp, v128.and(i16x8.shr_u(va, 4), m)));
        b = i32x4.add(b, i32x4.dot_i16x8_s(xp, v128.and(i16x8.shr_u(vb, 4), m)));
        xp = v128.load32_splat(xc, 12);
        a = i32x4.add(a, i32x4.dot_i16x8_s(xp, i16x8.shr_u(va, 12)));
        b = i32x4.add(b, i32x4.dot_i16x8_s(xp, i16x8.shr_u(vb, 12)));
      }
      accA = Q4.addBlock(accA, a, v128.load(swA), s);
      accB = Q4.addBlock(accB, b, v128.load(swB), s);
      ((x += 64), (wA += 64), (wB += 64), (s += 4), (c += 4), (swA += 16), (swB += 16));
    }
  }
  v128.store(oA, f32x4.add(accA, biasA));
  Vec.storeN(oB, f32x4.add(accB, biasB), lanesB);
}

/**
 * Two tokens (quant rows x0, x1; s and c token 0's scales and sums, token 1's sr bytes further)
 * against a group of 4 rows: each chunk's nibbles are unpacked once for both tokens.
 */
function tile2x4(
  out: usize,
  os: usize,
  lanes: i32,
  x0: usize,
  x1: usize,
  s: usize,
  c: usize,
  sr: usize,
  w: usize,
  sw: usize,
  nb: i32,
  bias: v128,
): void {
  let acc0 = f32x4.splat(0),
    acc1 = f32x4.splat(0);
  const end = w + ((<usize>nb) << 6);
  if (ASC_FEATURE_RELAXED_SIMD) {
    const m = i8x16.splat(0x0f);
    while (w < end) {
      let a = i16x8.splat(0),
        b = i16x8.splat(0);
      for (let ch: usize = 0; ch < 4; ch++) {
        const v = v128.load(w + (ch << 4));
        const lo = v128.and(v, m);
        const hi = v128.and(i16x8.shr_u(v, 4), m);
        const xa = x0 + (ch << 3),
          xb = x1 + (ch << 3);
        a = i16x8.add(a, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xa), lo));
        b = i16x8.add(b, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xb), lo));
        a = i16x8.add(a, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xa, 4), hi));
        b = i16x8.add(b, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xb, 4), hi));
      }
      const sw4 = v128.load(sw);
      acc0 = Q4.addBlock(
        acc0,
        i32x4.add(i32x4.extadd_pairwise_i16x8_s(a), v128.load32_splat(c)),
        sw4,
        s,
      );
      acc1 = Q4.addBlock(
        acc1,
        i32x4.add(i32x4.extadd_pairwise_i16x8_s(b), v128.load32_splat(c + sr)),
        sw4,
        s + sr,
      );
      ((x0 += 32), (x1 += 32), (w += 64), (s += 4), (c += 4), (sw += 16));
    }
  } else {
    const m = i16x8.splat(0x000f);
    while (w < end) {
      let a = v128.load32_splat(c),
        b = v128.load32_splat(c + sr);
      for (let ch: usize = 0; ch < 64; ch += 16) {
        const v = v128.load(w + ch);
        const xa = x0 + ch,
          xb = x1 + ch;
        let p = v128.and(v, m);
        a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(xa), p));
        b = i32x4.add(b, i32x4.dot_i16x8_s(v128.load32_splat(xb), p));
        p = v128.and(i16x8.shr_u(v, 8), m);
        a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(xa, 4), p));
        b = i32x4.add(b, i32x4.dot_i16x8_s(v128.load32_splat(xb, 4), p));
        p = v128.and(i16x8.shr_u(v, 4), m);
        a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(xa, 8), p));
        b = i32x4.add(b, i32x4.dot_i16x8_s(v128.load32_splat(xb, 8), p));
        p = i16x8.shr_u(v, 12);
        a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(xa, 12), p));
        b = i32x4.add(b, i32x4.dot_i16x8_s(v128.load32_splat(xb, 12), p));
      }
      const sw4 = v128.load(sw);
      acc0 = Q4.addBlock(acc0, a, sw4, s);
      acc1 = Q4.addBlock(acc1, b, sw4, s + sr);
      ((x0 += 64), (x1 += 64), (w += 64), (s += 4), (c += 4), (sw += 16));
    }
  }
  Vec.storeN(out, f32x4.add(acc0, bias), lanes);
  Vec.storeN(out + os, f32x4.add(acc1, bias), lanes);
}
