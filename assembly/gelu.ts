// gelu: GPT-2's tanh GELU ("gelu_new"), 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).

import { Vec } from "./vec";

/**
 * No tanh needed: 0.5·(1 + tanh(u)) = 1 / (1 + e^(-2u)), so gelu(x) = x / (1 + e^(-2u)). One
 * vector exp and one divide, and no cancellation: the 1 + tanh(u) ≈ 0 of large negative x is
 * never formed by subtraction. For x → -∞, e^(-2u) saturates at Vec.exp4's clamp (e^88, finite) and
 * the result goes to -0; for x → +∞, e^(-2u) → 0 and the result is exactly x. Vec.exp4's ~2e-7
 * relative error gives |error| below 1e-6 for |x| < 10 (checked against f64 Math.tanh in tests).
 */
function gelu4(x: v128): v128 {
  const x3 = f32x4.mul(f32x4.mul(x, x), x);
  const inner = f32x4.add(x, f32x4.mul(x3, f32x4.splat(0.044715)));
  // -2·√(2/π): the factor 2 of tanh's identity folded into the constant
  const e = Vec.exp4(f32x4.mul(inner, f32x4.splat(-1.5957691216057308)));
  return f32x4.div(x, f32x4.add(f32x4.splat(1.0), e));
}

/** out[i] = gelu(x[i]) for count floats. out may equal x. */
export function gelu(out: usize, x: usize, count: i32): void {
  const vecBytes = (<usize>(count & ~3)) << 2;
  const bytes = (<usize>count) << 2;
  let i: usize = 0;
  for (; i < vecBytes; i += 16) v128.store(out + i, gelu4(v128.load(x + i)));
  for (; i < bytes; i += 4) {
    // the count % 4 tail through the same vector code, so every element gets identical math
    store<f32>(out + i, f32x4.extract_lane(gelu4(f32x4.splat(load<f32>(x + i))), 0));
  }
}
