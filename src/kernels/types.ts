// The kernel interface, identical for the SIMD WASM kernels (wasm.ts) and their scalar
// TypeScript twins (scalar.ts). Every argument named like a buffer is a byte offset into
// the one WebAssembly.Memory that TypeScript owns; kernels allocate nothing, never grow
// memory, and check nothing (the model plans every buffer before calling them).
// Letters: T tokens (rows), C channels, NH heads, HS = C / NH head size.

export type Ptr = number;

export interface Kernels {
  readonly memory: WebAssembly.Memory;

  /** out[T][d] = x[T][n] · w[d][n]ᵀ (+ b[d] unless b = 0). w is [out][in] row-major. */
  matmul(out: Ptr, x: Ptr, w: Ptr, b: Ptr, T: number, n: number, d: number): void;

  /** out[T][C] = (x - mean) / sqrt(var + eps) * g + b, per row; biased variance. out may equal x. */
  layernorm(out: Ptr, x: Ptr, g: Ptr, b: Ptr, T: number, C: number, eps: number): void;

  /** out[i] = GPT-2's tanh GELU of x[i] for count floats. out may equal x. */
  gelu(out: Ptr, x: Ptr, count: number): void;

  /** out[i] = a[i] + b[i] for count floats (the residual add). out may equal a or b. */
  add(out: Ptr, a: Ptr, b: Ptr, count: number): void;

  /** Row-wise softmax of x[T][n] into out (max-subtracted). out may equal x. */
  softmax(out: Ptr, x: Ptr, T: number, n: number): void;

  /** out[t][C] = wte[ids[t]] + wpe[pos0 + t]; ids is an i32 array of T ids. */
  embed(out: Ptr, wte: Ptr, wpe: Ptr, ids: Ptr, pos0: number, T: number, C: number): void;

  /**
   * Causal multi-head attention of T new tokens at positions pos0..pos0+T-1 against one
   * sequence's KV cache. q rows are at q + t*qStride floats (qStride = 3C when q points into
   * the c_attn output). k and v are that layer's cache, [n_ctx][C], already holding
   * positions 0..pos0+T-1. att receives the probabilities, [NH][T][pos0+T] (row t is zero
   * past key pos0+t). out[T][C] gets, per head h, Σ_j att[h][t][j] · v[j][h*HS..]. Scores are
   * scaled by 1/sqrt(HS).
   */
  attention(
    out: Ptr,
    att: Ptr,
    q: Ptr,
    k: Ptr,
    v: Ptr,
    T: number,
    pos0: number,
    C: number,
    NH: number,
    qStride: number,
  ): void;
}

/** Bytes before this offset belong to the WASM module (its stack/statics); TS allocates above. */
export const RESERVED_BYTES = 65536;
