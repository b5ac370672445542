// The block-quantized SIMD kernels (quantize, matmulQuant for q8/q4, embed of q8/q4, attention
// over an int8 KV cache) against their scalar twins: bit for bit where the twin replays the kernel's f32 arithmetic, within
// tolerance for attention; sizes run every block loop at least twice and hit the 4-row and
// odd-token tails; guard bytes around outputs, memory never grows; a row's result never depends on
// its batch.

import { beforeAll, describe, expect, it } from "vitest";
import {
  dequantizeRow,
  q4ScratchBytes,
  quantBytes,
  quantizeRows,
  scaleCount,
  type QuantDType,
} from "../../src/kernels/quant";
import { DTYPE_CODE, type Ptr } from "../../src/kernels/types";
import { expectBits, expectClose, kernelTwins } from "./helpers/kernel-twins";
import { fillUniform } from "./helpers/random";

const twins = kernelTwins(4321);
const Q8 = DTYPE_CODE.q8; // attention's int8 KV cache
const { bytes: allocBytes, f32: f32At, random: randomF32, twin } = twins;

/** A random [d][n] matrix quantized into memory: quants at q, scales (manifest.ts layout) at s. */
function quantMatrix(d: number, n: number, dt: QuantDType, scale = 0.05) {
  const x = fillUniform(new Float32Array(d * n), twins.rng, -scale, scale);
  const qb = new Uint8Array(quantBytes(d, n, dt));
  const sc = new Float32Array(scaleCount(d, n));
  quantizeRows(x, d, n, dt, qb, sc, 0);
  const q = allocBytes(qb.length);
  new Uint8Array(twins.memory.buffer, q, qb.length).set(qb);
  const s = allocBytes(sc.length * 4, 4); // scales need only 4-byte alignment
  f32At(s, sc.length).set(sc);
  return { q, s, qb, sc };
}

/** Activations x[T][n] quantized by the WASM kernel (checked against the twin separately). */
function quantActs(T: number, n: number) {
  const x = randomF32(T * n, -3, 3);
  const q = allocBytes(T * n);
  const s = allocBytes((T * n) / 8);
  twins.wasm.quantize(q, s, x.ptr, T, n);
  return { x, q, s };
}

