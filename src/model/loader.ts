// Loads a converted model from a weight store (the R2 binding in the Worker, a folder in Node):
// manifest -> memory plan -> parallel shard fetches (through the Cache API when there is one),
// each streamed straight into WASM memory, size- and SHA-256-checked there. A load either
// completes or throws; it never leaves half a model, and never caches a bad object.

import { instantiateKernels } from "../kernels/wasm.js";
import { scalarKernels } from "../kernels/scalar.js";
import type { Kernels } from "../kernels/types.js";
import { Tokenizer } from "../tokenizer/index.js";
import { GPT2 } from "./gpt2.js";
import { unreadableFormat, type FileEntry, type Manifest } from "./manifest.js";
import { planServing, type KvDtype, type MemoryPlan } from "./plan.js";

/** An object from the store: streamed from `body` when present (R2ObjectBody has one). */
export interface StoredObject {
  body?: ReadableStream<Uint8Array> | null;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** The part of R2Bucket the loader uses; a folder-backed store implements it in Node. */
export interface WeightStore {
  get(key: string): Promise<StoredObject | null>;
}

/** The part of the Cache API the loader uses (caches.default in Workers; absent in Node). */
export interface ShardCache {
  match(url: string): Promise<Response | undefined>;
  put(url: string, res: Response): Promise<void>;
  delete(url: string): Promise<boolean>;
}

export interface LoadOptions {
  /** Compiled kernels (a bundled .wasm import in the Worker); null selects the scalar twins. */
  kernels: WebAssembly.Module | null;
  budgetBytes: number;
  /** KV slots wanted; fewer are used if the budget only fits fewer. */
  slots: number;
  /** Rows per forward pass (prefill chunk + batched decode). */
  rows?: number;
  logitRows?: number;
  /** KV-cache dtype; "auto" (default) lets planServing choose. */
  kv?: KvDtype | "auto";
  /** Longest context to serve (default n_ctx); the plan may cap it further to fit. */
  context?: number;
  /** Shard cache in front of the store; default caches.default where it exists, null for none. */
  cache?: ShardCache | null;
  /** Hands off cache writes (ctx.waitUntil); without it the load awaits them before returning. */
  waitUntil?: (p: Promise<unknown>) => void;
}

export interface LoadedModel {
  name: string;
  manifest: Manifest;
  tokenizer: Tokenizer;
  model: GPT2;
  plan: MemoryPlan;
  kernels: Kernels;
  /** Milliseconds from the first manifest byte request to a ready model. */
  loadMs: number;
  /** Where the shards came from. */
  shards: { fromCache: number; fromStore: number };
}

/** A load failure that is not the client's fault: missing, truncated or corrupted objects. */
export class ModelLoadError extends Error {
  name = "ModelLoadError";
}

export class ModelNotFoundError extends Error {
  name = "ModelNotFoundError";
}

/** Models are stored under models/<name>/ in the bucket. */
export const modelKey = (name: string, file: string) => `models/${name}/${file}`;

/** The Cache API key of a shard: synthetic, and content-addressed by its SHA-256. */
export const shardCacheUrl = (name: string, f: FileEntry) =>
  `https://weights.gpt-edge.internal/${encodeURIComponent(name)}/${f.file}?sha256=${f.sha256}`;

const MAX_PARALLEL_FETCHES = 6; // Workers allow 6 simultaneous outgoing connections per request

export async function loadModel(
  store: WeightStore,
  name: string,
  opts: LoadOptions,
): Promise<LoadedModel> {
  const t0 = performance.now();
  const manifest = await fetchManifest(store, name);
  // Throws ModelTooLargeError before any shard is fetched.
  const plan = planServing(manifest, {
    budgetBytes: opts.budgetBytes,
    slots: opts.slots,
    rows: opts.rows ?? 64,
    logitRows: opts.logitRows ?? 8,
    kv: opts.kv,
    context: opts.context,
  });
  const memory = new WebAssembly.Memory({ initial: plan.pages, maximum: plan.pages });
  const kernels = opts.kernels ? instantiateKernels(opts.kernels, memory) : scalarKernels(memory);
  const image = new Uint8Array(memory.buffer, plan.weights, manifest.image_bytes);
  const cache = opts.cache === undefined ? defaultCache() : opts.cache;
  const shards = { fromCache: 0, fromStore: 0 };
  let puts: Promise<unknown> = Promise.resolve(); // one cache write at a time: one copy in flight

  const jobs: (() => Promise<void>)[] = manifest.shards.map((s) => async () => {
    const dest = image.subarray(s.offset, s.offset + s.bytes);
    const url = shardCacheUrl(name, s);
    if (cache && (await fromCache(cache, url, dest, s))) return void shards.fromCache++;
    await fetchInto(store, name, s, dest);
    shards.fromStore++;
    if (cache) puts = puts.then(() => cache.put(url, shardResponse(dest)).catch(() => {}));
  });
  let tokenizer: Tokenizer | undefined;
  jobs.unshift(async () => {
    tokenizer = Tokenizer.fromBytes(await fetchChecked(store, name, manifest.tokenizer));
  });
  // Cache writes of verified shards are finished (or handed to waitUntil) even if the load fails.
  const settle = async () => (opts.waitUntil ? opts.waitUntil(puts) : await puts);
  try {
    await runLimited(jobs, MAX_PARALLEL_FETCHES);
  } catch (e) {
    await settle();
    throw e;
  }
  if (!tokenizer) throw new ModelLoadError(`model '${name}': tokenizer did not load`);
  if (tokenizer.vocabSize > manifest.config.n_vocab) {
    throw new ModelLoadError(
      `model '${name}': tokenizer has ${tokenizer.vocabSize} tokens but the model only ${manifest.config.n_vocab}`,
    );
  }
  const model = new GPT2(manifest, plan, kernels);
  await settle();
  const loadMs = performance.now() - t0;
  return { name, manifest, tokenizer, model, plan, kernels, loadMs, shards };
}

export async function fetchManifest(store: WeightStore, name: string): Promise<Manifest> {
  const obj = await store.get(modelKey(name, "manifest.json"));
  if (!obj) throw new ModelNotFoundError(`The model '${name}' does not exist.`);
  let m: Manifest;
  try {
    m = JSON.parse(new TextDecoder().decode(await obj.arrayBuffer()));
  } catch (e) {
    throw new ModelLoadError(`model '${name}': manifest.json is not valid JSON (${e})`);
  }
  const unreadable = unreadableFormat(m);
  if (unreadable) {
    throw new ModelLoadError(
      `model '${name}': ${unreadable}; ` +
        `re-convert it with this version: npm run weights -- convert`,
    );
  }
  return m;
}

function defaultCache(): ShardCache | null {
  const caches = (globalThis as { caches?: { default?: ShardCache } }).caches;
  return caches?.default ?? null;
}

/** A cached copy of the shard, verified in place; a bad one is deleted (the store is next). */
async function fromCache(cache: ShardCache, url: string, dest: Uint8Array, f: FileEntry) {
  const hit = await cache.match(url).catch(() => undefined);
  if (!hit) return false;
  if ((await readInto(hit, dest)) === f.bytes && (await hashInPlace(dest)) === f.sha256)
    return true;
  await cache.delete(url).catch(() => false);
  return false;
}

/** The shard from the store, streamed into dest and checked there. */
async function fetchInto(store: WeightStore, name: string, f: FileEntry, dest: Uint8Array) {
  const key = modelKey(name, f.file);
  const obj = await store.get(key);
  if (!obj) throw new ModelLoadError(`model '${name}': object ${key} is missing; re-upload it`);
  const n = await readInto(obj, dest);
  if (n !== f.bytes) {
    throw new ModelLoadError(
      `model '${name}': ${key} has ${n} bytes, the manifest says ${f.bytes}; re-upload it`,
    );
  }
  if ((await hashInPlace(dest)) !== f.sha256) {
    throw new ModelLoadError(`model '${name}': ${key} fails its SHA-256 check; re-upload it`);
  }
}

let hashing: Promise<unknown> = Promise.resolve();
/**
 * SHA-256 of a shard where it lies in WASM memory, one shard at a time: digest may copy its
 * input, and six 16 MiB copies at once would not fit the isolate next to the weights. Hashing
 * is CPU-bound on one thread anyway, so serializing it costs no time.
 */
function hashInPlace(bytes: Uint8Array): Promise<string> {
  const h = hashing.then(() => sha256Hex(bytes));
  hashing = h.catch(() => {});
  return h;
}

/**
 * Copies an object's bytes into dest as they arrive (no whole-shard buffer in the JS heap: six
 * 16 MiB shards in flight would not fit next to the weights in 128 MB). Returns the object's
 * byte count; bytes past dest's end are counted, not stored.
 */
async function readInto(obj: StoredObject, dest: Uint8Array): Promise<number> {
  if (!obj.body) {
    const bytes = new Uint8Array(await obj.arrayBuffer());
    dest.set(bytes.subarray(0, dest.length));
    return bytes.length;
  }
  let n = 0;
  const reader = obj.body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    const room = Math.max(0, dest.length - n);
    dest.set(r.value.length <= room ? r.value : r.value.subarray(0, room), n);
    n += r.value.length;
  }
  return n;
}

