// Probes of this machine's limits on one core, for `npm run bench` (test/bench/kernels.ts): peak
// f32x4 multiply + add, relaxed f32x4 madd, int8 dots, and streaming memory bandwidth. Not part of
// the kernel module; built alone to build/probe.wasm (baseline) and build/probe-relaxed.wasm.

/**
 * 6 independent f32x4 multiply chains (m_i = m_i·m) and 6 independent add chains (a_i = a_i + c):
 * 12 × 4 FLOPs per iteration, no loads, nothing V8 can hoist. Independent streams measure the
 * issue rate of multiplies and adds (x64 runs them on 2-3 ports), the most a mul + add kernel can
 * approach. 12 chains + m + c = 14 registers: V8 allocates 15 xmm, and one more chain spills
 * (7 + 7 measured 18 GFLOP/s against 33 for 6 + 6).
 */
export function peakMulAdd(p: usize, iters: i32): f32 {
  const m = v128.load(p),
    c = v128.load(p, 16);
  let m0 = v128.load(p, 32),
    m1 = v128.load(p, 48),
    m2 = v128.load(p, 64),
    m3 = v128.load(p, 80),
    m4 = v128.load(p, 96),
    m5 = v128.load(p, 112);
  let a0 = v128.load(p, 128),
    a1 = v128.load(p, 144),
    a2 = v128.load(p, 160),
    a3 = v128.load(p, 176),
    a4 = v128.load(p, 192),
    a5 = v128.load(p, 208);
  for (let i = 0; i < iters; i++) {
    m0 = f32x4.mul(m0, m);
    a0 = f32x4.add(a0, c);
    m1 = f32x4.mul(m1, m);
    a1 = f32x4.add(a1, c);
    m2 = f32x4.mul(m2, m);
    a2 = f32x4.add(a2, c);
    m3 = f32x4.mul(m3, m);
    a3 = f32x4.add(a3, c);
    m4 = f32x4.mul(m4, m);
    a4 = f32x4.add(a4, c);
    m5 = f32x4.mul(m5, m);
    a5 = f32x4.add(a5, c);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(m0, m1), f32x4.add(m2, m3)), f32x4.add(m4, m5));
  const t = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(a4, a5));
  return f32x4.extract_lane(f32x4.add(s, t), 0);
}

/**
 * 12 independent chains acc = relaxed_madd(acc, m, c) (one fused multiply-add where the CPU has
 * FMA): 12 × 8 FLOPs per iteration; 12 chains cover the FMA's 4-cycle latency at 2 per cycle.
 */
export function peakMadd(p: usize, iters: i32): f32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  const m = v128.load(p),
    c = v128.load(p, 16);
  let a0 = v128.load(p, 32),
    a1 = f32x4.add(a0, c),
    a2 = f32x4.add(a1, c),
    a3 = f32x4.add(a2, c);
  let a4 = f32x4.add(a3, c),
    a5 = f32x4.add(a4, c),
    a6 = f32x4.add(a5, c),
    a7 = f32x4.add(a6, c);
  let a8 = f32x4.add(a7, c),
    a9 = f32x4.add(a8, c),
    a10 = f32x4.add(a9, c),
    a11 = f32x4.add(a10, c);
  for (let i = 0; i < iters; i++) {
    a0 = f32x4.relaxed_madd(a0, m, c);
    a1 = f32x4.relaxed_madd(a1, m, c);
    a2 = f32x4.relaxed_madd(a2, m, c);
    a3 = f32x4.relaxed_madd(a3, m, c);
    a4 = f32x4.relaxed_madd(a4, m, c);
    a5 = f32x4.relaxed_madd(a5, m, c);
    a6 = f32x4.relaxed_madd(a6, m, c);
    a7 = f32x4.relaxed_madd(a7, m, c);
    a8 = f32x4.relaxed_madd(a8, m, c);
    a9 = f32x4.relaxed_madd(a9, m, c);
    a10 = f32x4.relaxed_madd(a10, m, c);
    a11 = f32x4.relaxed_madd(a11, m, c);
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(a4, a5)),
    f32x4.add(f32x4.add(f32x4.add(a6, a7), f32x4.add(a8, a9)), f32x4.add(a10, a11)),
  );
  return f32x4.extract_lane(s, 0);
}

/**
 * 12 independent chains a = dot_i16x8_s(a, w) + c: 8 multiply-adds (16 int ops) per dot, the
 * operands already i16 in registers (an int8 kernel's best case). Chained through the dot so
 * V8 cannot hoist it out of the loop; 12 chains cover its latency.
 */
