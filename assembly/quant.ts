// Blocks of 32 int8 values with one f32 scale: quantize (f32 rows -> int8 blocks, used for the
// activations fed to the q8/q4 matmuls and for the int8 KV cache) and the integer block dots the
// quantized kernels share. Layouts: src/model/manifest.ts; the TS reference: src/kernels/quant.ts.

// 32 values per block: ggml's q8_0/q4_0 block size. Small enough that one outlier only coarsens
// its own 32 neighbours, large enough that a 4-byte scale adds 1/8 byte per value (q8) and that
// one block is exactly four i32x4.dot_i16x8_s of 8 pairs each.
export const QBLOCK = 32;

/**
 * x[T][n] f32 -> q[T][n] i8 and s[T][n/32] f32, per block of 32: s = amax / 127 and
 * q = round-half-even(x · (127 / amax)), so q·s reproduces x to within s/2 and |q| <= 127
 * (-128 never occurs, so negating a quant cannot overflow). An all-zero block gets s = 0, q = 0.
 * n must be a multiple of 32; rows are contiguous, so the T·n/32 blocks are simply consecutive.
 */
export function quantize(q: usize, s: usize, x: usize, T: i32, n: i32): void {
  const blocks = (T * n) >> 5;
  for (let b = 0; b < blocks; b++) {
    const xp = x + ((<usize>b) << 7); // 32 floats = 128 bytes per block
    let m = f32x4.abs(v128.load(xp));
    for (let i: usize = 16; i < 128; i += 16) m = f32x4.max(m, f32x4.abs(v128.load(xp + i)));
    const mm = f32x4.max(m, f32x4.shuffle(m, m, 2, 3, 0, 1));
    const amax = max(f32x4.extract_lane(mm, 0), f32x4.extract_lane(mm, 1));
    store<f32>(s + ((<usize>b) << 2), amax / 127);
    const id = f32x4.splat(amax > 0 ? <f32>127 / amax : 0);
    const qp = q + ((<usize>b) << 5);
    for (let h: usize = 0; h < 2; h++) {
      // 16 values: four f32x4 -> i32x4 -> two i16x8 -> one i8x16 (no saturation: |q| <= 127)
      const p = xp + (h << 6);
      const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), id)));
      const b1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), id)));
      const c = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 32), id)));
      const d = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 48), id)));
      const lo = i16x8.narrow_i32x4_s(a, b1);
      const hi = i16x8.narrow_i32x4_s(c, d);
      v128.store(qp + (h << 4), i8x16.narrow_i16x8_s(lo, hi));
    }
  }
}

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
export class QDot {
  /**
   * Σ x[i]·w[i] over one block, as an i32x4 whose four lanes sum to the dot product. x: 32 i8
   * activations. W = i8: w is a q8 block (32 i8). W = u8: w is a q4 block, 16 bytes whose low
   * nibbles hold weights 0..15 and high nibbles 16..31, each stored as q + 8 in [0, 15].
   * Exact: |products| <= 127·128, and 32 of them fit an i32 with room to spare.
   */
  @inline static block<W>(x: usize, w: usize): v128 {
    if (isSigned<W>()) {
      return QDot.dot4(
        x,
        v128.load8x8_s(w),
        v128.load8x8_s(w, 8),
        v128.load8x8_s(w, 16),
        v128.load8x8_s(w, 24),
      );
    }
    const v = v128.load(w);
    const lo = i8x16.sub(v128.and(v, i8x16.splat(0x0f)), i8x16.splat(8));
    const hi = i8x16.sub(i8x16.shr_u(v, 4), i8x16.splat(8));
    return QDot.dot4(
      x,
      i16x8.extend_low_i8x16_s(lo),
      i16x8.extend_high_i8x16_s(lo),
      i16x8.extend_low_i8x16_s(hi),
      i16x8.extend_high_i8x16_s(hi),
    );
  }

