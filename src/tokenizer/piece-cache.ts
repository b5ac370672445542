// A bounded cache of pre-token -> token ids (encoder.py's `cache`, but with a size limit so a
// long-lived Worker isolate fed endless distinct text cannot grow its heap without bound).

/** One id (the common case, stored unboxed) or several. */
export type CachedIds = number | Int32Array;

/**
 * Two generations: lookups hit `young` or `old` (and promote from old); when young fills up
 * it becomes old and the previous old is dropped. That approximates LRU with O(1) work and no
 * per-entry bookkeeping, and holds at most 2 * capacity entries.
 */
export class PieceCache {
  private young = new Map<string, CachedIds>();
  private old = new Map<string, CachedIds>();

  constructor(private readonly capacity: number) {}

  get(piece: string): CachedIds | undefined {
    const hit = this.young.get(piece);
    if (hit !== undefined) return hit;
    const stale = this.old.get(piece);
    if (stale !== undefined) this.set(piece, stale);
    return stale;
  }

  set(piece: string, ids: CachedIds): void {
    if (this.young.size >= this.capacity) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(piece, ids);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }
}
