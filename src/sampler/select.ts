// Partial selection over token scores without sorting the vocabulary: the top k by a bounded
// heap (O(V log k)), and the nucleus by popping a max-heap only as far as needed (O(V + m log V)),
// after partitioning around pivots when it is large (nucleusOf).
// Ranking everywhere: higher score first, ties → lower id (so greedy, top_k = 1 and logprobs agree).

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
