// Blocks of 32 int8 values with one f32 scale: quantize (f32 rows -> int8 blocks, used for the
// activations fed to the q8/q4 matmuls and for the int8 KV cache) and the integer block dots the
// quantized kernels share. Layouts: src/model/manifest.ts; the TS reference: src/kernels/quant.ts.

import { Vec } from "./vec";

// 32 values per block: ggml's q8_0/q4_0 block size. Small enough that one outlier only coarsens
// its own 32 neighbours, large enough that a 4-byte scale adds 1/8 byte per value (q8) and that
// one block is exactly four i32x4.dot_i16x8_s of 8 pairs each.
export const QBLOCK = 32;

// The dtype argument of embed (wte), matmulQuant (w) and attention (the KV cache): the same codes
// as DTYPE_CODE in src/kernels/types.ts.
export const DTYPE_F32: i32 = 0;
export const DTYPE_Q8: i32 = 1;
export const DTYPE_Q4: i32 = 2;

/**
 * x[T][n] f32 -> q[T][n] i8 and s[T][n/32] f32, per block of 32: s = amax / 127 and
 * q = round-half-even(x · (127 / amax)), so q·s reproduces x to within s/2 and |q| <= 127
 * (-128 never occurs, so negating a quant cannot overflow). An all-zero block gets s = 0, q = 0.
 * n must be a multiple of 32; rows are contiguous, so the T·n/32 blocks are simply consecutive.
 */
export function quantize(q: usize, s: usize, x: usize, T: i32, n: i32): void {
  quantizeBlocks<i8>(q, s, 0, x, T, n, false);
}

/**
 * The activations of a q4 matmulQuant, in the form its build's kernels read (matmul-q4.ts): the
 * quants and scales of quantize, plus c[T][n/32] i32 = -8·Σq per block (the q4 weights are
 * stored as q + 8, so Σ x·q = Σ x·(q + 8) + c). The relaxed build keeps the int8 quants (its dot
 * takes bytes); the baseline build widens them to i16 and, within each 8, stores them in the
 * order 0 2 1 3 4 6 5 7 (the pairs its nibble planes multiply); `scaled` (the baseline's odd
 * token, matmul-q4.ts: Q4.chunk) also multiplies them by 256, 256, 1, 1, 16, 16, 256, 256 and
 * c by 256. q: T·n·2 bytes either way.
 */
export function quantizeQ4Input(
  q: usize,
  s: usize,
  c: usize,
  x: usize,
  T: i32,
  n: i32,
  scaled: bool,
): void {
  if (ASC_FEATURE_RELAXED_SIMD) quantizeBlocks<u8>(q, s, c, x, T, n, false);
  else quantizeBlocks<i16>(q, s, c, x, T, n, scaled);
}

