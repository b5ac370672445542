// SIMD helpers shared by the kernels: horizontal sums, a strided gather and a vector exp.
// Not exported from the module; inlined wherever they are used.

// Static methods only because @inline (AssemblyScript: inline at every call site) is a valid
// decorator on methods but not on functions in TypeScript syntax, which prettier parses.
export class Vec {
  /** Four horizontal sums at once: lane i of the result is the sum of the lanes of the i-th input. */
  @inline static hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
    // A 4x4 transpose folded into the adds: 4 shuffles + 3 adds instead of 4 separate reductions.
    const ab = f32x4.add(f32x4.shuffle(a, b, 0, 4, 1, 5), f32x4.shuffle(a, b, 2, 6, 3, 7));
    const cd = f32x4.add(f32x4.shuffle(c, d, 0, 4, 1, 5), f32x4.shuffle(c, d, 2, 6, 3, 7));
    return f32x4.add(f32x4.shuffle(ab, cd, 0, 1, 4, 5), f32x4.shuffle(ab, cd, 2, 3, 6, 7));
  }

  /**
   * a·b + c per lane. The relaxed build (ASC_FEATURE_RELAXED_SIMD) emits f32x4.relaxed_madd, one
   * fused multiply-add where the CPU has FMA (one rounding, not two), else f32x4.mul + f32x4.add.
   * Within one build every call site rounds the same way, so a row's result still does not
   * depend on the batch; the two builds differ from each other by rounding only.
   */
  @inline static madd(a: v128, b: v128, c: v128): v128 {
    if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
    return f32x4.add(f32x4.mul(a, b), c);
  }

  /** Sum of the four lanes of a. */
  @inline static hsum(a: v128): f32 {
    const s = f32x4.add(a, f32x4.shuffle(a, a, 2, 3, 0, 1));
    return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
  }

  /** Largest of the four lanes of a. */
  @inline static hmax(a: v128): f32 {
    const m = f32x4.max(a, f32x4.shuffle(a, a, 2, 3, 0, 1));
    return max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
  }

  /** The floats at p, p + stride, p + 2*stride (one column of three rows); lane 3 = lane 0. */
  @inline static col3(p: usize, stride: usize): v128 {
    const v = f32x4.replace_lane(f32x4.splat(load<f32>(p)), 1, load<f32>(p + stride));
    return f32x4.replace_lane(v, 2, load<f32>(p + 2 * stride));
  }

  /** The floats at p, p + stride, p + 2*stride, p + 3*stride (one column of four rows). */
  @inline static col4(p: usize, stride: usize): v128 {
    return f32x4.replace_lane(Vec.col3(p, stride), 3, load<f32>(p + 3 * stride));
  }

  /** Lanes 0-2 of v to p, p + stride, p + 2*stride: col3's inverse. */
  @inline static storeCol3(p: usize, stride: usize, v: v128): void {
    v128.store32_lane(p, v, 0);
    v128.store32_lane(p + stride, v, 1);
    v128.store32_lane(p + 2 * stride, v, 2);
  }

  /** Lanes 0-3 of v to p, p + stride, p + 2*stride, p + 3*stride: col4's inverse. */
  @inline static storeCol4(p: usize, stride: usize, v: v128): void {
    Vec.storeCol3(p, stride, v);
    v128.store32_lane(p + 3 * stride, v, 3);
  }

  /** The 3 floats at p in lanes 0-2 (lane 3 = 0); reads nothing past p + 12, where a row may end. */
  @inline static load3(p: usize): v128 {
    return f32x4.replace_lane(v128.load64_zero(p), 2, load<f32>(p, 8));
  }

  /** Lanes 0-2 of v to p..p + 12; leaves p + 12 alone (the next tile's, or past the row). */
  @inline static store3(p: usize, v: v128): void {
    v128.store64_lane(p, v, 0);
    v128.store32_lane(p, v, 2, 8);
  }

  /** The first `lanes` (1-4) floats at p, the other lanes 0: nothing read past them. */
  @inline static loadN(p: usize, lanes: i32): v128 {
    if (lanes == 4) return v128.load(p);
    if (lanes == 3) return Vec.load3(p);
    return lanes == 2 ? v128.load64_zero(p) : v128.load32_zero(p);
  }

  /** Lanes 0..lanes-1 (1-4) of v to p; nothing written past them. */
  @inline static storeN(p: usize, v: v128, lanes: i32): void {
    if (lanes == 4) v128.store(p, v);
    else if (lanes == 3) Vec.store3(p, v);
    else if (lanes == 2) v128.store64_lane(p, v, 0);
    else v128.store32_lane(p, v, 0);
  }

  /**
   * e^x per lane, relative error ~2e-7 (about 1-2 ulp) for x in [-87, 88]. Cephes expf: write
   * x = n·ln2 + r with integer n and |r| <= ln2/2, take e^r from a degree-6 polynomial, and scale
   * by 2^n by building the float's exponent bits. x is clamped to [-88, 88] first: 2^127·e^r
   * stays below f32 max (no inf), and at -88 n = -127 gives exponent bits 0, i.e. exactly 0, so
   * e^-inf = 0 (masked scores vanish) and NaN still propagates through min/max.
   */
  @inline static exp4(x: v128): v128 {
    x = Vec.clamp88(x);
    const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341))); // x / ln2
    // r = x - n·ln2 with ln2 split into an exact high part and a small correction (Cody-Waite),
    // so r keeps full precision even for |n| ~ 127.
    let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
    r = f32x4.add(r, f32x4.mul(n, f32x4.splat(2.1219444e-4)));
    // Horner steps as madd: fused (one rounding, fewer instructions) in the relaxed build.
    let p = f32x4.splat(1.98756915e-4);
    p = Vec.madd(p, r, f32x4.splat(1.3981999507e-3));
    p = Vec.madd(p, r, f32x4.splat(8.3334519073e-3));
    p = Vec.madd(p, r, f32x4.splat(4.1665795894e-2));
    p = Vec.madd(p, r, f32x4.splat(1.6666665459e-1));
    p = Vec.madd(p, r, f32x4.splat(5.0000001201e-1));
    const er = f32x4.add(Vec.madd(f32x4.mul(p, r), r, r), f32x4.splat(1.0));
    // 2^n: biased exponent n + 127 shifted into bits 23..30 (0 for n = -127, giving 0.0).
    const pow2n = i32x4.shl(i32x4.add(Vec.truncInt(n), i32x4.splat(127)), 23);
    return f32x4.mul(er, pow2n);
  }

  /**
   * x clamped to [-88, 88], NaN kept. WebAssembly's f32x4.min/max define NaN and ±0 on every
   * engine, which costs V8 ~7 instructions each on x86; the relaxed build's are one minps/maxps.
   * Both give the same bits here: x is the second operand, which x86's minps/maxps return when
   * either is NaN (ARM's fmin/fmax return NaN anyway), and ±0 never meets ±88.
   */
  @inline static clamp88(x: v128): v128 {
    if (ASC_FEATURE_RELAXED_SIMD) {
      return f32x4.relaxed_min(f32x4.splat(88.0), f32x4.relaxed_max(f32x4.splat(-88.0), x));
    }
    return f32x4.min(f32x4.max(x, f32x4.splat(-88.0)), f32x4.splat(88.0));
  }

  /**
   * n (whole numbers in i32 range) to i32 lanes: one cvttps2dq in the relaxed build, where
   * trunc_sat's saturation and NaN → 0 cost V8 ~8 instructions on x86. The same result for every
   * n it is given (exp4's: integers in [-127, 127], or NaN where the result is NaN anyway).
   */
  @inline static truncInt(n: v128): v128 {
    if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_trunc_f32x4_s(n);
    return i32x4.trunc_sat_f32x4_s(n);
  }
}
