// Scalar twins of the block-quantized WASM kernels, and of embed for every wte dtype (f32 too).
// quantize, matmulQ8/Q4 and embed redo the kernels' f32 arithmetic operation by operation
// (Math.fround after each), so they agree bit for bit; attentionQ8 computes its softmax and
// value sums in f64, like the f32 attention twin.

import { quantAt, quantizeBlockQ8, QBLOCK, scaleIndex, type QuantDType } from "./quant";
import { EMBED_DTYPE, type Kernels, type MatmulSizes, type Ptr } from "./types";

const f32 = Math.fround;

type QuantKernels = Pick<Kernels, "quantize" | "matmulQ8" | "matmulQ4" | "embed" | "attentionQ8">;

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
    matmulQ8(out, xq, xs, w, ws, b, T, n, d) {
      const m = F();
      const xsAt = (t: number, k: number) => m[at(xs) + t * (n / QBLOCK) + k];
      matmul("q8", out, U8(), xq, xsAt, w, ws, b, T, n, d);
    },
    matmulQ4(out, x, _xq, w, ws, b, T, n, d) {
      // the kernel's scratch is private to its build: quantize here, by the same rule
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
      const dt = dtype === EMBED_DTYPE.q8 ? "q8" : "q4";
      const nb = C / QBLOCK;
      /** Element c of wte's row tok in f32: the f32 value, or f32(q) · s for q8/q4. */
      const value = (tok: number, c: number) => {
        if (dtype === EMBED_DTYPE.f32) return m[at(wte) + tok * C + c];
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

    attentionQ8(out, att, q, qs, k, ks, v, vs, T, pos0, C, NH, qStride) {
      const m = F();
      const u8 = U8();
      const HS = C / NH;
      const nbC = C / QBLOCK; // scale floats per cache row
      const scale = f32(1 / Math.sqrt(HS));
      const L = pos0 + T;
      for (let h = 0; h < NH; h++) {
        const kb0 = (h * HS) / QBLOCK; // first block of this head
        for (let t = 0; t < T; t++) {
          const ar = at(att) + (h * T + t) * L;
          const qRow = q + t * qStride;
          const qsRow = at(qs) + (t * qStride) / QBLOCK;
          const n = pos0 + t + 1;
          for (let j = 0; j < L; j++) {
            if (j >= n) {
              m[ar + j] = 0;
              continue;
            }
            let acc = 0; // the kernel's per-key f32 arithmetic, block by block
            for (let kb = kb0; kb < kb0 + HS / QBLOCK; kb++) {
              let isum = 0;
              for (let i = 0; i < QBLOCK; i++) {
                isum += quantAt(u8, qRow, 0, kb, i, C, "q8") * quantAt(u8, k, j, kb, i, C, "q8");
              }
              acc = f32(acc + f32(isum * f32(m[at(ks) + j * nbC + kb] * m[qsRow + kb])));
            }
            m[ar + j] = f32(acc * scale);
          }
          let max = -Infinity;
          for (let j = 0; j < n; j++) max = Math.max(max, m[ar + j]);
          const e = Array.from({ length: n }, (_, j) => Math.exp(m[ar + j] - max));
          const sum = e.reduce((a, x) => a + x, 0);
          for (let j = 0; j < n; j++) m[ar + j] = e[j] / sum;
          for (let c = h * HS; c < (h + 1) * HS; c++) {
            const kb = Math.floor(c / QBLOCK);
            let s = 0;
            for (let j = 0; j < n; j++) {
              const coef = f32(m[ar + j] * m[at(vs) + j * nbC + kb]);
              s += coef * quantAt(u8, v, j, kb, c % QBLOCK, C, "q8");
            }
            m[at(out) + t * C + c] = s;
          }
        }
      }
    },
  };
}
