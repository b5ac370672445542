// rowsQ4: matmulQuant's q4 part (matmul-quant.ts): out[T][d] = x[T][n] · w[d][n]ᵀ + b[d] with w
// in 4-bit blocks of 32, laid out at convert time for these kernels. x (f32) is quantized here
// first (quantizeQ4Input: int8 blocks, the rule of `quantize`), then one exact integer dot per
// block and row and one f32 multiply-add.
//
// Weight layout: q4 in src/model/manifest.ts (format 3): rows in groups of 4, 64 bytes per block
// and group, four 16-byte chunks of 4 rows × 8 values. So a chunk's low nibbles are 4 rows × 4
// consecutive values, and one dot with those 4 activations broadcast to every row gives each
// row's partial sum in its own lanes: no horizontal sums, no transposes, and a single contiguous
// weight stream per group. Q4.chunk is that dot, once per build:
//
// Relaxed build: i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw: 16 byte products per instruction)
// with x int8 and the nibbles (0..15, so 7-bit: its result is defined, the same on every
// engine) as operands. Baseline build: the nibbles as four planes of i16 lanes (masks and
// shifts of the chunk read as u16) against pairs of i16 activations (i32x4.dot_i16x8_s).
// Both produce the same exact integer per block and row, hence the same bits.

import { QBLOCK, QDot, quantizeQ4Input } from "./quant";
import { tokenBlock } from "./token-block";
import { Vec } from "./vec";

// Bytes per block of 32 values: a group's weights (4 rows × 32 nibbles) and scales (4 f32), and
// one token's activation quants (int8 in the relaxed build, i16 in the baseline: quant.ts).
const WB: usize = 64;
const SB: usize = 16;
const XB: usize = ASC_FEATURE_RELAXED_SIMD ? QBLOCK : 2 * QBLOCK;
const XC: usize = XB / 4; // activation bytes per 16-byte weight chunk (8 values)
// Chunks per loop step of the T = 1 tile: TurboFan issues a step's loads before its arithmetic,
// so a step holds its loads in xmm registers: 2 chunks × 2 groups + 4 broadcasts fit the relaxed
// build's; the baseline's 4 broadcasts per chunk do not (assembly/PERF.md).
const CS: usize = ASC_FEATURE_RELAXED_SIMD ? 2 : 1;

/** Bytes of the scratch rowsQ4 needs at xq for T rows of n: quants (2 per value), scales, sums. */
export function q4ScratchBytes(T: i32, n: i32): usize {
  return <usize>T * <usize>n * 2 + <usize>T * <usize>(n / QBLOCK) * 8;
}
/**
 * x: f32 [T][n], n = nb · 32; xq: scratch of q4ScratchBytes(T, n) bytes; w: [ceil(d/4)][nb][64]
 * bytes; ws: f32 scales [ceil(d/4)][nb][4] (as q8's). b = 0 means no bias. The per-block
 * arithmetic of q8 (matmulQuant), so the same bits whatever T and the batch.
 */
