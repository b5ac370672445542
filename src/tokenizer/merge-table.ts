// The merge lookup (left id, right id) -> rank, as a bucketed hash table in flat typed arrays:
// integer keys, no strings, no Map, no boxed numbers in the BPE hot loop. serialize.ts stores
// these arrays as they are, so loading the 50k merges is a few typed-array views, not a build.

/** Token ids and ranks: 16-bit when the vocabulary allows (V <= 65536, M < 65536). */
export type IdArray = Uint16Array | Uint32Array;

export class MergeTable {
  readonly size: number; // M
  private readonly shift: number;

  constructor(
    /** (nBuckets + 1): bucket h holds entries [bucketStart[h], bucketStart[h + 1]). */
    readonly bucketStart: IdArray,
    /** (M, 3): left id, right id, rank; grouped by bucket. */
    readonly entries: IdArray,
    /** (M): rank -> id of the merged token. */
    readonly result: IdArray,
  ) {
    this.size = result.length;
    this.shift = 32 - Math.log2(bucketStart.length - 1);
  }

  /** merges: (M, 3) rows of left id, right id, merged id in rank order; all ids < V. */
  static build(merges: Int32Array, V: number): MergeTable {
    const M = merges.length / 3;
    const Ids = idArrayType(V, M);
    const nBuckets = bucketCount(M);
    const shift = 32 - Math.log2(nBuckets);
    // A repeated pair keeps its last rank, as encoder.py's dict(zip(merges, ...)) does, so walk
    // from the end and drop pairs already seen.
    const seen = new Set<number>();
    const keep: number[] = [];
    for (let rank = M - 1; rank >= 0; rank--) {
      const [left, right, merged] = merges.subarray(3 * rank, 3 * rank + 3);
      if (Math.min(left, right, merged) < 0 || Math.max(left, right, merged) >= V)
        throw new Error(`merge ${rank} (${left}, ${right}) -> ${merged}: a token id past ${V}`);
      if (!seen.has(left * V + right)) keep.push(rank);
      seen.add(left * V + right);
    }
    // Counting sort of the kept merges by bucket.
    const bucketStart = new Ids(nBuckets + 1);
    const bucketOf = (rank: number) => pairBucket(merges[3 * rank], merges[3 * rank + 1], shift);
    for (const rank of keep) bucketStart[bucketOf(rank) + 1]++;
    for (let h = 0; h < nBuckets; h++) bucketStart[h + 1] += bucketStart[h];
    const fill = Uint32Array.from(bucketStart);
    const entries = new Ids(3 * M);
    for (const rank of keep.reverse()) {
      const e = fill[bucketOf(rank)]++;
      entries.set([merges[3 * rank], merges[3 * rank + 1], rank], 3 * e);
    }
    const result = new Ids(M);
    for (let rank = 0; rank < M; rank++) result[rank] = merges[3 * rank + 2];
    return new MergeTable(bucketStart, entries, result);
  }

  /** The rank of merging (left, right), or -1 if the pair never merges. */
  get(left: number, right: number): number {
    const h = pairBucket(left, right, this.shift);
    const entries = this.entries;
    const end = 3 * this.bucketStart[h + 1];
    for (let e = 3 * this.bucketStart[h]; e < end; e += 3) {
      if (entries[e] === left && entries[e + 1] === right) return entries[e + 2];
    }
    return -1;
  }
}

/**
 * Multiplicative (Fibonacci) hashing of the pair: the top bits of the product mix both ids.
 * Part of the file format: serialized tables are grouped by this function.
 */
export function pairBucket(left: number, right: number, shift: number): number {
  return Math.imul(Math.imul(left, 0x9e3779b1) ^ right, 0x85ebca6b) >>> shift;
}

/** A power of two >= M (at least 16): ~0.76 entries per bucket for GPT-2, half of them empty. */
export function bucketCount(M: number): number {
  let n = 16;
  while (n < M) n *= 2;
  return n;
}

export function idArrayType(V: number, M: number) {
  return V <= 0x10000 && M < 0x10000 ? Uint16Array : Uint32Array;
}