/** A verified shard for the cache; content-addressed keys never change, so cache for a year. */
function shardResponse(bytes: Uint8Array): Response {
  return new Response(bytes, {
    headers: {
      "content-type": "application/octet-stream",
      "cache-control": "public, max-age=31536000, immutable",
    },
  });
}

export async function fetchChecked(
  store: WeightStore,
  name: string,
  f: FileEntry,
): Promise<Uint8Array> {
  const key = modelKey(name, f.file);
  const obj = await store.get(key);
  if (!obj) throw new ModelLoadError(`model '${name}': object ${key} is missing; re-upload it`);
  const bytes = new Uint8Array(await obj.arrayBuffer());
  if (bytes.byteLength !== f.bytes) {
    throw new ModelLoadError(
      `model '${name}': ${key} has ${bytes.byteLength} bytes, the manifest says ${f.bytes}; re-upload it`,
    );
  }
  if ((await sha256Hex(bytes)) !== f.sha256) {
    throw new ModelLoadError(`model '${name}': ${key} fails its SHA-256 check; re-upload it`);
  }
  return bytes;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Run async jobs with at most `limit` in flight; the first failure rejects (others still settle). */
async function runLimited(jobs: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async () => {
    while (next < jobs.length && failure === null) {
      const job = jobs[next++];
      try {
        await job();
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  if (failure !== null) throw failure;
}
