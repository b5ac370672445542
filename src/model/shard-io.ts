// Moving shard bytes without extra copies: a store or cache object streamed into WASM memory and
// hashed as it arrives, and a verified shard streamed back out to the Cache API a chunk at a time.
// In a 128 MB isolate holding ~100 MB of weights, a second 16 MiB copy of a shard may not fit.

/** An object from the store: streamed from `body` when present (R2ObjectBody has one). */
export interface StoredObject {
  body?: ReadableStream<Uint8Array> | null;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** workerd's incremental hash (absent in Node): hashes a stream chunk by chunk, no whole copy. */
type DigestStreamCtor = new (algorithm: string) => WritableStream<Uint8Array> & {
  digest: Promise<ArrayBuffer>;
};
const DigestStreamImpl = (globalThis as { crypto?: { DigestStream?: DigestStreamCtor } }).crypto
  ?.DigestStream;

let hashing: Promise<unknown> = Promise.resolve();
/**
 * SHA-256 of a shard where it lies in WASM memory, one shard at a time, where the runtime has no
 * incremental hash (Node): digest copies its input, and six 16 MiB copies at once would not fit
 * next to the weights. Hashing is CPU-bound on one thread anyway, so serializing costs no time.
 */
function hashInPlace(bytes: Uint8Array): Promise<string> {
  const h = hashing.then(() => sha256Hex(bytes));
  hashing = h.catch(() => {});
  return h;
}

/**
 * Copies an object's bytes into dest as they arrive (no whole-shard buffer in the JS heap: six
 * 16 MiB shards in flight would not fit next to the weights in 128 MB) and hashes them on the
 * way where the runtime can (workerd's DigestStream), so no copy of the shard is ever made.
 * Returns the object's byte count (bytes past dest's end are counted, not stored) and its hash.
 */
export async function readInto(
  obj: StoredObject,
  dest: Uint8Array,
  beat: () => void,
): Promise<{ bytes: number; sha256: Promise<string> }> {
  if (!obj.body) {
    const bytes = new Uint8Array(await obj.arrayBuffer());
    beat();
    dest.set(bytes.subarray(0, dest.length));
    return { bytes: bytes.length, sha256: sha256Hex(bytes) };
  }
  const digest = DigestStreamImpl ? new DigestStreamImpl("SHA-256") : null;
  const hasher = digest?.getWriter();
  let n = 0;
  const reader = obj.body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    beat();
    const room = Math.max(0, dest.length - n);
    dest.set(r.value.length <= room ? r.value : r.value.subarray(0, room), n);
    n += r.value.length;
    if (hasher) await hasher.write(r.value);
  }
  if (!hasher) return { bytes: n, sha256: hashInPlace(dest.subarray(0, Math.min(n, dest.length))) };
  await hasher.close();
  return { bytes: n, sha256: digest!.digest.then(hex) };
}

/** Bytes per chunk of a shard written to the cache: the only copy of it in flight at a time. */
const CACHE_CHUNK = 1 << 20;

/**
 * A verified shard for the cache, streamed from WASM memory one chunk at a time (not a 16 MiB
 * copy up front) with its length known, as the Cache API wants. Content-addressed keys never
 * change, so cache for a year.
 */
export function shardResponse(bytes: Uint8Array, owned: () => boolean = () => true): Response {
  let at = 0;
  let body: ReadableStream<Uint8Array> = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        // The memory went to another load (this one was abandoned): its bytes are not the shard
        if (!owned()) return controller.error(new Error("the load was abandoned"));
        if (at >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(at, (at += CACHE_CHUNK))); // a copy: WASM memory can't be transferred
      },
    },
    { highWaterMark: 0 },
  );
  const Fixed = (globalThis as { FixedLengthStream?: typeof FixedLengthStream }).FixedLengthStream;
  if (Fixed) body = body.pipeThrough(new Fixed(bytes.length));
  return new Response(body, {
    headers: {
      "content-type": "application/octet-stream",
      "cache-control": "public, max-age=31536000, immutable",
    },
  });
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

const hex = (digest: ArrayBuffer) =>
  Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
