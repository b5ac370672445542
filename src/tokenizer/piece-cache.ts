// A bounded cache of pre-token -> token ids (encoder.py's `cache`). Keyed by the piece's span
// in the input, so a lookup allocates nothing: no substring, no match object, no Map hashing.
// Bounded so that a long-lived Worker isolate fed endless distinct text keeps a fixed heap.

import type { IdBuffer } from "./id-buffer.js";

/**
 * Two generations: lookups hit `young` or `old` (and promote from old); when young fills up
 * it becomes old and the previous old is emptied and reused as young. That approximates LRU
 * with O(1) work and no per-entry bookkeeping, and holds at most 2 * capacity pieces.
 */
export class PieceCache {
  private young: SpanTable;
  private old: SpanTable | undefined; // allocated at the first swap: short-lived isolates never need it

  constructor(private readonly capacity: number) {
    this.young = new SpanTable(capacity);
  }

  /** On a hit, appends the ids of text[start, end) to out and returns true. */
  appendTo(text: string, start: number, end: number, out: IdBuffer): boolean {
    const h = hashSpan(text, start, end);
    let s = this.young.find(text, start, end, h);
    if (s >= 0) {
      this.young.append(s, out);
      return true;
    }
    if (this.old === undefined || (s = this.old.find(text, start, end, h)) < 0) return false;
    const from = out.length;
    this.old.append(s, out);
    this.set(text, start, end, out.ids, from, out.length);
    return true;
  }

  /** Caches ids[from, to) as the ids of text[start, end). */
  set(text: string, start: number, end: number, ids: ArrayLike<number>, from: number, to: number) {
    if (this.young.full) {
      const recycled = this.old ?? new SpanTable(this.capacity);
      recycled.clear();
      this.old = this.young;
      this.young = recycled;
    }
    this.young.insert(text, start, end, hashSpan(text, start, end), ids, from, to);
  }

  get size(): number {
    return this.young.size + (this.old?.size ?? 0);
  }
}

/** FNV-1a over the UTF-16 code units. */
function hashSpan(text: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h ^ (h >>> 15); // FNV's low bits are weak; fold the high ones in
}

/**
 * Open addressing (linear probing) at load <= 0.5, all in typed arrays: the key's UTF-16 units
 * are copied into a pool (a substring key could pin a whole multi-megabyte prompt in memory),
 * and a piece's ids live inline (one id) or in a second pool.
 */
class SpanTable {
  size = 0;
  private readonly mask: number;
  /**
   * (slots, 4): hash, key offset in keyPool, (key length + 1) | id count << 8, and the id
   * itself (one id) or its offset in idPool. Length + 1 = 0 marks a free slot. One record per
   * cache line (of 64 bytes, four records) keeps a probe to a single memory access.
   */
  private readonly slots: Int32Array;
  private keyPool = new Uint16Array(4096);
  private keyUsed = 0;
  private idPool = new Int32Array(1024);
  private idUsed = 0;

  constructor(private readonly capacity: number) {
    let n = 16;
    while (n < 2 * capacity) n *= 2;
    this.mask = n - 1;
    this.slots = new Int32Array(4 * n);
  }

  /** Full at `capacity` pieces, or at 8 pooled ids per piece on average (the memory bound). */
  get full(): boolean {
    return this.size >= this.capacity || this.idUsed >= 8 * this.capacity;
  }

  /** The record offset (4 * slot) holding text[start, end), or -1. */
  find(text: string, start: number, end: number, h: number): number {
    const { slots, keyPool } = this;
    const length = end - start;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const r = 4 * s;
      const stored = slots[r + 2] & 0xff;
      if (stored === 0) return -1;
      if (stored === length + 1 && slots[r] === h) {
        const k = slots[r + 1];
        let i = 0;
        while (i < length && keyPool[k + i] === text.charCodeAt(start + i)) i++;
        if (i === length) return r;
      }
    }
  }

  append(r: number, out: IdBuffer): void {
    const n = this.slots[r + 2] >> 8;
    const first = this.slots[r + 3];
    if (n === 1) out.push(first);
    else out.pushRange(this.idPool, first, first + n);
  }

  /** Adds a piece known to be absent: at most 254 UTF-16 units and 2^23 ids. */
  insert(
    text: string,
    start: number,
    end: number,
    h: number,
    ids: ArrayLike<number>,
    from: number,
    to: number,
  ) {
    let s = h & this.mask;
    while ((this.slots[4 * s + 2] & 0xff) !== 0) s = (s + 1) & this.mask;
    const length = end - start;
    const n = to - from;
    if (this.keyUsed + length > this.keyPool.length) this.keyPool = grow(this.keyPool, length);
    for (let i = 0; i < length; i++) this.keyPool[this.keyUsed + i] = text.charCodeAt(start + i);
    const r = 4 * s;
    this.slots[r] = h;
    this.slots[r + 1] = this.keyUsed;
    this.slots[r + 2] = (length + 1) | (n << 8);
    this.keyUsed += length;
    if (n === 1) {
      this.slots[r + 3] = ids[from];
    } else {
      if (this.idUsed + n > this.idPool.length) this.idPool = grow(this.idPool, n);
      this.slots[r + 3] = this.idUsed;
      for (let i = from; i < to; i++) this.idPool[this.idUsed++] = ids[i];
    }
    this.size++;
  }

  clear(): void {
    this.slots.fill(0);
    this.size = this.keyUsed = this.idUsed = 0;
  }
}

/** A copy of pool with room for `need` more elements (doubling, so appends stay O(1)). */
function grow<T extends Uint16Array | Int32Array>(pool: T, need: number): T {
  const bigger = new (pool.constructor as new (n: number) => T)(2 * pool.length + need);
  bigger.set(pool);
  return bigger;
}
