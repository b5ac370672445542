// Scalar twins of the block-quantized WASM kernels. quantize, matmulQ8/Q4 and embedQ8/Q4 redo
// the kernels' f32 arithmetic operation by operation (Math.fround after each), so they agree bit
// for bit; attentionQ8 computes its softmax and value sums in f64, like the f32 attention twin.

import { quantAt, quantizeBlockQ8, QBLOCK, scaleIndex, type QuantDType } from "./quant";
import type { Kernels, Ptr } from "./types";

const f32 = Math.fround;

type QuantKernels = Pick<
  Kernels,
  "quantize" | "matmulQ8" | "matmulQ4" | "embedQ8" | "embedQ4" | "attentionQ8"
>;

export function scalarQuantKernels(memory: WebAssembly.Memory): QuantKernels {
  const F = () => new Float32Array(memory.buffer);
  const U8 = () => new Uint8Array(memory.buffer);
  const at = (p: Ptr) => p >>> 2; // byte offset -> float index

  /** Σ over block k of x row (i8 at byte xr) times w row (bytes at wr): exact integer. */
  const blockDot = (u8: Uint8Array, xr: number, wr: number, k: number, dt: QuantDType) => {
    let s = 0;
    for (let i = 0; i < QBLOCK; i++) s += quantAt(u8, xr, k, i, "q8") * quantAt(u8, wr, k, i, dt);
    return s;
  };

  const matmul =
    (dt: QuantDType) =>
    (out: Ptr, xq: Ptr, xs: Ptr, w: Ptr, ws: Ptr, b: Ptr, T: number, n: number, d: number) => {
      const m = F();
      const u8 = U8();
      const nb = n / QBLOCK;
      const rb = dt === "q8" ? n : n / 2;
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < d; j++) {
          let acc = 0;
          for (let k = 0; k < nb; k++) {
            const isum = blockDot(u8, xq + t * n, w + j * rb, k, dt);
            const sw = m[at(ws) + scaleIndex(j, k, nb)];
            acc = f32(acc + f32(isum * f32(sw * m[at(xs) + t * nb + k])));
          }
          m[at(out) + t * d + j] = f32(acc + (b ? m[at(b) + j] : 0));
        }
      }
    };

  const embed =
    (dt: QuantDType) =>
    (out: Ptr, wq: Ptr, ws: Ptr, wpe: Ptr, ids: Ptr, pos0: number, T: number, C: number) => {
      const m = F();
      const u8 = U8();
      const id = new Int32Array(memory.buffer);
      const rb = dt === "q8" ? C : C / 2;
      for (let t = 0; t < T; t++) {
        const tok = id[at(ids) + t];
        for (let c = 0; c < C; c++) {
          const k = Math.floor(c / QBLOCK);
          const s = m[at(ws) + scaleIndex(tok, k, C / QBLOCK)];
          const v = f32(quantAt(u8, wq + tok * rb, k, c % QBLOCK, dt) * s);
          m[at(out) + t * C + c] = f32(v + m[at(wpe) + (pos0 + t) * C + c]);
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
    matmulQ8: matmul("q8"),
    matmulQ4: matmul("q4"),
    embedQ8: embed("q8"),
    embedQ4: embed("q4"),

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
              const isum = blockDot(u8, qRow, k + j * C, kb, "q8");
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
              s += coef * quantAt(u8, v + j * C, kb, c % QBLOCK, "q8");
            }
            m[at(out) + t * C + c] = s;
          }
        }
      }
    },
  };
}