// Every kernel test runs against both builds: baseline SIMD128 and relaxed SIMD (kernels.wasm,
// kernels-relaxed.wasm); the Worker uses whichever its runtime instantiates (pickKernelModule).
for (const variant of ["baseline", "relaxed"] as const) {
  describe(`${variant} kernels`, () => {
    beforeAll(() => twins.use(variant));

    describe("quantize", () => {
      for (const [T, n] of [
        [1, 64],
        [3, 96],
        [8, 768],
      ]) {
        it(`Should match the TS reference bit for bit for T=${T} n=${n}, within s/2 of x`, () => {
          const x = randomF32(T * n, -3, 3);
          x.a.fill(0, 0, 32); // an all-zero block: scale 0, quants 0
          x.a[40] = 100; // an outlier coarsens only its own block
          const bytes = T * n + (T * n) / 8;
          const { got, want } = twin([bytes / 4], (k, [o]) =>
            k.quantize(o, o + T * n, x.ptr, T, n),
          );
          expectBits(got[0], want[0]);
          const q = new Int8Array(twins.memory.buffer, got[0].byteOffset, T * n);
          const s = f32At(got[0].byteOffset + T * n, (T * n) / 32);
          expect(s[0]).toBe(0);
          expect(s[1]).toBeCloseTo(100 / 127, 6);
          for (let i = 0; i < T * n; i++) {
            const b = s[i >> 5];
            expect(Math.abs(q[i])).toBeLessThanOrEqual(127);
            expect(Math.abs(x.a[i] - q[i] * b)).toBeLessThanOrEqual(b * 0.5 * (1 + 1e-6));
          }
        });
      }
      // The block maximum is taken on |x|'s bits as integers (one instruction a vector): NaN must
      // still win, and -0 must count as 0.
      it("Should give a block with a NaN a NaN scale, and a block of ±0 scale 0 and quants 0", () => {
        const x = randomF32(96, -3, 3);
        x.a[37] = NaN; // block 1
        x.a.fill(-0, 64, 96); // block 2
        x.a[70] = 0;
        const out = allocBytes(96 + 3 * 4); // 96 quants, then 3 scales
        twins.wasm.quantize(out, out + 96, x.ptr, 1, 96);
        const s = f32At(out + 96, 3);
        expect(Number.isFinite(s[0]) && s[0] > 0).toBe(true);
        expect(Number.isNaN(s[1])).toBe(true);
        expect(s[2]).toBe(0);
        expect(Array.from(new Int8Array(twins.memory.buffer, out + 64, 32))).toEqual(
          new Array(32).fill(0),
        );
      });
    });

    describe("matmulQuant (q8, q4)", () => {
      // n = 96: 3 blocks (the block loop runs 3x); d = 15: three 4-row tiles + 3 tail rows;
      // T = 1, 3, 8: single token, a pair + the odd token, four pairs. d = 9: q4's odd group
      // count (3: two through its two-group tile, the last, 1 row, alone). T = 130 with n = 4096
      // (4 KiB int8 rows) crosses the 512 KiB token blocks (128 tokens each).
      const cases = [
        { T: 1, n: 96, d: 15, bias: true },
        { T: 3, n: 96, d: 15, bias: false },
        { T: 5, n: 96, d: 9, bias: true },
        { T: 8, n: 768, d: 13, bias: true },
        { T: 130, n: 4096, d: 6, bias: true },
        // q8's odd token: rows r, r + q, r + 2q, r + 3q side by side (q = 8 and 16), then the
        // groups left over (2 and 1) and the tail rows
        { T: 1, n: 96, d: 43, bias: true },
        { T: 3, n: 64, d: 70, bias: false },
      ];
      for (const dt of ["q8", "q4"] as const) {
        for (const { T, n, d, bias } of cases) {
          it(`Should match the ${dt} twin bit for bit for T=${T} n=${n} d=${d}`, () => {
            const w = quantMatrix(d, n, dt);
            const x = quantActs(T, n);
            const b = bias ? randomF32(d).ptr : 0;
            // q4 quantizes x itself, into its scratch (an output the twin leaves alone)
            const sizes = dt === "q8" ? [T * d] : [T * d, q4ScratchBytes(T, n) / 4];
            const code = DTYPE_CODE[dt];
            const { got, want } = twin(sizes, (k, [out, xq]) =>
              dt === "q8"
                ? k.matmulQuant(out, 0, x.q, x.s, w.q, w.s, b, T, n, d, code)
                : k.matmulQuant(out, x.x.ptr, xq, 0, w.q, w.s, b, T, n, d, code),
            );
            expectBits(got[0], want[0]);
            // and close to the f64 product of the dequantized weights with the f32 activations
            const ref = new Float64Array(T * d);
            for (let j = 0; j < d; j++) {
              const wr = dequantizeRow(w.qb, w.sc, j, n, dt);
              for (let t = 0; t < T; t++) {
                let s = b ? f32At(b, d)[j] : 0;
                for (let i = 0; i < n; i++) s += wr[i] * x.x.a[t * n + i];
                ref[t * d + j] = s;
              }
            }
            expectClose(got[0], ref, 0.02); // int8 activations: ~0.4% per element, averaging out
          });
        }
      }

      for (const dt of ["q8", "q4"] as const) {
        it(`Should give a row the same bits in any batch, at any position (${dt})`, () => {
          const n = 128;
          const d = 43; // tiles, q8's quarters of the odd token, groups left over and tail rows
          const w = quantMatrix(d, n, dt);
          const pool = quantActs(8, n); // 8 candidate rows
          const run = (rows: number[]) => {
            const T = rows.length;
            const xq = allocBytes(Math.max(T * n, q4ScratchBytes(T, n)));
            const xs = allocBytes((T * n) / 8);
            const x = allocBytes(T * n * 4);
            const u8 = new Uint8Array(twins.memory.buffer);
            rows.forEach((r, t) => {
              u8.copyWithin(xq + t * n, pool.q + r * n, pool.q + (r + 1) * n);
              u8.copyWithin(xs + (t * n) / 8, pool.s + (r * n) / 8, pool.s + ((r + 1) * n) / 8);
              u8.copyWithin(x + t * n * 4, pool.x.ptr + r * n * 4, pool.x.ptr + (r + 1) * n * 4);
            });
            const out = allocBytes(T * d * 4);
            // q8 reads xq/xs, q4 quantizes x into xq (its scratch) and leaves xs alone
            twins.wasm.matmulQuant(out, x, xq, xs, w.q, w.s, 0, T, n, d, DTYPE_CODE[dt]);
            return rows.map((_, t) =>
              Array.from(new Uint32Array(twins.memory.buffer, out + t * d * 4, d)),
            );
          };
          const alone = run([5])[0];
          for (const rows of [
            [5, 1],
            [1, 5],
            [2, 5, 3],
            [0, 1, 2, 3, 4, 5, 6, 7],
            [7, 6, 5],
          ]) {
            expect(run(rows)[rows.indexOf(5)]).toEqual(alone);
          }
        });
      }
    });

    describe("embed (q8, q4)", () => {
      for (const dt of ["q8", "q4"] as const) {
        for (const [T, C, pos0] of [
          [5, 64, 7],
          [3, 768, 0],
        ]) {
          it(`Should match the ${dt} twin bit for bit for T=${T} C=${C} pos0=${pos0}`, () => {
            const V = 37;
            const wte = quantMatrix(V, C, dt);
            const wpe = randomF32((pos0 + T) * C);
            const ids = allocBytes(T * 4);
            const tok = Array.from({ length: T }, () => Math.floor(twins.rng() * V));
            new Int32Array(twins.memory.buffer, ids, T).set(tok);
            const { got, want } = twin([T * C], (k, [out]) =>
              k.embed(out, wte.q, wte.s, wpe.ptr, ids, pos0, T, C, DTYPE_CODE[dt]),
            );
            expectBits(got[0], want[0]);
            const row = dequantizeRow(wte.qb, wte.sc, tok[T - 1], C, dt);
            const last = got[0].subarray((T - 1) * C);
            row.forEach((v, i) =>
              expect(last[i]).toBe(Math.fround(v + wpe.a[(pos0 + T - 1) * C + i])),
            );
          });
        }
      }
    });

    describe("attention over an int8 KV cache", () => {
      // HS = 64 or 32 (1-2 blocks per head); keys pos0 + t + 1 cover 4-key tiles and 1-3 leftovers.
      const cases = [
        { NH: 2, HS: 32, T: 1, pos0: 0 },
        { NH: 2, HS: 64, T: 1, pos0: 38 },
        { NH: 3, HS: 32, T: 5, pos0: 0 },
        { NH: 2, HS: 64, T: 8, pos0: 3 },
        { NH: 12, HS: 64, T: 3, pos0: 61 }, // GPT-2 small shapes
      ];
      for (const { NH, HS, T, pos0 } of cases) {
        it(`Should match the twin for NH=${NH} HS=${HS} T=${T} pos0=${pos0}`, () => {
          const C = NH * HS;
          const L = pos0 + T;
          const ctx = L + 4; // rows >= L must never be read: their scales are NaN
          const qkv = quantActs(T, 3 * C); // q | k | v rows, as the model quantizes c_attn's output
          const kv = quantActs(ctx, C);
          const vv = quantActs(ctx, C);
          f32At(kv.s + L * (C / 8), 4 * (C / 32)).fill(NaN);
          f32At(vv.s + L * (C / 8), 4 * (C / 32)).fill(NaN);
          const { got, want } = twin([T * C, NH * T * L], (k, [out, att]) =>
            k.attention(out, att, qkv.q, qkv.s, kv.q, kv.s, vv.q, vv.s, T, pos0, C, NH, 3 * C, Q8),
          );
          expectClose(got[0], want[0], 1e-5);
          expectClose(got[1], want[1], 1e-5);
          for (let row = 0; row < NH * T; row++) {
            const t = row % T;
            const p = got[1].subarray(row * L, (row + 1) * L);
            expect(p.slice(0, pos0 + t + 1).reduce((s, x) => s + x, 0)).toBeCloseTo(1, 5);
            expect(Array.from(p.slice(pos0 + t + 1))).toEqual(new Array(L - pos0 - t - 1).fill(0));
          }
        });
      }

      it("Should stay close to f32 attention over the dequantized cache", () => {
        const [NH, HS, T, pos0] = [4, 64, 2, 40];
        const C = NH * HS;
        const L = pos0 + T;
        const qkv = quantActs(T, 3 * C);
        const kv = quantActs(L, C);
        const vv = quantActs(L, C);
        const deq = (a: { q: Ptr; s: Ptr }, rows: number, stride: number, off: number) => {
          const r = randomF32(rows * C);
          const q = new Int8Array(twins.memory.buffer);
          const s = f32At(a.s, (rows * stride) / 32);
          for (let t = 0; t < rows; t++)
            for (let c = 0; c < C; c++)
              r.a[t * C + c] = q[a.q + t * stride + off + c] * s[(t * stride + off + c) >> 5];
          return r.ptr;
        };
        const [q, k, v] = [deq(qkv, T, 3 * C, 0), deq(kv, L, C, 0), deq(vv, L, C, 0)];
        const out8 = randomF32(T * C).ptr;
        const out32 = randomF32(T * C).ptr;
        const att = randomF32(NH * T * L).ptr;
        const { wasm } = twins;
        wasm.attention(out8, att, qkv.q, qkv.s, kv.q, kv.s, vv.q, vv.s, T, pos0, C, NH, 3 * C, Q8);
        wasm.attention(out32, att, q, 0, k, 0, v, 0, T, pos0, C, NH, C, DTYPE_CODE.f32);
        expectClose(f32At(out8, T * C), f32At(out32, T * C), 1e-5);
      });

      it("Should give the last token the same bits in a prefill of 5 and as a 1-token decode", () => {
        const [NH, HS] = [2, 64];
        const C = NH * HS;
        const qkv = quantActs(5, 3 * C);
        const kv = quantActs(8, C);
        const vv = quantActs(8, C);
        const att = randomF32(NH * 5 * 5).ptr;
        const all = allocBytes(5 * C * 4);
        twins.wasm.attention(
          all,
          att,
          qkv.q,
          qkv.s,
          kv.q,
          kv.s,
          vv.q,
          vv.s,
          5,
          0,
          C,
          NH,
          3 * C,
          Q8,
        );
        const one = allocBytes(C * 4);
        const q4 = qkv.q + 4 * 3 * C;
        const s4 = qkv.s + (4 * 3 * C) / 8;
        twins.wasm.attention(one, att, q4, s4, kv.q, kv.s, vv.q, vv.s, 1, 4, C, NH, 3 * C, Q8);
        expectBits(f32At(one, C), f32At(all + 4 * C * 4, C));
      });
    });
  });
}