export function rowsQ4(
  out: usize,
  x: usize,
  xq: usize,
  w: usize,
  ws: usize,
  b: usize,
  T: i32,
  nb: i32,
  d: i32,
): void {
  const n = nb * QBLOCK;
  const xs = xq + <usize>T * <usize>n * 2; // f32 [T][nb] activation scales
  const xc = xs + ((<usize>T * <usize>nb) << 2); // i32 [T][nb] corrections
  if (ASC_FEATURE_RELAXED_SIMD) quantizeQ4Input(xq, xs, xc, x, T, n, false); // one form
  const xr = <usize>nb * XB; // bytes per quant row
  const sr: usize = (<usize>nb) << 2; // bytes per row of xs and of xc
  const os: usize = (<usize>d) << 2; // bytes per out row
  const gs = <usize>nb * WB; // weight bytes per group of 4 rows
  const TB = tokenBlock(xr, 2);
  const groups = (d + 3) >> 2;
  for (let t0 = 0; t0 < T; t0 += TB) {
    const t1 = min(T, t0 + TB);
    if (!ASC_FEATURE_RELAXED_SIMD) {
      // the pairs' quants as the pair tile reads them, the odd token's as the one-token tiles do
      const odd = (t1 - t0) & 1;
      const xt = x + ((<usize>t0 * <usize>n) << 2),
        st = <usize>t0 * sr;
      quantizeQ4Input(xq + <usize>t0 * xr, xs + st, xc + st, xt, t1 - t0 - odd, n, false);
      const xo = x + ((<usize>(t1 - 1) * <usize>n) << 2),
        so = <usize>(t1 - 1) * sr;
      if (odd) quantizeQ4Input(xq + <usize>(t1 - 1) * xr, xs + so, xc + so, xo, 1, n, true);
    }
    // pairs of tokens (none in T = 1 decode)
    for (let g = 0; t1 - t0 >= 2 && g < groups; g++) {
      const j = g << 2;
      const lanes = min(4, d - j); // outputs of this group (the last may have 1-3)
      const bias = b ? Vec.loadN(b + ((<usize>j) << 2), lanes) : f32x4.splat(0);
      const wg = w + <usize>g * gs;
      const sg = ws + <usize>g * <usize>nb * SB; // this group's scales, 16 B per block
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
        const swA = ws + <usize>g * <usize>nb * SB,
          swB = ws + <usize>h * <usize>nb * SB;
        const oA = o + ((<usize>g) << 4),
          oB = o + ((<usize>h) << 4);
        Tiles.tile1x8(oA, oB, lanes, x, s, c, wA, wB, swA, swB, nb, biasA, biasB);
      }
      if (groups & 1) {
        const g = groups - 1;
        const lanes = min(4, d - (g << 2));
        const bias = b ? Vec.loadN(b + ((<usize>g) << 4), lanes) : f32x4.splat(0);
        const sg = ws + <usize>g * <usize>nb * SB;
        tile1x4(o + ((<usize>g) << 4), lanes, x, s, c, w + <usize>g * gs, sg, nb, bias);
      }
    }
  }
}

// The nibble masks, in the module's static data (below RESERVED_BYTES: src/kernels/types.ts),
// loaded by Q4.mask: i8x16.splat(0x0f) for the relaxed build, i16x8.splat(0x000f << at) for
// at = 0, 4, 8 for the baseline.
const MASK_I8 = memory.data<u8>(
  [15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15],
  16,
);
const MASK_I16 = memory.data<u16>(
  [
    15, 15, 15, 15, 15, 15, 15, 15, 240, 240, 240, 240, 240, 240, 240, 240, 3840, 3840, 3840, 3840,
    3840, 3840, 3840, 3840,
  ],
  16,
);

