// Loads a converted model from a weight store (the R2 binding in the Worker, a folder in Node):
// manifest -> memory plan -> parallel shard fetches, each size- and SHA-256-checked and copied
// into place in WASM memory. A load either completes or throws; it never leaves half a model.

import { instantiateKernels } from "../kernels/wasm.js";
import { scalarKernels } from "../kernels/scalar.js";
import type { Kernels } from "../kernels/types.js";
import { Tokenizer } from "../tokenizer/index.js";
import { GPT2 } from "./gpt2.js";
import { FORMAT, type FileEntry, type Manifest } from "./manifest.js";
import { fitSlots, planMemory, type MemoryPlan } from "./plan.js";

/** The part of R2Bucket the loader uses; a folder-backed store implements it in Node. */
export interface WeightStore {
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
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

const MAX_PARALLEL_FETCHES = 6; // Workers allow 6 simultaneous outgoing connections per request

export async function loadModel(
  store: WeightStore,
  name: string,
  opts: LoadOptions,
): Promise<LoadedModel> {
  const t0 = performance.now();
  const manifest = await fetchManifest(store, name);
  const rows = opts.rows ?? 64;
  const logitRows = opts.logitRows ?? 8;
  const base = { rows, logitRows, budgetBytes: opts.budgetBytes };
  const slots = fitSlots(manifest, base, opts.slots);
  const plan = planMemory(manifest, { ...base, slots }); // throws ModelTooLargeError before any fetch

  const memory = new WebAssembly.Memory({ initial: plan.pages, maximum: plan.pages });
  const kernels = opts.kernels ? instantiateKernels(opts.kernels, memory) : scalarKernels(memory);
  const image = new Uint8Array(memory.buffer, plan.weights, manifest.image_bytes);

  const jobs: (() => Promise<void>)[] = manifest.shards.map((s) => async () => {
    const bytes = await fetchChecked(store, name, s);
    image.set(bytes, s.offset);
  });
  let tokenizer: Tokenizer | undefined;
  jobs.unshift(async () => {
    tokenizer = Tokenizer.fromBytes(await fetchChecked(store, name, manifest.tokenizer));
  });
  await runLimited(jobs, MAX_PARALLEL_FETCHES);
  if (!tokenizer) throw new ModelLoadError(`model '${name}': tokenizer did not load`);
  if (tokenizer.vocabSize > manifest.config.n_vocab) {
    throw new ModelLoadError(
      `model '${name}': tokenizer has ${tokenizer.vocabSize} tokens but the model only ${manifest.config.n_vocab}`,
    );
  }
  const model = new GPT2(manifest, plan, kernels);
  return { name, manifest, tokenizer, model, plan, kernels, loadMs: performance.now() - t0 };
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
  if (m.format !== FORMAT) {
    throw new ModelLoadError(
      `model '${name}': manifest format '${m.format}' is not '${FORMAT}'; ` +
        `re-convert it with this version: npm run weights -- convert`,
    );
  }
  return m;
}

async function fetchChecked(store: WeightStore, name: string, f: FileEntry): Promise<Uint8Array> {
  const key = modelKey(name, f.file);
  const obj = await store.get(key);
  if (!obj) throw new ModelLoadError(`model '${name}': object ${key} is missing; re-upload it`);
  const bytes = new Uint8Array(await obj.arrayBuffer());
  if (bytes.byteLength !== f.bytes) {
    throw new ModelLoadError(
      `model '${name}': ${key} has ${bytes.byteLength} bytes, the manifest says ${f.bytes}; re-upload it`,
    );
  }
  const hash = await sha256Hex(bytes);
  if (hash !== f.sha256) {
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