describe("quantized twins against hand-computed values", () => {
  it("Should compute q8 and q4 matmuls and embeddings by the book", () => {
    for (const k of [twins.wasm, twins.scalar]) {
      const xq = allocBytes(32);
      new Int8Array(twins.memory.buffer, xq, 32).fill(1);
      const xs = allocBytes(4);
      f32At(xs, 1)[0] = 0.5;
      const w8 = allocBytes(32);
      new Int8Array(twins.memory.buffer, w8, 32).set(Array.from({ length: 32 }, (_, i) => i - 16));
      const ws = allocBytes(4);
      f32At(ws, 1)[0] = 2;
      const out = allocBytes(4);
      k.matmulQuant(out, 0, xq, xs, w8, ws, 0, 1, 32, 1, DTYPE_CODE.q8);
      expect(f32At(out, 1)[0]).toBe(-16); // Σ(i - 16) = -16, times 0.5 · 2
      // q4, one row of 32 in a group of 4: the row's 4 bytes of each 16-byte chunk are 0x9f, so
      // values 8c..8c+3 are 15 - 8 = 7 (low nibbles) and 8c+4..8c+7 are 9 - 8 = 1 (high nibbles)
      const w4 = allocBytes(64);
      for (let c = 0; c < 4; c++) new Uint8Array(twins.memory.buffer, w4 + 16 * c, 4).fill(0x9f);
      const x = allocBytes(128);
      f32At(x, 32).fill(127); // quantizes to q = 127 with scale 1, exactly
      const scratch = allocBytes(q4ScratchBytes(1, 32));
      k.matmulQuant(out, x, scratch, 0, w4, ws, 0, 1, 32, 1, DTYPE_CODE.q4);
      expect(f32At(out, 1)[0]).toBe(32512); // 127 · (16·7 + 16·1) · 1 · 2
      const ids = allocBytes(4);
      new Int32Array(twins.memory.buffer, ids, 1)[0] = 0;
      const wpe = allocBytes(128);
      f32At(wpe, 32).fill(0.25);
      const e = allocBytes(128);
      k.embed(e, w4, ws, wpe, ids, 0, 1, 32, DTYPE_CODE.q4);
      expect(Array.from(f32At(e, 8))).toEqual([14.25, 14.25, 14.25, 14.25, 2.25, 2.25, 2.25, 2.25]);
      expect(f32At(e, 32)[16]).toBe(14.25); // 7 · 2 + 0.25
      expect(f32At(e, 32)[31]).toBe(2.25); // 1 · 2 + 0.25
    }
  });
});