// The chunk dot, once per build. Static methods only because @inline is valid on methods, not
// on functions (see vec.ts).
class Q4 {
  /**
   * acc + the dot of one 16-byte weight chunk v with the token's 8 activations of that chunk at
   * x, each row's sum in its own lanes. Relaxed: i16x8 lanes, row r in lanes 2r and 2r + 1; the
   * low nibbles against x[0..3] broadcast, the high ones against x[4..7]. Each lane adds 2
   * products per pmaddubsw, |.| <= 2·127·15, 8 per block: a block's sum fits an i16. Baseline:
   * i32x4 lanes, row r in lane r; read as u16 lanes the chunk holds four nibble planes, values
   * (0, 2), (1, 3), (4, 6), (5, 7) of each row at bits 0, 8, 4, 12, against the i16 activation
   * pairs at x, x + 4, x + 8, x + 12 (quantizeQ4Input permutes them so). m: Q4.mask().
   */
  @inline static chunk(acc: v128, v: v128, x: usize, m: v128): v128 {
    if (ASC_FEATURE_RELAXED_SIMD) {
      const lo = i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x), v128.and(v, m));
      const hi = i16x8.relaxed_dot_i8x16_i7x16_s(
        v128.load32_splat(x, 4),
        v128.and(i16x8.shr_u(v, 4), m), // 16-bit shift: x64 has no byte shift
      );
      return i16x8.add(i16x8.add(acc, lo), hi);
    }
    let a = i32x4.add(acc, i32x4.dot_i16x8_s(v128.load32_splat(x), v128.and(v, m)));
    a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(x, 4), v128.and(i16x8.shr_u(v, 8), m)));
    a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(x, 8), v128.and(i16x8.shr_u(v, 4), m)));
    return i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(x, 12), i16x8.shr_u(v, 12)));
  }

  /** start(c) + chunk: a block's first chunk, which sets the relaxed accumulator (no zero). */
  @inline static first(v: v128, x: usize, m: v128, c: usize): v128 {
    if (!ASC_FEATURE_RELAXED_SIMD) return Q4.chunk(Q4.start(c), v, x, m);
    const lo = i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x), v128.and(v, m));
    const hi = i16x8.relaxed_dot_i8x16_i7x16_s(
      v128.load32_splat(x, 4),
      v128.and(i16x8.shr_u(v, 4), m),
    );
    return i16x8.add(lo, hi);
  }

  /**
   * chunk for the one-token tiles, where the baseline's quants are scaled (quantizeQ4Input):
   * its planes at bits 8 and 4 stay in place (masked, not shifted: 256 and 16 times the nibble)
   * against 1 and 16 times x, those at bits 0 and 12 against 256 times x, so every product is
   * 256 times its value in one accumulator (isum1 shifts it back) and a plane costs one op, not
   * two. The pair tile keeps chunk: m4 and m8 held with its 9 loads spill (assembly/PERF.md).
   * Relaxed: chunk. m, m4, m8: mask(0), mask(4), mask(8).
   */
  @inline static chunk1(acc: v128, v: v128, x: usize, m: v128, m4: v128, m8: v128): v128 {
    if (ASC_FEATURE_RELAXED_SIMD) return Q4.chunk(acc, v, x, m);
    let a = i32x4.add(acc, i32x4.dot_i16x8_s(v128.load32_splat(x), v128.and(v, m)));
    a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(x, 4), v128.and(v, m8)));
    a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(x, 8), v128.and(v, m4)));
    return i32x4.add(a, i32x4.dot_i16x8_s(v128.load32_splat(x, 12), i16x8.shr_u(v, 12)));
  }

  /** start(c) + chunk1: a block's first chunk, which sets the relaxed accumulator (no zero). */
  @inline static first1(v: v128, x: usize, m: v128, m4: v128, m8: v128, c: usize): v128 {
    if (ASC_FEATURE_RELAXED_SIMD) return Q4.first(v, x, m, c);
    return Q4.chunk1(Q4.start(c), v, x, m, m4, m8);
  }

  /**
   * The nibble masks of chunk (and the baseline's chunk1 at bits `at` of each u16): loaded once
   * per tile, outside its loop, where they stay in registers.
   */
  @inline static mask(at: i32 = 0): v128 {
    // Loaded, not built: V8 14 (workerd's) folds a splat of a constant back into a constant and
    // rebuilds it at every use in the loop, 3 instructions per and (assembly/PERF.md). A constant
    // address below the memory's declared minimum needs no bounds check.
    return v128.load(ASC_FEATURE_RELAXED_SIMD ? MASK_I8 : MASK_I16 + ((<usize>at) << 2));
  }

  /**
   * A block's accumulator before its chunks, given the address c of the token's correction
   * -8·Σx (the nibbles hold q + 8): c's value in every lane where lanes are i32 (baseline); zero
   * where they are i16 pairs (relaxed), and isum adds c after widening. Loaded where each build
   * needs it: a value held across the chunk loop costs the relaxed tiles a register (4%).
   */
  @inline static start(c: usize): v128 {
    return ASC_FEATURE_RELAXED_SIMD ? i16x8.splat(0) : v128.load32_splat(c);
  }

  /** A block's exact integer dot per row (i32x4) from acc = start(c) + its chunks. */
  @inline static isum(acc: v128, c: usize): v128 {
    if (!ASC_FEATURE_RELAXED_SIMD) return acc;
    return i32x4.add(i32x4.extadd_pairwise_i16x8_s(acc), v128.load32_splat(c));
  }

  /** isum from acc = start(c) + chunk1s (the baseline's: 256 times it). */
  @inline static isum1(acc: v128, c: usize): v128 {
    return ASC_FEATURE_RELAXED_SIMD ? Q4.isum(acc, c) : i32x4.shr_s(acc, 8);
  }
}

