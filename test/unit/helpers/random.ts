// A small seeded PRNG for reproducible test data (mulberry32: 32-bit state, good enough
// statistics for test inputs, and identical on every machine).

export type Rng = () => number;

/** Uniform floats in [0, 1), the same sequence for the same seed. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fill `a` with uniform values in [lo, hi). */
export function fillUniform(a: Float32Array, rng: Rng, lo = -1, hi = 1): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = lo + (hi - lo) * rng();
  return a;
}
