// The loaded model's tensors read in place from WASM memory for the inspection views, by GPT-2's
// names: vectors (biases, layer-norm gains) as f32 views, matrices [out][in] row by row in any
// dtype (f32 rows are views; q8 / q4 rows are dequantized on demand, as wteRows does).

import { dequantizeRow, scaleCount } from "../kernels/quant.js";
import type { LoadedModel } from "../model/loader.js";

export interface Matrix {
  rows: number;
  cols: number;
  /** Row i as floats; a q8 / q4 row is a fresh copy, an f32 row a view of WASM memory. */
  row(i: number): Float32Array;
  /**
   * Row i, valid until the next read of this matrix: an f32 row is a view, a q8 / q4 row is
   * dequantized into one buffer the matrix reuses. For passes over many rows (no garbage a row).
   */
  read(i: number): Float32Array;
}

export interface Weights {
  vec(name: string): Float32Array;
  matrix(name: string): Matrix;
}

export function weights(lm: LoadedModel): Weights {
  const buf = lm.kernels.memory.buffer;
  const base = lm.plan.weights;
  const entry = (name: string) => {
    const t = lm.manifest.tensors.find((e) => e.name === name);
    if (!t) throw new Error(`inspect: model '${lm.name}' has no tensor '${name}'`);
    return t;
  };
  return {
    vec(name) {
      const t = entry(name);
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (t.dtype !== "f32") throw new Error(`inspect: '${name}' is ${t.dtype}, expected f32`);
      return new Float32Array(buf, base + t.offset, n);
    },
    matrix(name) {
      const t = entry(name);
      const [rows, cols] = t.shape;
      if (t.dtype === "f32") {
        const m = new Float32Array(buf, base + t.offset, rows * cols);
        const row = (i: number) => m.subarray(i * cols, (i + 1) * cols);
        return { rows, cols, row, read: row };
      }
      const dtype = t.dtype;
      const q = new Uint8Array(buf, base + t.offset, (t.scales_offset ?? 0) - t.offset);
      const s = new Float32Array(buf, base + (t.scales_offset ?? 0), scaleCount(rows, cols));
      const out = new Float32Array(cols);
      return {
        rows,
        cols,
        row: (i) => dequantizeRow(q, s, i, cols, dtype),
        read: (i) => dequantizeRow(q, s, i, cols, dtype, out),
      };
    },
  };
}

/** out[d] = W[d][n] · x[n] + b[d] for rows [r0, r0 + d) of W (float64 sums). */
export function matvec(
  W: Matrix,
  x: ArrayLike<number>,
  b: ArrayLike<number> | null,
  r0: number,
  d: number,
): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    const w = W.read(r0 + i);
    let s = b ? b[r0 + i] : 0;
    for (let j = 0; j < w.length; j++) s += w[j] * x[j];
    out[i] = s;
  }
  return out;
}

/** GPT-2's layer norm of one vector: (x − mean) / √(var + eps) · g + b, into `out` if given. */
export function layerNorm(
  x: ArrayLike<number>,
  g: ArrayLike<number>,
  b: ArrayLike<number>,
  eps: number,
  out = new Float64Array(x.length),
): Float64Array {
  const C = x.length;
  let mean = 0;
  for (let i = 0; i < C; i++) mean += x[i];
  mean /= C;
  let v = 0;
  for (let i = 0; i < C; i++) v += (x[i] - mean) ** 2;
  const rstd = 1 / Math.sqrt(v / C + eps);
  for (let i = 0; i < C; i++) out[i] = (x[i] - mean) * rstd * g[i] + b[i];
  return out;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** GPT-2's tanh approximation of GELU ("gelu_new"), as the kernels compute it. */
export const gelu = (v: number) =>
  0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v ** 3)));

export const norm = (x: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
};
