// The kernel interface, identical for the SIMD WASM kernels (wasm.ts) and their scalar
// TypeScript twins (scalar.ts). Every argument named like a buffer is a byte offset into
// the one WebAssembly.Memory that TypeScript owns; kernels allocate nothing, never grow
// memory, and check nothing (the model plans every buffer before calling them).
// Letters: T tokens (rows), C channels, NH heads, HS = C / NH head size.

export type Ptr = number;

/** The sizes of every matmul: T rows of x, n inputs per row, d outputs per row. */
export type MatmulSizes = [T: number, n: number, d: number];

/** Attention's T new tokens from position pos0, C channels in NH heads, q rows qStride apart. */
export type AttentionSizes = [T: number, pos0: number, C: number, NH: number, qStride: number];

/**
 * The dtype argument of embed (wte's dtype), matmulQuant (w's) and attention (the KV cache's), by
 * dtype name: the same codes as DTYPE_F32/Q8/Q4 in assembly/quant.ts.
 */
export const DTYPE_CODE = { f32: 0, q8: 1, q4: 2 } as const;
/** The codes of the dtypes D (all three by default). */
export type DTypeCode<D extends keyof typeof DTYPE_CODE = keyof typeof DTYPE_CODE> =
  (typeof DTYPE_CODE)[D];

export interface Kernels {
  readonly memory: WebAssembly.Memory;

  /** out[T][d] = x[T][n] · w[d][n]ᵀ (+ b[d] unless b = 0). w is [out][in] row-major. */
  matmul(out: Ptr, x: Ptr, w: Ptr, b: Ptr, ...sizes: MatmulSizes): void;

  /** out[T][C] = (x - mean) / sqrt(var + eps) * g + b, per row; biased variance. out may equal x. */
  layernorm(out: Ptr, x: Ptr, g: Ptr, b: Ptr, T: number, C: number, eps: number): void;

  /** out[i] = GPT-2's tanh GELU of x[i] for count floats. out may equal x. */
  gelu(out: Ptr, x: Ptr, count: number): void;

  /** out[i] = a[i] + b[i] for count floats (the residual add). out may equal a or b. */
  add(out: Ptr, a: Ptr, b: Ptr, count: number): void;

  /** Row-wise softmax of x[T][n] into out (max-subtracted). out may equal x. */
  softmax(out: Ptr, x: Ptr, T: number, n: number): void;

  /**
   * out[t][C] = row ids[t] of wte + wpe[pos0 + t]; ids is an i32 array of T ids. wte in dtype
   * (DTYPE_CODE): f32 [V][C] (ws ignored), or q8 / q4 in matmulQuant's layouts with scales ws,
   * a row being f32(q)·s per block (C a multiple of 32).
   */
  embed(
    out: Ptr,
    wte: Ptr,
    ws: Ptr,
    wpe: Ptr,
    ids: Ptr,
    pos0: number,
    T: number,
    C: number,
    dtype: DTypeCode,
  ): void;

  /**
   * Causal multi-head attention of T new tokens at positions pos0..pos0+T-1 against one
   * sequence's KV cache, k and v [n_ctx][C] for that layer, already holding positions
   * 0..pos0+T-1, in dtype (DTYPE_CODE):
   * - f32: q rows at q + t*qStride floats (qStride = 3C when q points into the c_attn output);
   *   qs, ks, vs unused (0).
   * - q8: the cache in int8 blocks of 32 with scales ks, vs f32 [n_ctx][C/32] per position; q
   *   quantized the same way (i8 rows at q + t·qStride bytes, scales at qs + t·(qStride/32)
   *   floats). HS must be a multiple of 32.
   * att receives the probabilities, [NH][T][pos0+T] (row t is zero past key pos0+t). out[T][C]
   * gets, per head h, Σ_j att[h][t][j] · v[j][h*HS..]. Scores are scaled by 1/sqrt(HS).
   */
  attention(
    out: Ptr,
    att: Ptr,
    q: Ptr,
    qs: Ptr,
    k: Ptr,
    ks: Ptr,
    v: Ptr,
    vs: Ptr,
    ...args: [...AttentionSizes, dtype: DTypeCode<"f32" | "q8">]
  ): void;

  // ---- the sampler's passes over one row of logits x[n] (src/sampler/logit-ops.ts) ----

  /** Index of the largest x[i], ties → the lowest i (x without NaN). */
  argmax(x: Ptr, n: number): number;

