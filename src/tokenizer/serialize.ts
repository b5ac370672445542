// The compact binary tokenizer file (tokenizer.bin) the Worker loads. It stores the runtime
// tables exactly as the Tokenizer uses them, so loading is typed-array views over the buffer
// plus one checksum pass: no JSON, no strings, no table building.
//
// Layout, little-endian, every section 4-byte aligned (zero padding); W = 2 bytes (u16) unless
// flags & ID32 (V > 65536 or M >= 65536), then W = 4:
//   header 32 B: "GBPE" | u16 version = 1 | u16 flags | u32 V tokens | u32 M merges |
//                u32 S specials | u32 B token bytes | u32 payload bytes | u32 checksum
//   payload:     tokenStart (V+1) x u32 | token bytes B | byteToId 256 x W |
//                bucketStart (nBuckets+1) x W | entries M x (left, right, rank) W |
//                result M x W (rank -> merged id) | special ids S x u32
// nBuckets = bucketCount(M) and the bucket of a pair is pairBucket() (merge-table.ts). The
// checksum covers the payload. The writer validated every id, so a matching checksum means the
// tables are sound: the reader checks the header, the sizes and a few totals, not each entry.

import { bucketCount, MergeTable, type IdArray } from "./merge-table.js";
import { tablesFromData, type TokenizerTables } from "./tables.js";
import type { TokenizerData } from "./types.js";

const MAGIC = 0x45504247; // "GBPE" read as a little-endian u32
const VERSION = 1;
const HEADER = 32;
const ID32 = 1;
const HINT = "regenerate it with weights/convert.ts (serializeTokenizer)";
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function serializeTokenizer(data: TokenizerData): Uint8Array {
  return writeTables(tablesFromData(data));
}

export function writeTables(t: TokenizerTables): Uint8Array {
  const [V, M, S, B] = [
    t.tokenStart.length - 1,
    t.merges.size,
    t.specials.length,
    t.tokenBytes.length,
  ];
  const flags = t.merges.result instanceof Uint32Array ? ID32 : 0;
  const s = sections(flags, V, M, S, B);
  const out = new Uint8Array(s.end);
  const dv = new DataView(out.buffer);
  const put = (offset: number, xs: ArrayLike<number>, size: number) => {
    for (let i = 0; i < xs.length; i++)
      if (size === 2) dv.setUint16(offset + 2 * i, xs[i], true);
      else dv.setUint32(offset + 4 * i, xs[i], true);
  };
  const W = flags & ID32 ? 4 : 2;
  put(s.tokenStart, t.tokenStart, 4);
  out.set(t.tokenBytes, s.tokenBytes);
  put(s.byteToId, t.byteToId, W);
  put(s.bucketStart, t.merges.bucketStart, W);
  put(s.entries, t.merges.entries, W);
  put(s.result, t.merges.result, W);
  put(
    s.specials,
    t.specials.map(([, id]) => id),
    4,
  );
  put(0, [MAGIC, VERSION | (flags << 16), V, M, S, B, s.end - HEADER], 4);
  dv.setUint32(28, checksum32(new Uint32Array(out.buffer, HEADER)), true);
  return out;
}

/**
 * The tables of a serialized tokenizer, as views into one aligned copy of input. verify=false
 * skips the checksum (the one pass over the whole file, ~2-4 ms in a cold isolate) for callers
 * that already checked a SHA-256 of the same bytes, as the model loader does.
 */
