// A bounded cache of pre-token -> token ids (encoder.py's `cache`). Keyed by the piece's span
// in the input, so a lookup allocates nothing: no substring, no match object, no Map hashing.
// Bounded so that a long-lived Worker isolate fed endless distinct text keeps a fixed heap.

/**
 * Two generations: lookups hit `young` or `old` (and promote from old); when young fills up
 * it becomes old and the previous old is emptied and reused as young. That approximates LRU
 * with O(1) work and no per-entry bookkeeping, and holds at most 2 * capacity pieces.
 */
export class PieceCache {
  private young: SpanTable;
  private old: SpanTable;

  constructor(capacity: number) {
    this.young = new SpanTable(capacity);
    this.old = new SpanTable(capacity);
  }

  /** On a hit, appends the ids of text[start, end) to out and returns true. */
  appendTo(text: string, start: number, end: number, out: number[]): boolean {
    const h = hashSpan(text, start, end);
    let s = this.young.find(text, start, end, h);
    if (s >= 0) {
      this.young.append(s, out);
      return true;
    }
    s = this.old.find(text, start, end, h);
    if (s < 0) return false;
    const from = out.length;
    this.old.append(s, out);
    this.set(text, start, end, out, from, out.length);
    return true;
  }

  /** Caches ids[from, to) as the ids of text[start, end). */
  set(text: string, start: number, end: number, ids: ArrayLike<number>, from: number, to: number) {
    if (this.young.full) {
      [this.old, this.young] = [this.young, this.old];
      this.young.clear();
    }
    this.young.insert(text, start, end, hashSpan(text, start, end), ids, from, to);
  }

  get size(): number {
    return this.young.size + this.old.size;
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
  private readonly hashes: Int32Array; // (slots)
  private readonly keyLength: Uint8Array; // (slots) UTF-16 length + 1; 0 marks a free slot
  private readonly keyStart: Int32Array; // (slots) offset in keyPool
  private readonly idCount: Uint8Array; // (slots) <= 3 bytes per unit * MAX piece length
  private readonly idFirst: Int32Array; // (slots) the id itself, or its offset in idPool
  private keyPool = new Uint16Array(4096);
  private keyUsed = 0;
  private idPool = new Int32Array(1024);
  private idUsed = 0;

  constructor(private readonly capacity: number) {
    let slots = 16;
    while (slots < 2 * capacity) slots *= 2;
    this.mask = slots - 1;
    this.hashes = new Int32Array(slots);
    this.keyLength = new Uint8Array(slots);
    this.keyStart = new Int32Array(slots);
    this.idCount = new Uint8Array(slots);
    this.idFirst = new Int32Array(slots);
  }

  /** Full at `capacity` pieces, or at 8 pooled ids per piece on average (the memory bound). */
  get full(): boolean {
    return this.size >= this.capacity || this.idUsed >= 8 * this.capacity;
  }

  /** The slot holding text[start, end), or -1. */
  find(text: string, start: number, end: number, h: number): number {
    const length = end - start;
    const pool = this.keyPool;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const stored = this.keyLength[s];
      if (stored === 0) return -1;
      if (stored === length + 1 && this.hashes[s] === h) {
        const k = this.keyStart[s];
        let i = 0;
        while (i < length && pool[k + i] === text.charCodeAt(start + i)) i++;
        if (i === length) return s;
      }
    }
  }

  append(s: number, out: number[]): void {
    const n = this.idCount[s];
    if (n === 1) out.push(this.idFirst[s]);
    else for (let i = this.idFirst[s], end = i + n; i < end; i++) out.push(this.idPool[i]);
  }

  /** Adds a piece known to be absent; its length must be < 255 and its ids <= 255. */
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
    while (this.keyLength[s] !== 0) s = (s + 1) & this.mask;
    const length = end - start;
    if (this.keyUsed + length > this.keyPool.length) this.keyPool = grow(this.keyPool, length);
    for (let i = 0; i < length; i++) this.keyPool[this.keyUsed + i] = text.charCodeAt(start + i);
    this.hashes[s] = h;
    this.keyLength[s] = length + 1;
    this.keyStart[s] = this.keyUsed;
    this.keyUsed += length;
    this.idCount[s] = to - from;
    if (to - from === 1) {
      this.idFirst[s] = ids[from];
    } else {
      if (this.idUsed + (to - from) > this.idPool.length)
        this.idPool = grow(this.idPool, to - from);
      this.idFirst[s] = this.idUsed;
      for (let i = from; i < to; i++) this.idPool[this.idUsed++] = ids[i];
    }
    this.size++;
  }

  clear(): void {
    this.keyLength.fill(0);
    this.size = this.keyUsed = this.idUsed = 0;
  }
}

/** A copy of pool with room for `need` more elements (doubling, so appends stay O(1)). */
function grow<T extends Uint16Array | Int32Array>(pool: T, need: number): T {
  const bigger = new (pool.constructor as new (n: number) => T)(2 * pool.length + need);
  bigger.set(pool);
  return bigger;
}
