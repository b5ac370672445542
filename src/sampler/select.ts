// Partial selection over token scores without sorting the vocabulary: the top k by a bounded
// heap (O(V log k)), and the nucleus by popping a max-heap only as far as needed (O(V + m log V)),
// after partitioning around pivots when it is large (nucleusOf).
// Ranking everywhere: higher score first, ties → lower id (so greedy, top_k = 1 and logprobs agree).
// nucleusOfLogits: the same nucleus (and min_p's cut) straight from a row of f32 logits, from the
// weights summed by bucket, ranking only the one bucket the cut falls in.

import { bucketOf } from "../kernels/scalar-sample.js";
import { HIST_BUCKETS, HIST_PER_UNIT } from "../kernels/types.js";
import type { LogitOps } from "./logit-ops.js";

type Scores = Float32Array | Float64Array;

/** Token a ranks above token b. */
function above(x: Scores, a: number, b: number): boolean {
  return x[a] > x[b] || (x[a] === x[b] && a < b);
}

/** Restores the heap below h[i] in h[0..n); best = true keeps the best on top, else the worst. */
function siftDown(x: Scores, h: Int32Array, i: number, n: number, best: boolean): void {
  const v = h[i];
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    // c = the child that belongs nearer the top: the better one (best heap) or the worse one.
    if (c + 1 < n && above(x, h[c + 1], h[c]) === best) c++;
    if (above(x, h[c], v) !== best) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = v;
}

function heapify(x: Scores, h: Int32Array, n: number, best: boolean): void {
  for (let i = (n >> 1) - 1; i >= 0; i--) siftDown(x, h, i, n, best);
}

/**
 * Writes the ids of the k best of ids 0..n-1 into out[0..k), in heap order (worst first), k ≤ n.
 * A heap of the k best so far, worst on top: each later id only has to beat that one.
 */
export function selectTopK(x: Scores, n: number, k: number, out: Int32Array): void {
  for (let i = 0; i < k; i++) out[i] = i;
  heapify(x, out, k, false);
  for (let i = k; i < n; i++) {
    if (above(x, i, out[0])) {
      out[0] = i;
      siftDown(x, out, 0, k, false);
    }
  }
}

/** The ids of the k best of ids 0..n-1, best first. */
export function topIds(x: Scores, n: number, k: number): number[] {
  const ids = new Int32Array(Math.min(k, n));
  selectTopK(x, n, ids.length, ids);
  return Array.from(ids).sort((a, b) => (above(x, a, b) ? -1 : 1));
}

/**
 * The nucleus of the candidates cand[0..n) with non-negative weights w: pops the best until the
 * popped weights sum to ≥ target (or none are left), at least one. Returns lo: the popped ids
 * are cand[lo..n), best last; cand[0..lo) is what was cut. The order is a heap's, deterministic.
 */
export function nucleus(w: Float64Array, cand: Int32Array, n: number, target: number): number {
  heapify(w, cand, n, true);
  let end = n;
  let cum = 0;
  while (end > 0) {
    const top = cand[0];
    cand[0] = cand[--end];
    cand[end] = top;
    siftDown(w, cand, 0, end, true);
    cum += w[top];
    if (cum >= target) break;
  }
  return end;
}

/** Below this many candidates nucleusOf pops a heap at once; above, it partitions first. */
const PARTITION_MIN = 256;

/**
 * The same nucleus as nucleus() (the best of cand[0..n) whose weights first sum to ≥ target, at
 * least one; all of them if they never do), in expected linear time however big it is: partitions
 * cand around a pivot (the middle of three by rank), keeps or cuts a whole side by its sum, until
 * at most PARTITION_MIN candidates straddle the boundary, which nucleus() then pops. Returns lo:
 * the nucleus is cand[lo..n), in an order that is deterministic but not by rank.
 */
export function nucleusOf(w: Float64Array, cand: Int32Array, n: number, target: number): number {
  // cand[hi..n) rank above every one of cand[lo..hi) and are kept; cum is their weight.
  let lo = 0;
  let hi = n;
  let cum = 0;
  while (hi - lo > PARTITION_MIN) {
    const [a, b, c] = [cand[lo], cand[(lo + hi) >> 1], cand[hi - 1]];
    const pivot = above(w, a, b)
      ? above(w, b, c)
        ? b
        : above(w, a, c)
          ? c
          : a
      : above(w, a, c)
        ? a
        : above(w, b, c)
          ? c
          : b;
    // cand[lo..end): not above the pivot (the pivot among them); cand[end..hi): above it.
    let end = hi;
    for (let k = lo; k < end;) {
      if (above(w, cand[k], pivot)) {
        end--;
        [cand[k], cand[end]] = [cand[end], cand[k]];
      } else k++;
    }
    let sumAbove = 0;
    for (let k = end; k < hi; k++) sumAbove += w[cand[k]];
    if (cum + sumAbove >= target) {
      lo = end; // the boundary is above the pivot: the pivot and everything below it are cut
      continue;
    }
    cum += sumAbove;
    // The pivot next, just below the kept ones.
    const at = cand.subarray(lo, end).indexOf(pivot) + lo;
    [cand[at], cand[end - 1]] = [cand[end - 1], cand[at]];
    cum += w[pivot];
    if (cum >= target) return end - 1;
    hi = end - 1;
  }
  return lo + nucleus(w, cand.subarray(lo, hi), hi - lo, target - cum);
}

