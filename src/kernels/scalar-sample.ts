// The sampler's passes over a row of logits in plain f64 loops: the scalar twins of
// assembly/sample.ts (scalarKernels wraps them over memory), and what src/sampler/logit-ops.ts
// runs on logits that are not in a kernel module's memory. x[at..at + n).

/**
 * Index (from at) of the largest x[i], ties → the lowest. Also the sampler's argmax over its own
 * f64 scores (logits after bias and penalties).
 */
export function argmaxOf(x: Float32Array | Float64Array, at: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[at + i] > x[at + best]) best = i;
  return best;
}

/** Σ e^((x[i] - max)·scale), in index order. */
export function expSumOf(
  x: Float32Array,
  at: number,
  n: number,
  max: number,
  scale: number,
): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp((x[at + i] - max) * scale);
  return sum;
}

/** The first i whose running sum of e^((x - max)·scale) exceeds r, or -1 (r ≥ the total). */
export function expFindOf(
  x: Float32Array,
  at: number,
  n: number,
  max: number,
  scale: number,
  r: number,
): number {
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += Math.exp((x[at + i] - max) * scale);
    if (r < acc) return i;
  }
  return -1;
}
