// Block quantization in TypeScript: the reference for the WASM `quantize` kernel (bit for bit),
// the weight quantizers the converter uses for q8 and q4, and dequantizers for tests and tools.
// Layouts (quants per row; f32 scales by groups of 4 rows) are documented in manifest.ts.

/** Values per block. Why 32: see assembly/quant.ts. */
export const QBLOCK = 32;

const f32 = Math.fround;

/** Round to nearest, ties to even: what f32x4.nearest does. */
export function rint(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d !== 0.5) return d < 0.5 ? f : f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Quantizes x[off..off+32) to int8 with one f32 scale, exactly as the WASM kernel does:
 * s = f32(amax / 127), q = rint(f32(x · f32(127 / amax))). Writes q[qOff..qOff+32); returns s.
 * |x - q·s| <= s/2 up to f32 rounding, since 127/amax and amax/127 are (nearly) reciprocal.
 */
export function quantizeBlockQ8(
  x: ArrayLike<number>,
  off: number,
  q: Int8Array,
  qOff: number,
): number {
  let amax = 0;
  for (let i = 0; i < QBLOCK; i++) amax = Math.max(amax, Math.abs(x[off + i]));
  const id = amax > 0 ? f32(127 / amax) : 0;
  for (let i = 0; i < QBLOCK; i++) q[qOff + i] = rint(f32(x[off + i] * id));
  return f32(amax / 127);
}

/**
 * Quantizes x[off..off+32) to 4 bits, ggml's q4_0 rule with an f32 scale: the value of largest
 * magnitude m maps to -8 exactly (s = m / -8, so s is negative when m is positive), all 16 levels
 * -8..7 are used, and the error is at most |s|/2, except for values near -m (x/s > 7.5), which
 * clamp to level 7 with error at most |s| = amax/8. Writes the 32 levels q + 8 (0..15) to
 * levels[lOff..lOff+32); returns s.
 */
export function quantizeBlockQ4(
  x: ArrayLike<number>,
  off: number,
  levels: Uint8Array,
  lOff: number,
): number {
  let m = 0;
  for (let i = 0; i < QBLOCK; i++) if (Math.abs(x[off + i]) > Math.abs(m)) m = x[off + i];
  const s = f32(m / -8);
  const id = s !== 0 ? 1 / s : 0;
  for (let i = 0; i < QBLOCK; i++) {
    levels[lOff + i] = Math.min(15, Math.max(0, Math.floor(x[off + i] * id + 8.5)));
  }
  return s;
}

export type QuantDType = "q8" | "q4";

/**
 * Index of the scale of block k of row j in a matrix's scale array (n/32 blocks per row): rows
 * go in groups of 4, and a group stores its 4 rows' scales side by side block after block,
 * [ceil(d/4)][n/32][4], so a kernel tile of 4 rows reads one v128 per block, sequentially.
 */
export const scaleIndex = (j: number, k: number, nb: number) => ((j >> 2) * nb + k) * 4 + (j & 3);

/** Floats in a [d][n] matrix's scale array (the last group padded to 4 rows). */
export const scaleCount = (d: number, n: number) => Math.ceil(d / 4) * 4 * (n / QBLOCK);

/** Bytes of the quants of a [d][n] matrix (q4: the last group of 4 rows padded with zeros). */
export const quantBytes = (d: number, n: number, dtype: QuantDType) =>
  dtype === "q8" ? d * n : (Math.ceil(d / 4) * 4 * n) / 2;

/**
 * Where value i of block k of row j of a q4 [d][n] matrix lives in the layout src/model/manifest.ts
 * describes: byte (group, block, chunk i / 8, row j % 4, i % 4) and nibble shift (0 low, 4 high).
 */
export function q4Index(
  j: number,
  k: number,
  i: number,
  nb: number,
): { byte: number; shift: number } {
  const c = i >> 3;
  const byte = (((j >> 2) * nb + k) * 4 + c) * 16 + (j & 3) * 4 + (i & 3);
  return { byte, shift: i & 4 };
}

/**
 * Quantizes rows [row0, row0 + rows) of a [d][n] matrix. x holds just those rows ([rows][n]);
 * quants go to the whole matrix's quant array q (quantBytes(d, n) bytes) at their place, scales
 * to its scale array s (scaleCount(d, n) floats) at scaleIndex(row, block).
 */
export function quantizeRows(
  x: Float32Array,
  rows: number,
  n: number,
  dtype: QuantDType,
  q: Uint8Array,
  s: Float32Array,
  row0: number,
): void {
  if (n % QBLOCK) throw new Error(`cannot quantize rows of ${n} values: not a multiple of 32`);
  const nb = n / QBLOCK;
  const q8 = new Int8Array(q.buffer, q.byteOffset, q.byteLength);
  const levels = new Uint8Array(QBLOCK);
  for (let r = 0; r < rows; r++) {
    const j = row0 + r;
    for (let k = 0; k < nb; k++) {
      const at = r * n + k * QBLOCK;
      if (dtype === "q8") {
        s[scaleIndex(j, k, nb)] = quantizeBlockQ8(x, at, q8, j * n + k * QBLOCK);
        continue;
      }
      s[scaleIndex(j, k, nb)] = quantizeBlockQ4(x, at, levels, 0);
      for (let i = 0; i < QBLOCK; i++) {
        const { byte, shift } = q4Index(j, k, i, nb);
        q[byte] = (q[byte] & ~(15 << shift)) | (levels[i] << shift);
      }
    }
  }
}

/**
 * The n values of row r of a quantized [d][n] matrix (q: all quants, s: its scale array), into
 * `out` when given (a caller reading row after row reuses one buffer: no garbage per row).
 */
export function dequantizeRow(
  q: Uint8Array,
  s: Float32Array,
  r: number,
  n: number,
  dtype: QuantDType,
  out = new Float32Array(n),
): Float32Array {
  for (let k = 0; k < n / QBLOCK; k++) {
    const sc = s[scaleIndex(r, k, n / QBLOCK)];
    for (let i = 0; i < QBLOCK; i++)
      out[k * QBLOCK + i] = f32(quantAt(q, 0, r, k, i, n, dtype) * sc);
  }
  return out;
}

/**
 * The integer value of element i of block k of row j of a quantized matrix of rows of n values
 * whose quants start at byte `base` of q (q8 rows: n bytes each, also the activations' layout).
 */
export function quantAt(
  q: Uint8Array,
  base: number,
  j: number,
  k: number,
  i: number,
  n: number,
  dtype: QuantDType,
): number {
  if (dtype === "q8") return (q[base + j * n + k * QBLOCK + i] << 24) >> 24;
  const { byte, shift } = q4Index(j, k, i, n / QBLOCK);
  return ((q[base + byte] >> shift) & 15) - 8;
}

/** Bytes of the scratch q4 matmulQuant quantizes T rows of n into (assembly/matmul-q4.ts). */
export const q4ScratchBytes = (T: number, n: number) => T * n * 2 + T * (n / QBLOCK) * 8;