/**
 * One token (T = 1 decode, and the odd token of a batch) against a group of 4 rows: x its quant
 * row, s and c its scales and sums. Tiles.tile1x8 does most groups; this one the odd one out.
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
  const m = Q4.mask(),
    m4 = Q4.mask(4),
    m8 = Q4.mask(8);
  const end = w + <usize>nb * WB;
  for (; w < end; w += WB, x += XB, s += 4, c += 4, sw += SB) {
    let a = Q4.start(c);
    for (let ch: usize = 0; ch < 4; ch++) {
      a = Q4.chunk1(a, v128.load(w + (ch << 4)), x + ch * XC, m, m4, m8);
    }
    acc = QDot.addBlock(acc, Q4.isum1(a, c), v128.load(sw), s);
  }
  Vec.storeN(out, f32x4.add(acc, bias), lanes);
}

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
class Tiles {
  /**
   * One token against two groups of 4 rows at once (wA, wB; their scales swA, swB), outputs at
   * oA (4) and oB (lanesB): tile1x4's arithmetic with two weight streams in flight. Inlined into
   * rowsQ4: as a call (binaryen's inliner declined it) the baseline's T = 1 matmul lost 7%.
   */
  @inline static tile1x8(
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
    const m = Q4.mask(),
      m4 = Q4.mask(4),
      m8 = Q4.mask(8);
    const end = wA + <usize>nb * WB;
    for (; wA < end; s += 4, c += 4, swA += SB, swB += SB) {
      // the block's first step sets a and b, a loop does the rest (pointers stepping through it)
      let a = Q4.first1(v128.load(wA), x, m, m4, m8, c),
        b = Q4.first1(v128.load(wB), x, m, m4, m8, c);
      if (CS == 2) {
        a = Q4.chunk1(a, v128.load(wA, 16), x + XC, m, m4, m8);
        b = Q4.chunk1(b, v128.load(wB, 16), x + XC, m, m4, m8);
      }
      wA += CS << 4;
      wB += CS << 4;
      x += CS * XC;
      for (let k: usize = 1; k < 4 / CS; k++, wA += CS << 4, wB += CS << 4, x += CS * XC) {
        a = Q4.chunk1(a, v128.load(wA), x, m, m4, m8);
        b = Q4.chunk1(b, v128.load(wB), x, m, m4, m8);
        if (CS == 2) {
          a = Q4.chunk1(a, v128.load(wA, 16), x + XC, m, m4, m8);
          b = Q4.chunk1(b, v128.load(wB, 16), x + XC, m, m4, m8);
        }
      }
      accA = QDot.addBlock(accA, Q4.isum1(a, c), v128.load(swA), s);
      accB = QDot.addBlock(accB, Q4.isum1(b, c), v128.load(swB), s);
    }
    v128.store(oA, f32x4.add(accA, biasA));
    Vec.storeN(oB, f32x4.add(accB, biasB), lanesB);
  }
}

/**
 * Two tokens (quant rows x0, x1; s and c token 0's scales and sums, token 1's sr bytes further)
 * against a group of 4 rows: each weight chunk is loaded once for both tokens.
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
  const m = Q4.mask();
  const end = w + <usize>nb * WB;
  for (; w < end; s += 4, c += 4, sw += SB) {
    // the block's first chunk sets a and b, a loop does the rest (pointers stepping through it)
    const v0 = v128.load(w);
    let a = Q4.first(v0, x0, m, c),
      b = Q4.first(v0, x1, m, c + sr);
    w += 16;
    x0 += XC;
    x1 += XC;
    for (let k = 1; k < 4; k++, w += 16, x0 += XC, x1 += XC) {
      const v = v128.load(w);
      a = Q4.chunk(a, v, x0, m);
      b = Q4.chunk(b, v, x1, m);
    }
    const sw4 = v128.load(sw);
    acc0 = QDot.addBlock(acc0, Q4.isum(a, c), sw4, s);
    acc1 = QDot.addBlock(acc1, Q4.isum(b, c + sr), sw4, s + sr);
  }
  Vec.storeN(out, f32x4.add(acc0, bias), lanes);
  Vec.storeN(out + os, f32x4.add(acc1, bias), lanes);
}