export function peakDotI16(p: usize, iters: i32): i32 {
  const w = v128.load(p),
    c = v128.load(p, 16);
  let a0 = v128.load(p, 32),
    a1 = i32x4.add(a0, c),
    a2 = i32x4.add(a1, c),
    a3 = i32x4.add(a2, c);
  let a4 = i32x4.add(a3, c),
    a5 = i32x4.add(a4, c),
    a6 = i32x4.add(a5, c),
    a7 = i32x4.add(a6, c);
  let a8 = i32x4.add(a7, c),
    a9 = i32x4.add(a8, c),
    a10 = i32x4.add(a9, c),
    a11 = i32x4.add(a10, c);
  for (let i = 0; i < iters; i++) {
    a0 = i32x4.add(i32x4.dot_i16x8_s(a0, w), c);
    a1 = i32x4.add(i32x4.dot_i16x8_s(a1, w), c);
    a2 = i32x4.add(i32x4.dot_i16x8_s(a2, w), c);
    a3 = i32x4.add(i32x4.dot_i16x8_s(a3, w), c);
    a4 = i32x4.add(i32x4.dot_i16x8_s(a4, w), c);
    a5 = i32x4.add(i32x4.dot_i16x8_s(a5, w), c);
    a6 = i32x4.add(i32x4.dot_i16x8_s(a6, w), c);
    a7 = i32x4.add(i32x4.dot_i16x8_s(a7, w), c);
    a8 = i32x4.add(i32x4.dot_i16x8_s(a8, w), c);
    a9 = i32x4.add(i32x4.dot_i16x8_s(a9, w), c);
    a10 = i32x4.add(i32x4.dot_i16x8_s(a10, w), c);
    a11 = i32x4.add(i32x4.dot_i16x8_s(a11, w), c);
  }
  return i32x4.extract_lane(DotSum.of(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11), 0);
}

/** As peakDotI16 with i32x4.relaxed_dot_i8x16_i7x16_add_s: 16 multiply-adds (32 int ops) each. */
export function peakDotI8(p: usize, iters: i32): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  const w = i8x16.shr_u(v128.load(p), 1); // a 7-bit operand, as the instruction requires
  let a0 = v128.load(p, 32),
    a1 = i32x4.add(a0, w),
    a2 = i32x4.add(a1, w),
    a3 = i32x4.add(a2, w);
  let a4 = i32x4.add(a3, w),
    a5 = i32x4.add(a4, w),
    a6 = i32x4.add(a5, w),
    a7 = i32x4.add(a6, w);
  let a8 = i32x4.add(a7, w),
    a9 = i32x4.add(a8, w),
    a10 = i32x4.add(a9, w),
    a11 = i32x4.add(a10, w);
  for (let i = 0; i < iters; i++) {
    a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a0, w, a0);
    a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a1, w, a1);
    a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a2, w, a2);
    a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a3, w, a3);
    a4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a4, w, a4);
    a5 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a5, w, a5);
    a6 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a6, w, a6);
    a7 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a7, w, a7);
    a8 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a8, w, a8);
    a9 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a9, w, a9);
    a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a10, w, a10);
    a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a11, w, a11);
  }
  return i32x4.extract_lane(DotSum.of(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11), 0);
}

class DotSum {
  @inline static of(
    a0: v128,
    a1: v128,
    a2: v128,
    a3: v128,
    a4: v128,
    a5: v128,
    a6: v128,
    a7: v128,
    a8: v128,
    a9: v128,
    a10: v128,
    a11: v128,
  ): v128 {
    const a = i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3));
    const b = i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7));
    return i32x4.add(i32x4.add(a, b), i32x4.add(i32x4.add(a8, a9), i32x4.add(a10, a11)));
  }
}

/**
 * Reads bytes (a multiple of 128) at p with v128 loads, 8 per step into 4 xor chains. The caller
 * must have written the buffer: untouched pages all map to one zero page, which stays in cache.
 */
export function stream(p: usize, bytes: usize): i32 {
  let a0 = i32x4.splat(0),
    a1 = a0,
    a2 = a0,
    a3 = a0;
  const end = p + bytes;
  for (; p < end; p += 128) {
    a0 = v128.xor(a0, v128.xor(v128.load(p), v128.load(p, 16)));
    a1 = v128.xor(a1, v128.xor(v128.load(p, 32), v128.load(p, 48)));
    a2 = v128.xor(a2, v128.xor(v128.load(p, 64), v128.load(p, 80)));
    a3 = v128.xor(a3, v128.xor(v128.load(p, 96), v128.load(p, 112)));
  }
  return i32x4.extract_lane(v128.xor(v128.xor(a0, a1), v128.xor(a2, a3)), 0);
}