  /**
   * Two activation blocks (x0, x1) against one weight block, unpacked once for both. Returns
   * zip(dot(x0), dot(x1)): lanes (x0, x1, x0, x1), so a row's x0 result is lane 0 + lane 2.
   */
  @inline static block2<W>(x0: usize, x1: usize, w: usize): v128 {
    if (isSigned<W>()) {
      const w0 = v128.load8x8_s(w);
      const w1 = v128.load8x8_s(w, 8);
      const w2 = v128.load8x8_s(w, 16);
      const w3 = v128.load8x8_s(w, 24);
      return QDot.zip(QDot.dot4(x0, w0, w1, w2, w3), QDot.dot4(x1, w0, w1, w2, w3));
    }
    const v = v128.load(w);
    const lo = i8x16.sub(v128.and(v, i8x16.splat(0x0f)), i8x16.splat(8));
    const hi = i8x16.sub(i8x16.shr_u(v, 4), i8x16.splat(8));
    const w0 = i16x8.extend_low_i8x16_s(lo);
    const w1 = i16x8.extend_high_i8x16_s(lo);
    const w2 = i16x8.extend_low_i8x16_s(hi);
    const w3 = i16x8.extend_high_i8x16_s(hi);
    return QDot.zip(QDot.dot4(x0, w0, w1, w2, w3), QDot.dot4(x1, w0, w1, w2, w3));
  }

  /**
   * The start of a q4 block dot: -8·Σx over the block's 32 activations (x0..x3 widened), as
   * lanes. q4 weights are stored as q + 8 in [0, 15], so Σ x·q = Σ x·(q + 8) - 8·Σ x, an exact
   * integer identity that spares every row the two "- 8" per block. Zero (unused) for q8.
   * (Not relaxed_dot_i8x16_i7x16, though q + 8 is the 7-bit operand it wants: Node 20's V8 returns
   * twice the dot product from it, so its results are not the same across V8 versions.)
   */
  @inline static start<W>(x0: v128, x1: v128, x2: v128, x3: v128): v128 {
    if (isSigned<W>()) return i32x4.splat(0);
    // |x0 + x1 + x2 + x3| <= 4·127 fits i16; one dot with -8 gives -8·Σx in lanes
    const s = i16x8.add(i16x8.add(x0, x1), i16x8.add(x2, x3));
    return i32x4.dot_i16x8_s(s, i16x8.splat(-8));
  }

  /**
   * block<W> with the activations' common work done once per block: x0..x3 are x's 32 i8 as
   * four i16x8, c = start<W>(x0, x1, x2, x3). Lanes sum to the exact integer dot.
   */
  @inline static row<W>(x0: v128, x1: v128, x2: v128, x3: v128, c: v128, w: usize): v128 {
    if (isSigned<W>()) {
      const a = i32x4.add(
        i32x4.dot_i16x8_s(x0, v128.load8x8_s(w)),
        i32x4.dot_i16x8_s(x1, v128.load8x8_s(w, 8)),
      );
      const b = i32x4.add(
        i32x4.dot_i16x8_s(x2, v128.load8x8_s(w, 16)),
        i32x4.dot_i16x8_s(x3, v128.load8x8_s(w, 24)),
      );
      return i32x4.add(a, b);
    }
    // x64 has no byte shift: a 16-bit shift and the nibble mask give the same bytes, cheaper
    const v = v128.load(w);
    const m = i8x16.splat(0x0f);
    const lo = v128.and(v, m); // weights 0..15, each q + 8
    const hi = v128.and(i16x8.shr_u(v, 4), m); // weights 16..31
    const a = i32x4.add(
      i32x4.dot_i16x8_s(x0, i16x8.extend_low_i8x16_u(lo)),
      i32x4.dot_i16x8_s(x1, i16x8.extend_high_i8x16_u(lo)),
    );
    const b = i32x4.add(
      i32x4.dot_i16x8_s(x2, i16x8.extend_low_i8x16_u(hi)),
      i32x4.dot_i16x8_s(x3, i16x8.extend_high_i8x16_u(hi)),
    );
    return i32x4.add(i32x4.add(a, b), c);
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
