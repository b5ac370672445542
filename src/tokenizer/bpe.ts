// Byte-pair merging of one pre-token (encoder.py's `bpe`): start from one token per byte and
// repeatedly merge the adjacent pair with the lowest merge rank (leftmost on ties) until no
// adjacent pair has a merge. Works in place on an Int32Array of token ids.

import type { MergeTable } from "./merge-table.js";

/** Above this many bytes the O(n log n) heap version wins over the O(n^2) scan. */
const HEAP_THRESHOLD = 64;
/** Heap keys are rank * 2^31 + position: exact in a double while rank < 2^22 (4M merges). */
const POS = 2 ** 31;
const NONE = 0x7fffffff;

/** Above this many bytes a piece gets throwaway buffers, so one huge prompt can't pin ~28 MB. */
const KEEP_SCRATCH = 1 << 16;

/** Reusable buffers, grown on demand, so merging allocates nothing in the steady state. */
export class BpeScratch {
  ranks: Int32Array; // (n - 1) rank of the pair starting at i
  next: Int32Array; // (n) linked list for the heap version
  prev: Int32Array; // (n)
  heap: Float64Array; // (2n) each merge pushes at most 2 entries and pops 1

  constructor(n = 256) {
    this.ranks = new Int32Array(n);
    this.next = new Int32Array(n);
    this.prev = new Int32Array(n);
    this.heap = new Float64Array(2 * n);
  }

  /** Buffers for n bytes: these ones (grown if needed), or temporary ones past KEEP_SCRATCH. */
  forSize(n: number): BpeScratch {
    if (this.ranks.length >= n) return this;
    const size = 2 ** Math.ceil(Math.log2(n));
    if (size > KEEP_SCRATCH) return new BpeScratch(n);
    const grown = new BpeScratch(size);
    [this.ranks, this.next, this.prev, this.heap] = [
      grown.ranks,
      grown.next,
      grown.prev,
      grown.heap,
    ];
    return this;
  }
}

/** Merges ids[0, n) in place and returns the new length. */
export function bpe(ids: Int32Array, n: number, table: MergeTable, scratch: BpeScratch): number {
  if (n < 2) return n;
  const s = scratch.forSize(n);
  return n <= HEAP_THRESHOLD ? bpeScan(ids, n, table, s.ranks) : bpeHeap(ids, n, table, s);
}

/** The direct algorithm: scan all pairs for the lowest rank, merge it, repeat. */
export function bpeScan(ids: Int32Array, n: number, table: MergeTable, ranks: Int32Array): number {
  for (let i = 0; i < n - 1; i++) {
    const r = table.get(ids[i], ids[i + 1]);
    ranks[i] = r < 0 ? NONE : r;
  }
  while (n > 1) {
    let best = NONE;
    let at = -1;
    for (let i = 0; i < n - 1; i++) {
      if (ranks[i] < best) {
        best = ranks[i];
        at = i;
      }
    }
    if (at < 0) break;
    ids[at] = table.result[best];
    ids.copyWithin(at + 1, at + 2, n);
    ranks.copyWithin(at + 1, at + 2, n - 1);
    n--;
    if (at > 0) ranks[at - 1] = rankOr(table, ids[at - 1], ids[at]);
    if (at < n - 1) ranks[at] = rankOr(table, ids[at], ids[at + 1]);
  }
  return n;
}

/**
 * The same merges in O(n log n) for long pre-tokens (a 100 KB run of letters is one piece):
 * a min-heap of (rank, position) with lazy deletion over a doubly linked list of parts.
 * Positions only ever shrink to the left part's start, so (rank, position) order is exactly
 * the scan's "lowest rank, leftmost" order.
 */
export function bpeHeap(ids: Int32Array, n: number, table: MergeTable, s: BpeScratch): number {
  const { next, prev } = s;
  const heap = new MinHeap(s.heap);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
    if (i + 1 < n) heap.pushPair(table.get(ids[i], ids[i + 1]), i);
  }
  while (heap.size > 0) {
    const key = heap.pop();
    const rank = Math.floor(key / POS);
    const i = key - rank * POS;
    const j = next[i];
    // Stale entry: the pair at i changed since it was pushed (or i was merged away: id -1).
    if (j < 0 || table.get(ids[i], ids[j]) !== rank) continue;
    ids[i] = table.result[rank];
    ids[j] = -1;
    const k = next[j];
    next[i] = k;
    if (k >= 0) prev[k] = i;
    if (prev[i] >= 0) heap.pushPair(table.get(ids[prev[i]], ids[i]), prev[i]);
    if (k >= 0) heap.pushPair(table.get(ids[i], ids[k]), i);
  }
  let m = 0;
  for (let i = 0; i >= 0; i = next[i]) ids[m++] = ids[i];
  return m;
}

function rankOr(table: MergeTable, left: number, right: number): number {
  const r = table.get(left, right);
  return r < 0 ? NONE : r;
}

/** A binary min-heap of doubles over a caller-owned buffer. */
class MinHeap {
  size = 0;
  constructor(private readonly a: Float64Array) {}

  pushPair(rank: number, pos: number): void {
    if (rank >= 0) this.push(rank * POS + pos);
  }

  push(key: number): void {
    const a = this.a;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= key) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = key;
  }

  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a[--this.size];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= this.size) break;
      if (c + 1 < this.size && a[c + 1] < a[c]) c++;
      if (a[c] >= last) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = last;
    return top;
  }
}
