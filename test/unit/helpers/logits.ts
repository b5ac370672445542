// Logits in the model tests: one forward call's logits at every position, their relative error
// against another model's, their bit patterns (for bit-identity), their argmax and full ranking;
// and the default checkpoint converted to any dtype in a temporary folder, loaded with the WASM
// kernels or not.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadKernelModule } from "../../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../../src/model/loader.js";
import type { DType } from "../../../src/model/manifest.js";
import type { KvDtype } from "../../../src/model/plan.js";
import { convertCheckpoint } from "../../../weights/convert.js";
import { modelDirStore } from "../../helpers/fs-store.js";
import { SOURCE_DIR } from "../../setup/paths.js";

/** Logits of every position of `ids`, prefilled in one call into `slot` from position 0. */
export function logitsAt(m: LoadedModel, ids: number[], slot = 0): Float32Array[] {
  const out: Float32Array[] = [];
  m.model.forward([{ slot, pos0: 0, ids, logits: "all" }], (_s, t, l) => (out[t] = l.slice()));
  return out;
}

/** max |a - b| / max |b| over one position's logits. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

export const argmax = (a: Float32Array) => a.reduce((best, v, i) => (v > a[best] ? i : best), 0);

/** Every id, best first, ties → lower id: the full sort the sampler's cuts are checked against. */
export const ranked = (x: Float32Array) =>
  Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[b] - x[a] || a - b);

/** The float32 bit patterns, so that toEqual means bit-identical (and NaN equals NaN). */
export const bits = (a: Float32Array) =>
  Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** The default checkpoint converted per dtype under one temporary folder; dispose() removes it. */
export class ConvertedModels {
  private readonly tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gpt-edge-models-"));

  /** Weights in `dtype`, a `kv` cache of 4 slots, in a 112 MiB budget; scalar twins if !wasm. */
  load(dtype: DType, kv: KvDtype, wasm = true): Promise<LoadedModel> {
    const dir = path.join(this.tmp, dtype);
    if (!fs.existsSync(path.join(dir, "manifest.json")))
      convertCheckpoint(SOURCE_DIR, dir, { name: dtype, dtype });
    return loadModel(modelDirStore(dir, dtype), dtype, {
      kernels: wasm ? loadKernelModule() : null,
      budgetBytes: 112 * 2 ** 20,
      slots: 4,
      kv,
      cache: null,
    });
  }

  dispose(): void {
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}
