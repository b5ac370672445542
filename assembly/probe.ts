// Probes of this machine's limits on one core, for `npm run bench` (test/bench/kernels.ts): peak
// f32x4 multiply + add, relaxed f32x4 madd, int8 dots, and streaming memory bandwidth (two access
// patterns). Not part of the kernel module; built alone to build/probe.wasm (baseline) and
// build/probe-relaxed.wasm.

/**
 * 6 independent f32x4 multiply chains (m_i = m_i·m) and 6 independent add chains (a_i = a_i + c):
 * 12 × 4 FLOPs per iteration, no loads, nothing V8 can hoist. Independent streams measure the
 * issue rate of multiplies and adds (x64 runs them on 2-3 ports), the most a mul + add kernel can
 * approach. 12 chains + m + c = 14 registers: V8 allocates 15 xmm, and one more chain spills
 * (7 + 7 measured 18 GFLOP/s against 33 for 6 + 6).
 */
export function peakMulAdd(p: usize, iters: i32): f32 {
  return f32x4.extract_lane(Chains.run(p, iters, Chains.MUL_ADD), 0);
}

/**
 * 12 independent chains acc = relaxed_madd(acc, m, c) (one fused multiply-add where the CPU has
 * FMA): 12 × 8 FLOPs per iteration; 12 chains cover the FMA's 4-cycle latency at 2 per cycle.
 */
export function peakMadd(p: usize, iters: i32): f32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  return f32x4.extract_lane(Chains.run(p, iters, Chains.MADD), 0);
}

/**
 * 12 independent chains a = dot_i16x8_s(a, w) + c: 8 multiply-adds (16 int ops) per dot, the
 * operands already i16 in registers (an int8 kernel's best case). Chained through the dot so
 * V8 cannot hoist it out of the loop; 12 chains cover its latency.
 */
export function peakDotI16(p: usize, iters: i32): i32 {
  return i32x4.extract_lane(Chains.run(p, iters, Chains.DOT_I16), 0);
}

/** As peakDotI16 with i32x4.relaxed_dot_i8x16_i7x16_add_s: 16 multiply-adds (32 int ops) each. */
export function peakDotI8(p: usize, iters: i32): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  return i32x4.extract_lane(Chains.run(p, iters, Chains.DOT_I8), 0);
}

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
class Chains {
  static readonly MUL_ADD: i32 = 0;
  static readonly MADD: i32 = 1;
  static readonly DOT_I16: i32 = 2;
  static readonly DOT_I8: i32 = 3;

  /**
   * The 12 chains of the peaks above, inlined with a constant op: w = the vector at p, c the
   * one at p + 16, chain i starts at the one at p + 32 plus i·c (f32 lanes for MUL_ADD and
   * MADD: normal numbers) and steps by `step` iters times; the chains' sum.
   */
  @inline static run(p: usize, iters: i32, op: i32): v128 {
    const w = op == Chains.DOT_I8 ? i8x16.shr_u(v128.load(p), 1) : v128.load(p); // 7-bit for i8
    const c = op == Chains.DOT_I8 ? w : v128.load(p, 16);
    let a0 = v128.load(p, 32),
      a1 = Chains.add(a0, c, op),
      a2 = Chains.add(a1, c, op),
      a3 = Chains.add(a2, c, op);
    let a4 = Chains.add(a3, c, op),
      a5 = Chains.add(a4, c, op),
      a6 = Chains.add(a5, c, op),
      a7 = Chains.add(a6, c, op);
    let a8 = Chains.add(a7, c, op),
      a9 = Chains.add(a8, c, op),
      a10 = Chains.add(a9, c, op),
      a11 = Chains.add(a10, c, op);
    for (let i = 0; i < iters; i++) {
      a0 = Chains.step(a0, w, c, op, false);
      a1 = Chains.step(a1, w, c, op, true);
      a2 = Chains.step(a2, w, c, op, false);
      a3 = Chains.step(a3, w, c, op, true);
      a4 = Chains.step(a4, w, c, op, false);
      a5 = Chains.step(a5, w, c, op, true);
      a6 = Chains.step(a6, w, c, op, false);
      a7 = Chains.step(a7, w, c, op, true);
      a8 = Chains.step(a8, w, c, op, false);
      a9 = Chains.step(a9, w, c, op, true);
      a10 = Chains.step(a10, w, c, op, false);
      a11 = Chains.step(a11, w, c, op, true);
    }
    const a = Chains.add(Chains.add(a0, a1, op), Chains.add(a2, a3, op), op);
    const b = Chains.add(Chains.add(a4, a5, op), Chains.add(a6, a7, op), op);
    const e = Chains.add(Chains.add(a8, a9, op), Chains.add(a10, a11, op), op);
    return Chains.add(Chains.add(a, b, op), e, op);
  }

  @inline static add(a: v128, b: v128, op: i32): v128 {
    return op <= Chains.MADD ? f32x4.add(a, b) : i32x4.add(a, b);
  }

