// The sampler's passes over a row of logits, run where the logits are: in a kernel module's
// memory (every logit row the forward pass gives: GPT2.logitsFrom hands out views of it) by the
// module's SIMD kernels (assembly/sample.ts), anywhere else by the same loops in f64
// (kernels/scalar-sample.ts). Over GPT-2's 50,257 logits a token now takes 0.016 ms greedy (0.06
// before), 0.11 ms with temperature alone (0.6-0.7), ~0.19 ms with top_p 0.9 or min_p 0.05 on a
// flat row (1.5-2 and 0.45; the bucket sums: expHist, expBucket), 0.08-0.1 ms for top_k 40
// (0.2-0.25) and 0.12-0.13 ms for logprobs (0.26-0.31): PERF.md.

import { argmaxOf, expBucketOf, expFindOf, expHistOf, expSumOf } from "../kernels/scalar-sample.js";
import {
  HIST_BUCKETS,
  SAMPLER_HIST,
  SAMPLER_IDS,
  SAMPLER_IDS_CAP as IDS_CAP,
  type Kernels,
} from "../kernels/types.js";

export interface LogitOps {
  /** Index of the largest logit, ties → the lowest id. */
  argmax(x: Float32Array): number;
  /** Σ e^((x[i] - max)·scale). */
  expSum(x: Float32Array, max: number, scale: number): number;
  /**
   * The first id whose running sum of expSum's weights exceeds r, or -1 (r ≥ their total), among
   * the ids whose t = (x - max)·scale (f32) is above `above` (default: all).
   */
  expFind(x: Float32Array, max: number, scale: number, r: number, above?: number): number;
  /**
   * expSum's weights summed by bucket of t (Kernels.expHist): HIST_BUCKETS sums, in a view that
   * is valid until the next call.
   */
  expHist(x: Float32Array, max: number, scale: number): Float64Array;
  /**
   * The ids in expHist's buckets from..to whose t ≥ minT (f32), ascending, into out (room for
   * every id): how many; -1 if more than `cap` (when given; at most SAMPLER_IDS_CAP).
   */
  expBucket(
    x: Float32Array,
    max: number,
    scale: number,
    from: number,
    to: number,
    minT: number,
    out: Int32Array,
    cap?: number,
  ): number;
}

const plainHist = new Float64Array(HIST_BUCKETS);

/** The f64 loops, for logits anywhere. */
export const plainLogitOps: LogitOps = {
  argmax: (x) => argmaxOf(x, 0, x.length),
  expSum: (x, max, scale) => expSumOf(x, 0, x.length, max, scale),
  expFind: (x, max, scale, r, above) => expFindOf(x, 0, x.length, max, scale, r, above),
  expHist(x, max, scale) {
    expHistOf(x, 0, x.length, max, scale, plainHist);
    return plainHist;
  },
  expBucket(x, max, scale, from, to, minT, out, cap = Infinity) {
    const n = expBucketOf(x, 0, x.length, max, scale, from, to, minT, out);
    return n > cap ? -1 : n;
  },
};

/** The kernels' passes for logits in their memory, the f64 loops for any other. */
export function kernelLogitOps(k: Kernels): LogitOps {
  const mine = (x: Float32Array) => x.buffer === k.memory.buffer;
  return {
    argmax: (x) => (mine(x) ? k.argmax(x.byteOffset, x.length) : plainLogitOps.argmax(x)),
    expSum: (x, max, scale) =>
      mine(x) ? k.expSum(x.byteOffset, x.length, max, scale) : plainLogitOps.expSum(x, max, scale),
    expFind: (x, max, scale, r, above = -Infinity) =>
      mine(x)
        ? k.expFind(x.byteOffset, x.length, max, scale, r, above)
        : plainLogitOps.expFind(x, max, scale, r, above),
    expHist(x, max, scale) {
      if (!mine(x)) return plainLogitOps.expHist(x, max, scale);
      k.expHist(x.byteOffset, x.length, max, scale, SAMPLER_HIST);
      return new Float64Array(k.memory.buffer, SAMPLER_HIST, HIST_BUCKETS);
    },
    expBucket(x, max, scale, from, to, minT, out, cap) {
      const plain = () => plainLogitOps.expBucket(x, max, scale, from, to, minT, out, cap);
      if (!mine(x)) return plain();
      const most = Math.min(cap ?? Infinity, IDS_CAP);
      const n = k.expBucket(x.byteOffset, x.length, max, scale, from, to, minT, SAMPLER_IDS, most);
      if (n >= 0) {
        out.set(new Int32Array(k.memory.buffer, SAMPLER_IDS, n));
        return n;
      }
      // More than cap: -1. More than the reserved bytes hold (a very flat row at a high
      // temperature, or a cap above them): the f64 loop.
      return most === cap ? -1 : plain();
    },
  };
}
