// Scalar TypeScript twins of the WASM kernels: plain loops in f64, the oracle the SIMD kernels
// are tested against (attention's int8 scores replay the kernel's f32 arithmetic; the quantized
// twins: scalar-quant.ts). Same pointers (byte offsets, 4-byte aligned) into the same memory.

import { quantAt, QBLOCK } from "./quant";
import { argmaxOf, expBucketOf, expFindOf, expHistOf, expSumOf } from "./scalar-sample";
import { scalarQuantKernels } from "./scalar-quant";
import { DTYPE_CODE, type Kernels, type Ptr } from "./types";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const f32r = Math.fround;

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

    argmax: (x, n) => argmaxOf(f32(), at(x), n),
    expSum: (x, n, max, scale) => expSumOf(f32(), at(x), n, max, scale),
    expFind: (x, n, max, scale, r, above) => expFindOf(f32(), at(x), n, max, scale, r, above),
    expHist: (x, n, max, scale, out) =>
      expHistOf(f32(), at(x), n, max, scale, new Float64Array(memory.buffer), out / 8),
    expBucket(x, n, max, scale, from, to, minT, out, cap) {
      const ids = new Int32Array(n);
      const count = expBucketOf(f32(), at(x), n, max, scale, from, to, minT, ids);
      new Int32Array(memory.buffer).set(ids.subarray(0, Math.min(count, cap)), out / 4);
      return count > cap ? -1 : count;
    },

    add(out, a, b, count) {
      const m = f32();
      for (let i = 0; i < count; i++) m[at(out) + i] = m[at(a) + i] + m[at(b) + i];
    },

    softmax(out, x, T, n) {
      const m = f32();
      for (let t = 0; t < T; t++) softmaxRow(m, at(out) + t * n, at(x) + t * n, n);
    },

    attention(out, att, q, qs, k, ks, v, vs, T, pos0, C, NH, qStride, dtype) {
      const m = f32();
      const u8 = new Uint8Array(memory.buffer);
      const q8 = dtype === DTYPE_CODE.q8;
      const HS = C / NH;
      const nbC = C / QBLOCK; // scale floats per row of an int8 cache
      const scale = 1 / Math.sqrt(HS);
      const L = pos0 + T; // att row length
      const i8 = (p: Ptr, row: number, c: number) =>
        quantAt(u8, p, row, Math.floor(c / QBLOCK), c % QBLOCK, C, "q8");
      /**
       * Head h's scaled score of token t against key j: in f64 (f32 cache), or (int8 cache) the
       * kernel's f32 arithmetic, block by block.
       */
      const score = (h: number, t: number, j: number) => {
        if (!q8) {
          let s = 0;
          for (let c = h * HS; c < (h + 1) * HS; c++) {
            s += m[at(q) + t * qStride + c] * m[at(k) + j * C + c];
          }
          return s * scale;
        }
        let acc = 0;
        for (let c = h * HS; c < (h + 1) * HS; c += QBLOCK) {
          let isum = 0;
          for (let i = c; i < c + QBLOCK; i++) isum += i8(q + t * qStride, 0, i) * i8(k, j, i);
          const kb = c / QBLOCK;
          const sk = m[at(ks) + j * nbC + kb];
          acc = f32r(acc + f32r(isum * f32r(sk * m[at(qs) + (t * qStride) / QBLOCK + kb])));
        }
        return f32r(acc * f32r(scale));
      };
      /** p · value c of key j: f64 (f32 cache), or f32(p · its block's scale) · q (int8). */
      const weighted = (p: number, j: number, c: number) => {
        if (!q8) return p * m[at(v) + j * C + c];
        return f32r(p * m[at(vs) + j * nbC + Math.floor(c / QBLOCK)]) * i8(v, j, c);
      };
      for (let h = 0; h < NH; h++) {
        for (let t = 0; t < T; t++) {
          const ar = at(att) + (h * T + t) * L;
          const n = pos0 + t + 1; // causal: keys 0..pos0+t
          for (let j = 0; j < L; j++) m[ar + j] = j < n ? score(h, t, j) : 0;
          softmaxRow(m, ar, ar, n);
          for (let c = h * HS; c < (h + 1) * HS; c++) {
            let s = 0;
            for (let j = 0; j < n; j++) s += weighted(m[ar + j], j, c);
            m[at(out) + t * C + c] = s;
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