// Q = i8: int8 quants. Q = u8: int8 quants and sums at c. Q = i16: the quants widened, permuted
// (and scaled, if asked), and sums at c (quantizeQ4Input). The same q and s in every form.
function quantizeBlocks<Q>(
  q: usize,
  s: usize,
  c: usize,
  x: usize,
  T: i32,
  n: i32,
  scaled: bool,
): void {
  const wide = sizeof<Q>() == 2;
  const sums = wide || !isSigned<Q>();
  const blocks = (T * n) / QBLOCK;
  // i16 form: each permuted 8 scaled by 256, 256, 1, 1, 16, 16, 256, 256 (|256·q| <= 32512),
  // the factors matmul-q4.ts's baseline chunk needs to find every product 256 times its value
  const f = wide && scaled ? i16x8(256, 256, 1, 1, 16, 16, 256, 256) : i16x8.splat(1);
  for (let b = 0; b < blocks; b++) {
    const xp = x + ((<usize>b) << 7); // 32 floats = 128 bytes per block
    // |x| as i32 bits: for floats >= +0 (and NaN, above +inf) the integer order is the float
    // order, so one pmaxsd per vector does what f32x4.max's NaN and ±0 rules cost V8 ~8
    // instructions for, with the same result: NaN still wins.
    let m = f32x4.abs(v128.load(xp));
    for (let i: usize = 16; i < 128; i += 16) m = i32x4.max_s(m, f32x4.abs(v128.load(xp + i)));
    const mm = i32x4.max_s(m, i32x4.shuffle(m, m, 2, 3, 0, 1));
    const amax = max(f32x4.extract_lane(mm, 0), f32x4.extract_lane(mm, 1));
    store<f32>(s + ((<usize>b) << 2), amax / 127);
    const id = f32x4.splat(amax > 0 ? <f32>127 / amax : 0);
    const qp = q + ((<usize>b) << (wide ? 6 : 5)); // 32 quants of 1 or 2 bytes
    let sum = i16x8.splat(0);
    for (let h: usize = 0; h < 2; h++) {
      // 16 values: four f32x4 -> i32x4 -> two i16x8 -> one i8x16 (no saturation: |q| <= 127;
      // Vec.truncInt: a NaN value's quant differs by build, but its block's scale is NaN too)
      const p = xp + (h << 6);
      const a = Vec.truncInt(f32x4.nearest(f32x4.mul(v128.load(p), id)));
      const b1 = Vec.truncInt(f32x4.nearest(f32x4.mul(v128.load(p, 16), id)));
      const c4 = Vec.truncInt(f32x4.nearest(f32x4.mul(v128.load(p, 32), id)));
      const d = Vec.truncInt(f32x4.nearest(f32x4.mul(v128.load(p, 48), id)));
      const lo = i16x8.narrow_i32x4_s(a, b1);
      const hi = i16x8.narrow_i32x4_s(c4, d);
      if (sums) sum = i16x8.add(sum, i16x8.add(lo, hi)); // |lane| <= 4 · 127
      if (wide) {
        const o = qp + (h << 5);
        v128.store(o, i16x8.mul(i16x8.shuffle(lo, lo, 0, 2, 1, 3, 4, 6, 5, 7), f));
        v128.store(o, i16x8.mul(i16x8.shuffle(hi, hi, 0, 2, 1, 3, 4, 6, 5, 7), f), 16);
      } else {
        v128.store(qp + (h << 4), i8x16.narrow_i16x8_s(lo, hi));
      }
    }
    const c8 = i16x8.splat(wide && scaled ? -8 * 256 : -8); // scaled: 256·c (see quantizeQ4Input)
    if (sums) store<i32>(c + ((<usize>b) << 2), QDot.hsum(i32x4.dot_i16x8_s(sum, c8)));
  }
}

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
export class QDot {
  /**
   * acc + f32(isum) · (sw · s): one block's contribution to 4 outputs (lanes), the one order
   * every quantized kernel and twin uses. sw: the 4 weight (or key) scales; s: the address of the
   * activation's (or query's) scale.
   */
  @inline static addBlock(acc: v128, isum: v128, sw: v128, s: usize): v128 {
    const scale = f32x4.mul(sw, f32x4.splat(load<f32>(s)));
    return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), scale));
  }

  /**
   * Σ x[i]·w[i] over one block of 32 i8 activations x and 32 i8 (q8) weights w, as an i32x4
   * whose four lanes sum to the dot product. Exact: |products| <= 127·128, and 32 of them fit.
   */
  @inline static block(x: usize, w: usize): v128 {
    return QDot.dot4(
      x,
      v128.load8x8_s(w),
      v128.load8x8_s(w, 8),
      v128.load8x8_s(w, 16),
      v128.load8x8_s(w, 24),
    );
  }

  /** 32 i8 activations at x against weights 0-7, 8-15, 16-23, 24-31 as i16x8: four dots. */
  @inline static dot4(x: usize, w0: v128, w1: v128, w2: v128, w3: v128): v128 {
    const a = i32x4.add(
      i32x4.dot_i16x8_s(v128.load8x8_s(x), w0),
      i32x4.dot_i16x8_s(v128.load8x8_s(x, 8), w1),
    );
    const b = i32x4.add(
      i32x4.dot_i16x8_s(v128.load8x8_s(x, 16), w2),
      i32x4.dot_i16x8_s(v128.load8x8_s(x, 24), w3),
    );
    return i32x4.add(a, b);
  }

  /** (a0 + a2, b0 + b2, a1 + a3, b1 + b3): half of a horizontal sum of a and b at once. */
  @inline static zip(a: v128, b: v128): v128 {
    return i32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  }

  /** Lane i = the lane sum of the i-th input (integer adds: exact in any order). */
  @inline static hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
    const ab = QDot.zip(a, b); // (a, b, a, b)
    const cd = QDot.zip(c, d);
    return i32x4.add(i32x4.shuffle(ab, cd, 0, 1, 4, 5), i32x4.shuffle(ab, cd, 2, 3, 6, 7));
  }

  /** The sum of the four i32 lanes. */
  @inline static hsum(a: v128): i32 {
    const s = i32x4.add(a, i32x4.shuffle(a, a, 2, 3, 0, 1));
    return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
  }
}
