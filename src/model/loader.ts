// Loads a converted model from a weight store (the R2 binding in the Worker, a folder in Node):
// manifest -> memory plan -> parallel shard fetches (through the Cache API when there is one),
// each streamed straight into WASM memory and hashed as it arrives. A load either completes or
// throws; it never leaves half a model, and never caches a bad object.

import { instantiateKernels } from "../kernels/wasm.js";
import { scalarKernels } from "../kernels/scalar.js";
import type { Kernels } from "../kernels/types.js";
import { Tokenizer } from "../tokenizer/index.js";
import { GPT2 } from "./gpt2.js";
import { MODEL_NAME_RE, unreadableFormat, type FileEntry, type Manifest } from "./manifest.js";
import { planServing, type KvDtype, type MemoryPlan } from "./plan.js";
import { readInto, sha256Hex, shardResponse, type StoredObject } from "./shard-io.js";

export { sha256Hex, type StoredObject };

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
  /** The model's manifest, if the caller has fetched it already. */
  manifest?: Manifest;
  /** The memory plan, if the caller has made it (else planned here from the options below). */
  plan?: MemoryPlan;
  /** A WASM memory to reuse (an evicted model's): grown if needed, zeroed, then loaded into. */
  memory?: WebAssembly.Memory;
  /** Pages a new memory may later grow to when reused (default: exactly the plan's). */
  maxPages?: number;
  /**
   * Told the memory the load writes into, reused or new, before any shard is read: a caller
   * that gives up on the load may hand it on once the load can no longer write (onProgress
   * throws before every write after a read).
   */
  onMemory?: (memory: WebAssembly.Memory) => void;
  /**
   * False once the caller has handed that memory on: the shard cache writes still queued (they
   * read the memory as the cache pulls them) then fail rather than store another load's bytes.
   */
  owned?: () => boolean;
  /** Called after every completed read: a heartbeat for whoever waits on this load. */
  onProgress?: () => void;
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

/** Refuse an id no converted model can have, before it reaches the store (R2 rejects some). */
export function checkModelName(name: string): void {
  if (!MODEL_NAME_RE.test(name)) {
    throw new ModelNotFoundError(`'${name.slice(0, 64)}' is not a model id this server can have.`);
  }
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
  const beat = opts.onProgress ?? (() => {});
  const owned = opts.owned ?? (() => true);
  const manifest = opts.manifest ?? (await fetchManifest(store, name));
  // Throws ModelTooLargeError before any shard is fetched.
  const plan =
    opts.plan ??
    planServing(manifest, {
      budgetBytes: opts.budgetBytes,
      slots: opts.slots,
      rows: opts.rows ?? 64,
      logitRows: opts.logitRows ?? 8,
      kv: opts.kv,
      context: opts.context,
    });
  const memory = memoryFor(plan.pages, opts.memory, opts.maxPages);
  opts.onMemory?.(memory);
  const kernels = opts.kernels ? instantiateKernels(opts.kernels, memory) : scalarKernels(memory);
  const image = new Uint8Array(memory.buffer, plan.weights, manifest.image_bytes);
  const cache = opts.cache === undefined ? defaultCache() : opts.cache;
  const shards = { fromCache: 0, fromStore: 0 };
  let puts: Promise<unknown> = Promise.resolve(); // one cache write at a time: one copy in flight

  const jobs: (() => Promise<void>)[] = manifest.shards.map((s) => async () => {
    const dest = image.subarray(s.offset, s.offset + s.bytes);
    const url = shardCacheUrl(name, s);
    if (cache && (await fromCache(cache, url, dest, s, beat))) return void shards.fromCache++;
    await fetchInto(store, name, s, dest, beat);
    shards.fromStore++;
    if (cache) puts = puts.then(() => cache.put(url, shardResponse(dest, owned)).catch(() => {}));
  });
  let tokenizer: Tokenizer | undefined;
  jobs.unshift(async () => {
    tokenizer = Tokenizer.fromBytes(await fetchChecked(store, name, manifest.tokenizer));
    beat();
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
  // Rows of wte past the tokenizer (or without text in it) are never sampled (GPT2's textless).
  const textless: number[] = [];
  for (let id = 0; id < manifest.config.n_vocab; id++)
    if (!tokenizer.isValidId(id)) textless.push(id);
  const model = new GPT2(manifest, plan, kernels, Int32Array.from(textless));
  await settle();
  const loadMs = performance.now() - t0;
  return { name, manifest, tokenizer, model, plan, kernels, loadMs, shards };
}

export async function fetchManifest(store: WeightStore, name: string): Promise<Manifest> {
  checkModelName(name);
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
async function fromCache(
  cache: ShardCache,
  url: string,
  dest: Uint8Array,
  f: FileEntry,
  beat: () => void,
) {
  const hit = await cache.match(url).catch(() => undefined);
  if (!hit) return false;
  const got = await readInto(hit, dest, beat);
  if (got.bytes === f.bytes && (await got.sha256) === f.sha256) return true;
  await cache.delete(url).catch(() => false);
  return false;
}

/** The shard from the store, streamed into dest and checked there. */
async function fetchInto(
  store: WeightStore,
  name: string,
  f: FileEntry,
  dest: Uint8Array,
  beat: () => void,
) {
  const key = modelKey(name, f.file);
  const obj = await store.get(key);
  if (!obj) throw new ModelLoadError(`model '${name}': object ${key} is missing; re-upload it`);
  const got = await readInto(obj, dest, beat);
  if (got.bytes !== f.bytes) {
    throw new ModelLoadError(
      `model '${name}': ${key} has ${got.bytes} bytes, the manifest says ${f.bytes}; re-upload it`,
    );
  }
  if ((await got.sha256) !== f.sha256) {
    throw new ModelLoadError(`model '${name}': ${key} fails its SHA-256 check; re-upload it`);
  }
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

/**
 * The WASM memory for a plan: a reused one (an evicted model's; the platform frees memory only
 * at GC, so reusing it is the one way to hand it on deterministically), grown to size and zeroed
 * so the model starts from the same state as in a fresh one; else a new one.
 */
function memoryFor(pages: number, reuse?: WebAssembly.Memory, maxPages?: number) {
  if (reuse) {
    const have = reuse.buffer.byteLength / 65536;
    try {
      if (have < pages) reuse.grow(pages - have);
      new Uint8Array(reuse.buffer).fill(0);
      return reuse;
    } catch {} // cannot grow that far: a fresh memory, and the GC takes the old one
  }
  return new WebAssembly.Memory({ initial: pages, maximum: Math.max(pages, maxPages ?? pages) });
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
