// Scalar TypeScript twins of the WASM kernels: plain loops in f64, the oracle the SIMD kernels
// are tested against. Same pointers (byte offsets, 4-byte aligned) into the same memory.

import { scalarQuantKernels } from "./scalar-quant";
import type { Kernels, Ptr } from "./types";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function scalarKernels(memory: WebAssembly.Memory): Kernels {
  // Views are made per call: memory.buffer is a new object if the memory is ever replaced.
  const f32 = () => new Float32Array(memory.buffer);
  const at = (p: Ptr) => p >>> 2; // byte offset -> float index

  return {
    memory,
    ...scalarQuantKernels(memory),

    matmul(out, x, w, b, T, n, d) {
      const m = f32();
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < d; j++) {
          let s = b ? m[at(b) + j] : 0;
          for (let i = 0; i < n; i++) s += m[at(x) + t * n + i] * m[at(w) + j * n + i];
          m[at(out) + t * d + j] = s;
        }
      }
    },

    layernorm(out, x, g, b, T, C, eps) {
      const m = f32();
      for (let t = 0; t < T; t++) {
        const xr = at(x) + t * C;
        let mean = 0;
        for (let i = 0; i < C; i++) mean += m[xr + i];
        mean /= C;
        let v = 0;
        for (let i = 0; i < C; i++) v += (m[xr + i] - mean) ** 2;
        const rstd = 1 / Math.sqrt(v / C + eps);
        for (let i = 0; i < C; i++) {
          m[at(out) + t * C + i] = (m[xr + i] - mean) * rstd * m[at(g) + i] + m[at(b) + i];
        }
      }
    },

    gelu(out, x, count) {
      const m = f32();
      for (let i = 0; i < count; i++) {
        const v = m[at(x) + i];
        m[at(out) + i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v ** 3)));
      }
    },

    add(out, a, b, count) {
      const m = f32();
      for (let i = 0; i < count; i++) m[at(out) + i] = m[at(a) + i] + m[at(b) + i];
    },

    softmax(out, x, T, n) {
      const m = f32();
      for (let t = 0; t < T; t++) softmaxRow(m, at(out) + t * n, at(x) + t * n, n);
    },

    attention(out, att, q, k, v, T, pos0, C, NH, qStride) {
      const m = f32();
      const HS = C / NH;
      const scale = 1 / Math.sqrt(HS);
      const L = pos0 + T; // att row length
      for (let h = 0; h < NH; h++) {
        for (let t = 0; t < T; t++) {
          const qr = at(q) + t * qStride + h * HS;
          const ar = at(att) + (h * T + t) * L;
          const n = pos0 + t + 1; // causal: keys 0..pos0+t
          for (let j = 0; j < L; j++) {
            if (j >= n) {
              m[ar + j] = 0;
              continue;
            }
            let s = 0;
            for (let i = 0; i < HS; i++) s += m[qr + i] * m[at(k) + j * C + h * HS + i];
            m[ar + j] = s * scale;
          }
          softmaxRow(m, ar, ar, n);
          for (let i = 0; i < HS; i++) {
            let s = 0;
            for (let j = 0; j < n; j++) s += m[ar + j] * m[at(v) + j * C + h * HS + i];
            m[at(out) + t * C + h * HS + i] = s;
          }
        }
      }
    },
  };
}

/** m[out..out+n] = softmax(m[x..x+n]), max-subtracted so no exponent overflows; out may equal x. */
function softmaxRow(m: Float32Array, out: number, x: number, n: number): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, m[x + i]);
  const e = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += e[i] = Math.exp(m[x + i] - max);
  for (let i = 0; i < n; i++) m[out + i] = e[i] / sum;
}
