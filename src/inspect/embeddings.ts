// The token-embedding matrix wte (V × C) read in place from WASM memory (any dtype), for the
// demo's embedding views: nearest neighbours by cosine similarity, and a 3D PCA of the
// vocabulary. The PCA basis, row norms and the sample cloud are computed once per loaded model.

import type { LoadedModel } from "../model/loader.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { fitPca, project, type Pca } from "./pca.js";
import { pad3, round } from "./round.js";
import { weights } from "./weights.js";

/**
 * Rows the wte PCA is fitted on, evenly spaced: each step of the fit reads them all, so at most
 * 2^20 values (2048 rows up to 512 wide, 1365 for GPT-2's 768), but never fewer than 1024 rows.
 * On a random GPT-2 124M wte (flat spectrum: it runs all 200 steps) the fit takes ~4.7 s, once per
 * loaded model; the trained default model's takes ~0.2 s.
 */
const fitRows = (C: number) => Math.max(1024, Math.min(2048, Math.floor(2 ** 20 / C)));
/** Points of the vocabulary cloud sent to the page: enough to see structure, ~20 KB of JSON. */
const CLOUD_POINTS = 400;

export class EmbeddingUnsupportedError extends Error {
  name = "EmbeddingUnsupportedError";
}

/** Rows of wte as floats, whatever its dtype: as Matrix's row (a copy or a view) and read. */
export interface WteRows {
  V: number;
  C: number;
  row(i: number): ArrayLike<number>;
  /** Row i, valid until the next read: q8 / q4 rows are dequantized into one reused buffer. */
  read(i: number): ArrayLike<number>;
}

interface WteInfo {
  V: number;
  C: number;
  norms: Float32Array; // (V) L2 norm of each row
  pca: Pca;
  cloud: { id: number; text: string; xyz: number[] }[];
}

const cache = new WeakMap<LoadedModel, WteInfo>();

/**
 * wte read in place from WASM memory (fresh views each call: cheap, never stale), as weights()
 * reads any matrix; a model without wte, or a quantized one without scales, is refused here.
 */
export function wteRows(lm: LoadedModel): WteRows {
  const t = lm.manifest.tensors.find((e) => e.name === "wte");
  if (!t) throw new EmbeddingUnsupportedError(`model '${lm.name}' has no wte tensor`);
  if (t.dtype !== "f32" && t.scales_offset === undefined)
    throw new EmbeddingUnsupportedError(`model '${lm.name}': ${t.dtype} wte without scales`);
  const { rows: V, cols: C, row, read } = weights(lm).matrix("wte");
  return { V, C, row, read };
}

export function wteInfo(lm: LoadedModel): WteInfo {
  const hit = cache.get(lm);
  if (hit) return hit;
  const w = wteRows(lm);
  const { V, C } = w;
  const norms = new Float32Array(V);
  for (let i = 0; i < V; i++) {
    const r = w.read(i);
    let s = 0;
    for (let j = 0; j < C; j++) s += r[j] * r[j];
    norms[i] = Math.sqrt(s);
  }
  const fit = spread(V, fitRows(C));
  const pca = fitPca((k) => w.read(fit[k]), fit.length, C, { k: 3 }); // rows read in place
  const tok = lm.tokenizer;
  const visible = Array.from({ length: V }, (_, i) => i).filter((i) => printable(tok, i));
  const cloud = spread(visible.length, CLOUD_POINTS).map((j) => {
    const id = visible[j];
    return { id, text: tok.tokenString(id), xyz: pad3(project(pca, w.read(id))) };
  });
  const info = { V, C, norms, pca, cloud };
  cache.set(lm, info);
  return info;
}

/** The prompt's tokens in the wte PCA basis. */
export function projectTokens(lm: LoadedModel, ids: number[]): number[][] {
  const { pca } = wteInfo(lm);
  const w = wteRows(lm);
  return ids.map((id) => pad3(project(pca, w.read(id))));
}

/** The k ids most similar to `id` by cosine over wte (itself excluded), best first. */
export function neighbours(lm: LoadedModel, id: number, k: number) {
  return nearest(lm, Float64Array.from(wteRows(lm).row(id)), [id], k);
}

/** Nearest tokens to Σ wte[plus] − Σ wte[minus] by cosine, the inputs excluded (king − man + woman). */
export function analogy(lm: LoadedModel, plus: number[], minus: number[], k: number) {
  const w = wteRows(lm);
  const x = new Float64Array(w.C);
  const addRow = (id: number, sign: number) => {
    const r = w.read(id);
    for (let j = 0; j < w.C; j++) x[j] += sign * r[j];
  };
  plus.forEach((id) => addRow(id, 1));
  minus.forEach((id) => addRow(id, -1));
  return nearest(lm, x, [...plus, ...minus], k);
}

/** The k valid ids whose wte rows have the largest cosine with x, `exclude` left out. */
function nearest(lm: LoadedModel, x: Float64Array, exclude: number[], k: number) {
  const { V, C, norms } = wteInfo(lm);
  const w = wteRows(lm);
  let nx = 0;
  for (let j = 0; j < C; j++) nx += x[j] * x[j];
  if (nx === 0) return []; // a zero vector (an all-zero row): no token is nearer than another
  nx = Math.sqrt(nx);
  const sims = new Float64Array(V);
  for (let i = 0; i < V; i++) {
    const r = w.read(i);
    let s = 0;
    for (let j = 0; j < C; j++) s += x[j] * r[j];
    sims[i] = s / (nx * (norms[i] || 1));
  }
  const tok = lm.tokenizer;
  const best: number[] = [];
  // Partial selection: k is ≤ 50, so k passes over V are cheaper than sorting V entries.
  const taken = new Uint8Array(V);
  for (const id of exclude) taken[id] = 1;
  for (let i = 0; i < V; i++) if (!tok.isValidId(i)) taken[i] = 1;
  for (let r = 0; r < k; r++) {
    let b = -1;
    for (let i = 0; i < V; i++) if (!taken[i] && (b < 0 || sims[i] > sims[b])) b = i;
    if (b < 0) break;
    taken[b] = 1;
    best.push(b);
  }
  return best.map((i) => ({ id: i, text: tok.tokenString(i), cosine: round(sims[i], 4) }));
}

/** n indices spread evenly over 0..count-1 (all of them if count ≤ n). */
function spread(count: number, n: number): number[] {
  if (count <= n) return Array.from({ length: count }, (_, i) => i);
  return Array.from({ length: n }, (_, i) => Math.floor((i * count) / n));
}

/** A token worth a label in the cloud: valid UTF-8 with at least one visible character. */
function printable(tok: Tokenizer, id: number): boolean {
  if (!tok.isValidId(id) || id === tok.eot) return false;
  const s = tok.tokenString(id);
  return !s.includes("\uFFFD") && /[\p{L}\p{N}\p{P}\p{S}]/u.test(s);
}