export function readTables(input: Uint8Array, verify = true): TokenizerTables {
  const fail = (what: string): never => {
    throw new Error(`tokenizer file: ${what}; ${HINT}`);
  };
  if (input.length < HEADER) fail(`truncated: ${input.length} bytes, the header alone is 32`);
  if (!LITTLE_ENDIAN) fail("this reader needs a little-endian host (every Workers host is)");
  // One memcpy (~0.1 ms) buys 4-byte alignment for the typed views and independence from a
  // caller who reuses their buffer; every table below is then a view into this copy.
  const bytes = input.slice();
  const buffer = bytes.buffer as ArrayBuffer; // (not a SharedArrayBuffer: we never make one)
  const byteOffset = bytes.byteOffset;
  const header = new Uint32Array(buffer, byteOffset, HEADER / 4);
  const [magic, versionFlags, V, M, S, B, payload, checksum] = header;
  if (magic !== MAGIC) fail("bad magic (expected 'GBPE'): not a serialized gpt-edge tokenizer");
  const [version, flags] = [versionFlags & 0xffff, versionFlags >>> 16];
  if (version !== VERSION) fail(`version ${version}; this build reads version ${VERSION}`);
  const s = sections(flags, V, M, S, B);
  if (HEADER + payload !== s.end || bytes.length !== s.end)
    fail(`truncated or padded: ${bytes.length} bytes, the header describes ${s.end}`);
  if (verify && checksum32(new Uint32Array(buffer, byteOffset + HEADER, payload / 4)) !== checksum)
    fail("corrupt: the checksum does not match");

  const Ids = flags & ID32 ? Uint32Array : Uint16Array;
  const ids = (offset: number, n: number): IdArray => new Ids(buffer, byteOffset + offset, n);
  const tokenStart = new Uint32Array(buffer, byteOffset + s.tokenStart, V + 1);
  const tokenBytes = bytes.subarray(s.tokenBytes, s.tokenBytes + B);
  const byteToId = ids(s.byteToId, 256);
  const merges = new MergeTable(
    ids(s.bucketStart, bucketCount(M) + 1),
    ids(s.entries, 3 * M),
    ids(s.result, M),
  );
  if (tokenStart[V] !== B || merges.bucketStart[bucketCount(M)] !== M)
    fail("corrupt: the token or merge totals do not match the header");
  const specialIds = new Uint32Array(buffer, byteOffset + s.specials, S);
  if (specialIds.some((id) => id >= V)) fail("corrupt: a special token id is out of range");
  const decoder = new TextDecoder();
  const specials = Array.from(specialIds, (id): [string, number] => [
    decoder.decode(tokenBytes.subarray(tokenStart[id], tokenStart[id + 1])),
    id,
  ]);
  return { tokenBytes, tokenStart, byteToId, merges, specials };
}

/** Byte offsets of each section; the header's counts fully determine them. */
function sections(flags: number, V: number, M: number, S: number, B: number) {
  const W = flags & ID32 ? 4 : 2;
  const align = (n: number) => (n + 3) & ~3;
  const tokenStart = HEADER;
  const tokenBytes = tokenStart + 4 * (V + 1);
  const byteToId = align(tokenBytes + B);
  const bucketStart = byteToId + 256 * W;
  const entries = align(bucketStart + (bucketCount(M) + 1) * W);
  const result = align(entries + 3 * M * W);
  const specials = align(result + M * W);
  return {
    tokenStart,
    tokenBytes,
    byteToId,
    bucketStart,
    entries,
    result,
    specials,
    end: specials + 4 * S,
  };
}

/**
 * Fletcher-style checksum over 32-bit words: two running sums, so it catches flipped bits
 * and swapped words. Not a cryptographic check (the manifest's SHA-256 is). It is the one
 * pass a load makes over the whole file, so it runs in 8 KiB blocks: a small hot function is
 * optimized after a few calls, while one long loop runs interpreted until on-stack replacement
 * catches up, which in a cold isolate measured ~1.6x slower.
 */
export function checksum32(words: Uint32Array): number {
  const sums = [0, 0];
  for (let i = 0; i < words.length; i += 2048)
    checksumBlock(words, i, Math.min(words.length, i + 2048), sums);
  return (Math.imul(sums[1], 31) ^ sums[0]) >>> 0;
}

function checksumBlock(words: Uint32Array, from: number, to: number, sums: number[]): void {
  let a = sums[0];
  let b = sums[1];
  for (let i = from; i < to; i++) {
    a = (a + words[i]) | 0;
    b = (b + a) | 0;
  }
  sums[0] = a;
  sums[1] = b;
}