/** The buckets of t = logit - max whose tokens topIdsOf takes: within 0.5, 2, 8 of the max. */
const NEAR = [15, 63, 255];
/** The most candidates topIdsOf collects: beyond, ranking the whole row costs no more. */
const NEAR_MAX = 4096;

const found = new Int32Array(NEAR_MAX); // topIdsOf's candidates

/**
 * topIds(x, V, k) for a row of logits, from fewer candidates: ops.expBucket's tokens within 0.5,
 * 2, 8 of the max until they hold k, which hold the k best (a bucket holds a range of logits). On
 * a GPT-2 row a few dozen tokens instead of 50,257. Best first, ties → lower id; with ranked =
 * false the same k in selectTopK's heap order (no sort). When that takes more than NEAR_MAX
 * tokens (a large k, a flat row), the k best of the whole row.
 */
export function topIdsOf(
  ops: LogitOps,
  x: Float32Array,
  k: number,
  max?: number,
  ranked = true,
): ArrayLike<number> {
  const V = x.length;
  k = Math.min(k, V);
  if (k <= 0) return [];
  const best = (s: Float32Array, n: number) => {
    if (ranked) return topIds(s, n, k);
    const out = new Int32Array(k);
    selectTopK(s, n, k, out);
    return out;
  };
  if (k > NEAR_MAX) return best(x, V);
  const top = max ?? x[ops.argmax(x)];
  for (const to of NEAR) {
    const n = ops.expBucket(x, top, 1, 0, to, -Infinity, found, NEAR_MAX);
    if (n < 0) break;
    if (n < k) continue;
    // found is ascending by id, so ties → lower index are ties → lower id.
    const logits = new Float32Array(n);
    for (let j = 0; j < n; j++) logits[j] = x[found[j]];
    return Array.from(best(logits, n), (j) => found[j]);
  }
  return best(x, V);
}

/** What top_p and min_p keep of a row of logits (nucleusOfLogits). */
export interface LogitNucleus {
  /** Every token with t = (logit - max)·scale (f32) above this is kept: whole buckets. */
  bound: number;
  /** Their weight, summed by bucket. */
  above: number;
  /** Then cand[lo..n) of the cut bucket (their weights: w[id]). */
  lo: number;
  n: number;
  /** above + those weights: the kept tokens' total. */
  total: number;
}

/**
 * top_p's nucleus (the most probable tokens whose weights first reach top_p · Σ, at least one)
 * and min_p's cut (weight ≥ min_p, the top's being 1) of logits at 1/scale's temperature, both
 * prefixes of the ranking, so together the shorter one. From ops.expHist's sums by bucket of t =
 * (logit - max)·scale (HIST_PER_UNIT to a unit, highest first): the buckets before c are kept
 * whole, where c is top_p's boundary (the bucket that brings the running sum to the target) or
 * min_p's (the bucket of t = ln min_p), whichever comes first. Only c's tokens are looked at one
 * by one (ops.expBucket finds them): weighed in f64 (w[id]) and, when top_p may cut among them,
 * cut by nucleusOf. cand and w need room for V entries (a flat row can put most tokens in one
 * bucket; typically ~1/100 of them are there).
 */
export function nucleusOfLogits(
  ops: LogitOps,
  logits: Float32Array,
  max: number,
  scale: number,
  top_p: number,
  min_p: number,
  cand: Int32Array,
  w: Float64Array,
): LogitNucleus {
  const hist = ops.expHist(logits, max, scale);
  let sum = 0;
  for (let b = 0; b < HIST_BUCKETS; b++) sum += hist[b];
  const target = top_p * sum; // Σ p ≥ top_p ⟺ Σ w ≥ top_p · sum
  const cuts = top_p < 1;
  const minT = min_p > 0 ? Math.fround(Math.log(min_p)) : -Infinity; // w ≥ min_p ⟺ t ≥ ln min_p
  let c = bucketOf(minT); // the last bucket when min_p is 0
  let above = 0;
  for (let b = 0; b < c; b++) {
    if (cuts && above + hist[b] >= target) c = b;
    else above += hist[b];
  }
  const n = ops.expBucket(logits, max, scale, c, c, minT, cand);
  let bucket = 0;
  for (let j = 0; j < n; j++) bucket += w[cand[j]] = Math.exp((logits[cand[j]] - max) * scale);
  const bound = -c / HIST_PER_UNIT;
  if (!cuts || above + bucket < target) return { bound, above, lo: 0, n, total: above + bucket };
  const lo = nucleusOf(w, cand, n, target - above);
  let total = above;
  for (let j = lo; j < n; j++) total += w[cand[j]];
  return { bound, above, lo, n, total };
}