  /**
   * Σ e^((x[i] - max)·scale) in f64, in index order (the SIMD build: f32 weights, ~2e-7
   * relative, summed 4 at a time).
   */
  expSum(x: Ptr, n: number, max: number, scale: number): number;

  /**
   * The inverse-CDF draw: the first i whose running sum of expSum's weights exceeds r (added as
   * expSum adds them), or -1 when r ≥ their total, over the tokens whose t = (x[i] - max)·scale,
   * computed in f32, is above `above` (-Infinity: all; -b / HIST_PER_UNIT: expHist's buckets < b).
   */
  expFind(x: Ptr, n: number, max: number, scale: number, r: number, above: number): number;

  /**
   * expSum's weights summed by bucket into out[HIST_BUCKETS] (f64, 8-byte aligned): the bucket of
   * t = (x[i] - max)·scale (f32) is min(⌊-t · HIST_PER_UNIT⌋, HIST_BUCKETS - 1), so bucket b holds
   * -(b + 1)/32 < t ≤ -b/32 and the last everything below. Each bucket adds in index order.
   */
  expHist(x: Ptr, n: number, max: number, scale: number, out: Ptr): void;

  /**
   * The ids i in expHist's buckets from..to whose t ≥ minT (-Infinity: every one), ascending,
   * into out (i32): how many, or -1 when more than cap.
   */
  expBucket(
    x: Ptr,
    n: number,
    max: number,
    scale: number,
    from: number,
    to: number,
    minT: number,
    out: Ptr,
    cap: number,
  ): number;

  // ---- block-quantized kernels: blocks of 32 values with an f32 scale (layouts: manifest.ts) ----

  /**
   * x[T][n] f32 -> q[T][n] i8 and s[T][n/32] f32 per block of 32: s = amax/127,
   * q = round-half-even(x · 127/amax). n must be a multiple of 32.
   */
  quantize(q: Ptr, s: Ptr, x: Ptr, T: number, n: number): void;

  /**
   * out[T][d] = x·wᵀ (+ b[d] unless b = 0) with w quantized, in dtype (DTYPE_CODE):
   * - q8: w i8 [d][n]; x given quantized (xq i8 [T][n], xs f32 [T][n/32], from quantize; x
   *   unused).
   * - q4: w in groups of 4 rows, 64 bytes per block and group (manifest.ts); x f32 [T][n],
   *   quantized inside (same rule and bits as quantize) into the scratch xq (q4ScratchBytes(T, n)
   *   bytes, in a form private to the build; xs unused).
   * Scales ws f32 [ceil(d/4)][n/32][4] (rows in groups of 4, their scales side by side block
   * after block: manifest.ts). Per block an exact integer dot, then acc = acc + f32(isum)·(ws·xs)
   * in block order; out = acc + b. So a row's result is bit-identical whatever T is and wherever
   * the row sits in the batch.
   */
  matmulQuant(
    out: Ptr,
    x: Ptr,
    xq: Ptr,
    xs: Ptr,
    w: Ptr,
    ws: Ptr,
    b: Ptr,
    ...args: [...MatmulSizes, dtype: DTypeCode<"q8" | "q4">]
  ): void;
}

/**
 * Bytes before this offset belong to the WASM module (its statics: the q4 nibble masks, which its
 * data segment writes at instantiation) and above 4 KiB to the sampler (SAMPLER_IDS, SAMPLER_HIST);
 * the memory plan allocates above.
 */
export const RESERVED_BYTES = 65536;

/** expHist's buckets: HIST_PER_UNIT to a unit of log weight, down to t = -1023/32 (e^t ≈ 1e-14). */
export const HIST_BUCKETS = 1024;
export const HIST_PER_UNIT = 32;

/**
 * Where the sampler's LogitOps put expHist's buckets and expBucket's ids in a kernel memory: the
 * reserved bytes above the module's statics, which end below SAMPLER_IDS (checked by
 * test/unit/kernels-sample.test.ts): ids in [4 KiB, 56 KiB), the buckets in the last 8 KiB. The
 * sampler runs to completion between forward passes, so one place serves every sequence.
 */
export const SAMPLER_HIST = RESERVED_BYTES - HIST_BUCKETS * 8;
export const SAMPLER_IDS = 4096;
export const SAMPLER_IDS_CAP = (SAMPLER_HIST - SAMPLER_IDS) / 4;
