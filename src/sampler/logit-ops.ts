// The sampler's passes over a row of logits, run where the logits are: in a kernel module's
// memory (every logit row the forward pass gives: GPT2.logitsFrom hands out views of it) by the
// module's SIMD kernels (assembly/sample.ts), anywhere else by the same loops in f64
// (kernels/scalar-sample.ts). Over GPT-2's 50,257 logits a token now takes 0.016 ms greedy (0.06
// before), 0.11 ms with temperature alone (0.6-0.7) and 0.3 ms for logprobs (0.8): PERF.md.

import { argmaxOf, expFindOf, expSumOf } from "../kernels/scalar-sample.js";
import type { Kernels } from "../kernels/types.js";

export interface LogitOps {
  /** Index of the largest logit, ties → the lowest id. */
  argmax(x: Float32Array): number;
  /** Σ e^((x[i] - max)·scale). */
  expSum(x: Float32Array, max: number, scale: number): number;
  /** The first id whose running sum of expSum's weights exceeds r, or -1 (r ≥ their total). */
  expFind(x: Float32Array, max: number, scale: number, r: number): number;
}

/** The f64 loops, for logits anywhere. */
export const plainLogitOps: LogitOps = {
  argmax: (x) => argmaxOf(x, 0, x.length),
  expSum: (x, max, scale) => expSumOf(x, 0, x.length, max, scale),
  expFind: (x, max, scale, r) => expFindOf(x, 0, x.length, max, scale, r),
};

/** The kernels' passes for logits in their memory, the f64 loops for any other. */
export function kernelLogitOps(k: Kernels): LogitOps {
  const mine = (x: Float32Array) => x.buffer === k.memory.buffer;
  return {
    argmax: (x) => (mine(x) ? k.argmax(x.byteOffset, x.length) : plainLogitOps.argmax(x)),
    expSum: (x, max, scale) =>
      mine(x) ? k.expSum(x.byteOffset, x.length, max, scale) : plainLogitOps.expSum(x, max, scale),
    expFind: (x, max, scale, r) =>
      mine(x)
        ? k.expFind(x.byteOffset, x.length, max, scale, r)
        : plainLogitOps.expFind(x, max, scale, r),
  };
}
