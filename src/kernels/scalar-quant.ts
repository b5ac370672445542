// Scalar twins of the block-quantized WASM kernels, and of embed for every wte dtype (f32 too).
// quantize, matmulQuant and embed redo the kernels' f32 arithmetic operation by operation
// (Math.fround after each), so they agree bit for bit. (attention, for both KV dtypes: scalar.ts.)

import { quantAt, quantizeBlockQ8, QBLOCK, scaleIndex, type QuantDType } from "./quant";
import { DTYPE_CODE, type Kernels, type MatmulSizes, type Ptr } from "./types";

const f32 = Math.fround;

type QuantKernels = Pick<Kernels, "quantize" | "matmulQuant" | "embed">;

export function scalarQuantKernels(memory: WebAssembly.Memory): QuantKernels {
  const F = () => new Float32Array(memory.buffer);
  const U8 = () => new Uint8Array(memory.buffer);
  const at = (p: Ptr) => p >>> 2; // byte offset -> float index

  /**
   * out = x·wᵀ + b from int8 activations (xq: bytes, xqAt: their first byte; scales xs[t][k]):
   * per block the exact integer dot, then the kernels' f32 operations in their order.
   */
  const matmul = (
    dt: QuantDType,
    out: Ptr,
    xq: Uint8Array,
    xqAt: number,
    xs: (t: number, k: number) => number,
    w: Ptr,
    ws: Ptr,
    b: Ptr,
    ...[T, n, d]: MatmulSizes
  ) => {
    const m = F();
    const u8 = U8();
    const nb = n / QBLOCK;
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < d; j++) {
        let acc = 0;
        for (let k = 0; k < nb; k++) {
          let isum = 0;
          for (let i = 0; i < QBLOCK; i++) {
            isum += quantAt(xq, xqAt, t, k, i, n, "q8") * quantAt(u8, w, j, k, i, n, dt);
          }
          const sw = m[at(ws) + scaleIndex(j, k, nb)];
          acc = f32(acc + f32(isum * f32(sw * xs(t, k))));
        }
        m[at(out) + t * d + j] = f32(acc + (b ? m[at(b) + j] : 0));
      }
    }
  };

  return {
    quantize(q, s, x, T, n) {
      const m = F();
      const i8 = new Int8Array(memory.buffer);
      for (let k = 0; k < (T * n) / QBLOCK; k++) {
        m[at(s) + k] = quantizeBlockQ8(m, at(x) + k * QBLOCK, i8, q + k * QBLOCK);
      }
    },
    matmulQuant(out, x, xq, xs, w, ws, b, T, n, d, dtype) {
      if (dtype === DTYPE_CODE.q8) {
        const m = F();
        const xsAt = (t: number, k: number) => m[at(xs) + t * (n / QBLOCK) + k];
        return matmul("q8", out, U8(), xq, xsAt, w, ws, b, T, n, d);
      }
      // q4: the kernel's scratch is private to its build; quantize here, by the same rule
      const q = new Int8Array(T * n);
      const s = new Float32Array((T * n) / QBLOCK);
      const xf = F().subarray(at(x), at(x) + T * n);
      for (let k = 0; k < s.length; k++) s[k] = quantizeBlockQ8(xf, k * QBLOCK, q, k * QBLOCK);
      const qb = new Uint8Array(q.buffer);
      matmul("q4", out, qb, 0, (t, k) => s[t * (n / QBLOCK) + k], w, ws, b, T, n, d);
    },
    embed(out, wte, ws, wpe, ids, pos0, T, C, dtype) {
      const m = F();
      const u8 = U8();
      const id = new Int32Array(memory.buffer);
      const dt = dtype === DTYPE_CODE.q8 ? "q8" : "q4";
      const nb = C / QBLOCK;
      /** Element c of wte's row tok in f32: the f32 value, or f32(q) · s for q8/q4. */
      const value = (tok: number, c: number) => {
        if (dtype === DTYPE_CODE.f32) return m[at(wte) + tok * C + c];
        const k = Math.floor(c / QBLOCK);
        return f32(
          quantAt(u8, wte, tok, k, c % QBLOCK, C, dt) * m[at(ws) + scaleIndex(tok, k, nb)],
        );
      };
      for (let t = 0; t < T; t++) {
        const tok = id[at(ids) + t];
        for (let c = 0; c < C; c++) {
          m[at(out) + t * C + c] = f32(value(tok, c) + m[at(wpe) + (pos0 + t) * C + c]);
        }
      }
    },
  };
}