  /**
   * One link: a·w (even chains) or a + c (odd ones) for MUL_ADD; madd(a, w, c); dot_i16(a, w) +
   * c; the relaxed i8 dot of a and w, plus a.
   */
  @inline static step(a: v128, w: v128, c: v128, op: i32, odd: bool): v128 {
    if (op == Chains.MUL_ADD) return odd ? f32x4.add(a, c) : f32x4.mul(a, w);
    if (op == Chains.DOT_I16) return i32x4.add(i32x4.dot_i16x8_s(a, w), c);
    if (!ASC_FEATURE_RELAXED_SIMD) return a; // (the baseline probe has neither relaxed op)
    if (op == Chains.MADD) return f32x4.relaxed_madd(a, w, c);
    return i32x4.relaxed_dot_i8x16_i7x16_add_s(a, w, a);
  }
}

/**
 * Reads bytes at p with v128 loads, the buffer cut into k (1, 2, 4 or 8) equal parts read side by
 * side: per step one 64-byte line of each part, so k sequential streams, far apart, are in
 * flight at once. What one core reads with k streams is what a T = 1 kernel that keeps k weight
 * streams can reach. bytes: a multiple of 64·k. The caller must have written the buffer:
 * untouched pages all map to one zero page, which stays in cache.
 */
export function streams(p: usize, bytes: usize, k: i32): i32 {
  if (k == 8) return Lines.of(p, bytes, 8);
  if (k == 4) return Lines.of(p, bytes, 4);
  if (k == 2) return Lines.of(p, bytes, 2);
  return Lines.of(p, bytes, 1);
}

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
class Lines {
  /**
   * Inlined with a constant k: k pointers (binaryen unrolls no loop, so one statement each), per
   * step one line of each into 4 xor chains.
   */
  @inline static of(p: usize, bytes: usize, k: i32): i32 {
    const part = bytes / <usize>k;
    const end = p + part;
    let a0 = i32x4.splat(0),
      a1 = a0,
      a2 = a0,
      a3 = a0;
    for (; p < end; p += 64) {
      a0 = v128.xor(a0, Lines.line(p));
      if (k >= 2) a1 = v128.xor(a1, Lines.line(p + part));
      if (k >= 4) a2 = v128.xor(a2, Lines.line(p + 2 * part));
      if (k >= 4) a3 = v128.xor(a3, Lines.line(p + 3 * part));
      if (k >= 8) a0 = v128.xor(a0, Lines.line(p + 4 * part));
      if (k >= 8) a1 = v128.xor(a1, Lines.line(p + 5 * part));
      if (k >= 8) a2 = v128.xor(a2, Lines.line(p + 6 * part));
      if (k >= 8) a3 = v128.xor(a3, Lines.line(p + 7 * part));
    }
    return i32x4.extract_lane(v128.xor(v128.xor(a0, a1), v128.xor(a2, a3)), 0);
  }

  /** The 64 bytes at p (one cache line when p is 64-aligned), xor-folded. */
  @inline static line(p: usize): v128 {
    const a = v128.xor(v128.load(p), v128.load(p, 16));
    return v128.xor(a, v128.xor(v128.load(p, 32), v128.load(p, 48)));
  }
}

/**
 * Reads `count` blocks at p, one after the other, as the T = 1 matmul reads a weight matrix
 * (rows4, assembly/matmul.ts): each block cut into k (2, 4 or 8) parts of `part` bytes, read side
 * by side with one 16-byte load of each part per step, each into its own xor chain (xor's 1-cycle
 * latency needs no more). The caller picks the geometry (the bench: the logits' matrix, 50257
 * rows of 3 KiB, in k parts of whole rows). `streams` cuts its buffer at multiples of bytes / k
 * instead, a power of two apart, and on AMD Zen 4 streams that far apart read at 50-80% of the
 * rate of one, where a matrix's quarters read as fast as one (assembly/PERF.md).
 */
export function parts(p: usize, part: usize, k: i32, count: i32): i32 {
  let x = 0;
  for (let m = 0; m < count; m++, p += <usize>k * part) {
    if (k == 8) x ^= Parts.of(p, part, 8);
    else if (k == 4) x ^= Parts.of(p, part, 4);
    else x ^= Parts.of(p, part, 2);
  }
  return x;
}

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
class Parts {
  /** Inlined with a constant k: per step the 16 bytes at p + i·part for i < k, one chain each. */
  @inline static of(p: usize, part: usize, k: i32): i32 {
    const end = p + part;
    let a0 = i32x4.splat(0),
      a1 = a0,
      a2 = a0,
      a3 = a0,
      a4 = a0,
      a5 = a0,
      a6 = a0,
      a7 = a0;
    for (; p < end; p += 16) {
      a0 = v128.xor(a0, v128.load(p));
      a1 = v128.xor(a1, v128.load(p + part));
      if (k >= 4) a2 = v128.xor(a2, v128.load(p + 2 * part));
      if (k >= 4) a3 = v128.xor(a3, v128.load(p + 3 * part));
      if (k >= 8) a4 = v128.xor(a4, v128.load(p + 4 * part));
      if (k >= 8) a5 = v128.xor(a5, v128.load(p + 5 * part));
      if (k >= 8) a6 = v128.xor(a6, v128.load(p + 6 * part));
      if (k >= 8) a7 = v128.xor(a7, v128.load(p + 7 * part));
    }
    const a = v128.xor(v128.xor(a0, a1), v128.xor(a2, a3));
    const b = v128.xor(v128.xor(a4, a5), v128.xor(a6, a7));
    return i32x4.extract_lane(v128.xor(a, b), 0);
  }
}
