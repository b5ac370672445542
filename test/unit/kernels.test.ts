// The SIMD WASM kernels against their scalar TypeScript twins on the same memory, with sizes that
// run every SIMD main loop at least twice and hit every tail; plus hand-checked values for the
// twins themselves, and checks that the kernels write only their outputs and never grow memory.

import { beforeAll, describe, expect, it } from "vitest";
import { createKernels, loadKernelModule, type KernelVariant } from "../../src/kernels/node";
import { loadModel } from "../../src/model/loader";
import { modelDirStore } from "../helpers/fs-store";
import { FIXTURE_DIR } from "../setup/paths";
import { DTYPE_CODE, type Kernels } from "../../src/kernels/types";
import { expectClose as close, kernelTwins } from "./helpers/kernel-twins";
import { mulberry32 } from "./helpers/random";

const TOL = 1e-5; // max |wasm - scalar| relative to max |scalar|: f32 sums vs f64 sums
const F32 = DTYPE_CODE.f32; // embed's wte and attention's KV cache in f32 (no scale pointers: 0)

const twins = kernelTwins(1234);
const { floats: alloc, random, twin } = twins;
const expectClose = (got: Float32Array, want: Float32Array, tol = TOL) => close(got, want, tol);

// Every kernel test runs against both builds: baseline SIMD128 and relaxed SIMD (kernels.wasm,
// kernels-relaxed.wasm); the Worker uses whichever its runtime instantiates (pickKernelModule).
for (const variant of ["baseline", "relaxed"] as const) {
  describe(`${variant} kernels`, () => {
    beforeAll(() => twins.use(variant));

    describe("matmul", () => {
      // n = 35: dot's 8-float loop 4x + one 4-float step + 3-float tail; d = 15: 3 column tiles + 3.
      // T = 67 with n = 4099 rows of 16 KiB: three token blocks (512 KiB / 16 KiB = 30 tokens each).
      const cases = [
        { T: 1, n: 35, d: 15, bias: true, misalign: 0 },
        { T: 3, n: 35, d: 15, bias: false, misalign: 0 },
        { T: 8, n: 768, d: 12, bias: true, misalign: 0 },
        { T: 5, n: 13, d: 9, bias: true, misalign: 4 },
        { T: 2, n: 3, d: 6, bias: true, misalign: 8 },
        { T: 67, n: 4099, d: 9, bias: true, misalign: 0 },
        // T = 1 reads 4 quarters of w side by side (rows4): d = 23 gives quarters of 5 rows + 3
        // left over; T = 31 leaves a block of 1 token after one of 30.
        { T: 1, n: 37, d: 23, bias: false, misalign: 4 },
        { T: 31, n: 4099, d: 9, bias: true, misalign: 0 },
      ];
      for (const { T, n, d, bias, misalign } of cases) {
        it(`Should match the twin for T=${T} n=${n} d=${d}${bias ? " with bias" : ""}`, () => {
          const x = random(T * n, -1, 1, misalign);
          const w = random(d * n, -1, 1, misalign);
          const b = bias ? random(d, -1, 1, misalign).ptr : 0;
          const { got, want } = twin(
            [T * d],
            (k, [out]) => k.matmul(out, x.ptr, w.ptr, b, T, n, d),
            misalign,
          );
          expectClose(got[0], want[0]);
        });
      }
    });

    describe("matmul batch invariance", () => {
      // n = 35 and d = 15 hit every tail: the n % 4 columns and the d % 4 rows. d = 9 and 22:
      // the 3-row tiles of T >= 3 end 2 rows short of d & ~3 (redone as one 4-row tile).
      for (const [n, d] of [
        [35, 15],
        [768, 12],
        [13, 9],
        [35, 22],
      ]) {
        it(`Should give a row the same bits alone and at any place in a batch of 3 or 8 (n=${n} d=${d})`, () => {
          const T = 8;
          const x = random(T * n);
          const w = random(d * n);
          const b = random(d).ptr;
          const all = alloc(T * d);
          twins.wasm.matmul(all.ptr, x.ptr, w.ptr, b, T, n, d);
          const three = alloc(3 * d);
          twins.wasm.matmul(three.ptr, x.ptr + 4 * n * 4, w.ptr, b, 3, n, d); // rows 4, 5, 6
          for (let t = 0; t < T; t++) {
            const one = alloc(d);
            twins.wasm.matmul(one.ptr, x.ptr + t * n * 4, w.ptr, b, 1, n, d);
            expect(Array.from(all.a.subarray(t * d, (t + 1) * d))).toEqual(Array.from(one.a));
            if (t >= 4 && t < 7) {
              expect(Array.from(three.a.subarray((t - 4) * d, (t - 3) * d))).toEqual(
                Array.from(one.a),
              );
            }
          }
        });
      }
    });

    describe("attention batch invariance", () => {
      // A prefill sums V in blocks of 16 rows, a decode one row at a time: the same bits. HS = 39:
      // every channel tail; 11 keys: a partial block; 601-605 keys: 37 blocks and a partial one.
      for (const [T, pos0] of [
        [5, 6],
        [5, 600],
      ]) {
        it(`Should give a token the same bits as the last of a prefill of ${T} at ${pos0} and decoded alone`, () => {
          const NH = 3;
          const HS = 39;
          const C = NH * HS;
          const L = pos0 + T;
          const q = random(T * 3 * C, -2, 2);
          const k = random(L * C, -2, 2);
          const v = random(L * C, -2, 2);
          const all = alloc(T * C);
          const attAll = alloc(NH * T * L).ptr;
          twins.wasm.attention(
            all.ptr,
            attAll,
            q.ptr,
            0,
            k.ptr,
            0,
            v.ptr,
            0,
            T,
            pos0,
            C,
            NH,
            3 * C,
            F32,
          );
          for (let t = 0; t < T; t++) {
            const one = alloc(C);
            const att = alloc(NH * (pos0 + t + 1)).ptr;
            const qt = q.ptr + t * 3 * C * 4;
            twins.wasm.attention(
              one.ptr,
              att,
              qt,
              0,
              k.ptr,
              0,
              v.ptr,
              0,
              1,
              pos0 + t,
              C,
              NH,
              3 * C,
              F32,
            );
            expect(Array.from(all.a.subarray(t * C, (t + 1) * C))).toEqual(Array.from(one.a));
          }
        });
      }
    });

    describe("layernorm", () => {
      for (const [T, C] of [
        [1, 35],
        [3, 768],
      ]) {
        it(`Should match the twin for T=${T} C=${C}, rows offset far from 0`, () => {
          const x = random(T * C, 40, 42); // mean 41, spread 1: one-pass variance would lose digits
          const g = random(C);
          const b = random(C);
          const { got, want } = twin([T * C], (k, [out]) =>
            k.layernorm(out, x.ptr, g.ptr, b.ptr, T, C, 1e-5),
          );
          expectClose(got[0], want[0]);
        });
      }
      it("Should give the same result in place (out = x)", () => {
        const x = random(2 * 35);
        const g = random(35);
        const b = random(35);
        const { want } = twin([70], (k, [out]) =>
          k.layernorm(out, x.ptr, g.ptr, b.ptr, 2, 35, 1e-5),
        );
        twins.wasm.layernorm(x.ptr, x.ptr, g.ptr, b.ptr, 2, 35, 1e-5);
        expectClose(x.a, want[0]);
      });
    });

    describe("gelu", () => {
      it("Should match the twin over 1027 values in [-8, 8] and in place", () => {
        const x = random(1027, -8, 8);
        const { got, want } = twin([1027], (k, [out]) => k.gelu(out, x.ptr, 1027));
        expectClose(got[0], want[0]);
        twins.wasm.gelu(x.ptr, x.ptr, 1027);
        expectClose(x.a, want[0]);
      });
      // Observed max 1.2e-7·max(1, |x|), about 1 ulp. (Relative error is meaningless where gelu is
      // tiny: there f64's 1 + tanh(u) itself cancels, and the WASM form x / (1 + e^-2u) is better.)
      it("Should stay within 2e-7·max(1, |x|) of f64 gelu on [-10, 10] and be finite for huge |x|", () => {
        const grid = Array.from({ length: 20003 }, (_, i) => -10 + i * 0.001);
        const extremes = [-1e30, -1e10, -100, -20, -0, 0, 20, 100, 1e10, 1e30];
        const x = alloc(grid.length + extremes.length);
        x.a.set([...grid, ...extremes]);
        const y = alloc(x.a.length);
        twins.wasm.gelu(y.ptr, x.ptr, x.a.length);
        const f64 = (v: number) =>
          0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
        for (let i = 0; i < x.a.length; i++) {
          const err = Math.abs(y.a[i] - f64(x.a[i]));
          expect(err, `gelu(${x.a[i]}) = ${y.a[i]}`).toBeLessThanOrEqual(
            2e-7 * Math.max(1, Math.abs(x.a[i])),
          );
        }
      });
    });

    describe("add", () => {
      it("Should match the twin for 4099 floats and in place", () => {
        const a = random(4099, -1, 1, 4);
        const b = random(4099);
        const { got, want } = twin([4099], (k, [out]) => k.add(out, a.ptr, b.ptr, 4099), 12);
        expectClose(got[0], want[0], 0); // one f32 rounding on both sides: exact
        twins.wasm.add(b.ptr, a.ptr, b.ptr, 4099);
        expectClose(b.a, want[0], 0);
      });
    });

    describe("softmax", () => {
      const cases = [
        { T: 1, n: 35, spread: 5 },
        { T: 4, n: 1027, spread: 30 },
        { T: 2, n: 50257, spread: 1000 }, // a vocabulary row; e^1000 would overflow without the max
      ];
      for (const { T, n, spread } of cases) {
        it(`Should match the twin for T=${T} n=${n} with logits in ±${spread}`, () => {
          const x = random(T * n, -spread, spread);
          const { got, want } = twin([T * n], (k, [out]) => k.softmax(out, x.ptr, T, n));
          expectClose(got[0], want[0]);
          for (let t = 0; t < T; t++) {
            const sum = got[0].subarray(t * n, (t + 1) * n).reduce((s, v) => s + v, 0);
            expect(sum).toBeCloseTo(1, 5);
          }
        });
      }
      it("Should get every probability to 5e-7 relative for exponents in [-80, 0] (the vector exp)", () => {
        const n = 4099; // max 0 exactly, so x - max is exact and only exp and the sum err
        const x = alloc(n);
        x.a.set(Array.from({ length: n }, (_, i) => -80 + (80 * i) / (n - 1)));
        const y = alloc(n);
        twins.wasm.softmax(y.ptr, x.ptr, 1, n);
        const e = Array.from(x.a, Math.exp);
        const sum = e.reduce((s, v) => s + v, 0);
        e.forEach((v, i) =>
          expect(Math.abs(y.a[i] - v / sum), `x = ${x.a[i]}`).toBeLessThanOrEqual(5e-7 * (v / sum)),
        );
      });
      it("Should give the same result in place and map -Infinity to exactly 0", () => {
        const x = random(2 * 35, -3, 3);
        x.a[5] = -Infinity;
        const { want } = twin([70], (k, [out]) => k.softmax(out, x.ptr, 2, 35));
        twins.wasm.softmax(x.ptr, x.ptr, 2, 35);
        expectClose(x.a, want[0]);
        expect(x.a[5]).toBe(0);
      });
      // The relaxed build clamps exp's argument with relaxed min/max and truncates with the relaxed
      // convert (one instruction each on x86): NaN must still come out as NaN, as in the baseline.
      it("Should turn a row with a NaN into NaNs, and gelu(NaN) into NaN", () => {
        const x = random(2 * 35, -3, 3);
        x.a[40] = NaN; // row 1
        const y = alloc(70);
        twins.wasm.softmax(y.ptr, x.ptr, 2, 35);
        expect(y.a.subarray(0, 35).every(Number.isFinite)).toBe(true);
        expect(y.a.subarray(35).every(Number.isNaN)).toBe(true);
        const g = alloc(9);
        g.a.set([NaN, -1, NaN, 2, -0, NaN, 88.5, -88.5, NaN]);
        twins.wasm.gelu(g.ptr, g.ptr, 9); // 8 through the vector loop, the last through its tail
        expect([0, 2, 5, 8].map((i) => Number.isNaN(g.a[i]))).toEqual([true, true, true, true]);
        expect(Object.is(g.a[4], -0)).toBe(true);
        expect(g.a[6]).toBe(Math.fround(88.5));
      });
    });

    describe("embed", () => {
      for (const [T, C, pos0] of [
        [5, 35, 7],
        [3, 768, 0],
      ]) {
        it(`Should match the twin for T=${T} C=${C} pos0=${pos0}`, () => {
          const V = 50;
          const wte = random(V * C);
          const wpe = random((pos0 + T) * C);
          const ids = alloc(T);
          new Int32Array(twins.memory.buffer, ids.ptr, T).set(
            Array.from({ length: T }, () => (twins.rng() * V) | 0),
          );
          const { got, want } = twin([T * C], (k, [out]) =>
            k.embed(out, wte.ptr, 0, wpe.ptr, ids.ptr, pos0, T, C, F32),
          );
          expectClose(got[0], want[0], 0);
        });
      }
    });

    describe("attention", () => {
      // HS = 39 = 2 blocks of 16 + one vector of 4 + 3 scalars (every path of the value sum and of
      // the q·k dot); pos0 + t + 1 keys cover 4-key tiles and 1-3 leftover keys.
      const cases = [
        { NH: 3, HS: 39, T: 1, pos0: 0, qMul: 3 },
        { NH: 3, HS: 39, T: 1, pos0: 37, qMul: 3 },
        { NH: 3, HS: 39, T: 5, pos0: 0, qMul: 1 },
        { NH: 3, HS: 39, T: 8, pos0: 3, qMul: 3 },
        { NH: 2, HS: 39, T: 3, pos0: 20, qMul: 3 },
        { NH: 12, HS: 64, T: 4, pos0: 60, qMul: 3 }, // GPT-2 small shapes
        { NH: 3, HS: 39, T: 3, pos0: 600, qMul: 3 }, // 601-603 keys: 37 blocks of 16 and a partial
      ];
      for (const { NH, HS, T, pos0, qMul } of cases) {
        it(`Should match the twin for NH=${NH} HS=${HS} T=${T} pos0=${pos0}`, () => {
          const C = NH * HS;
          const L = pos0 + T;
          const q = random(T * qMul * C, -2, 2);
          const k = random((L + 4) * C, -2, 2); // n_ctx = L + 4; rows >= L must never be read:
          const v = random((L + 4) * C, -2, 2);
          k.a.fill(NaN, L * C);
          v.a.fill(NaN, L * C);
          const { got, want } = twin([T * C, NH * T * L], (kk, [out, att]) =>
            kk.attention(out, att, q.ptr, 0, k.ptr, 0, v.ptr, 0, T, pos0, C, NH, qMul * C, F32),
          );
          expectClose(got[0], want[0]);
          expectClose(got[1], want[1]);
          for (let row = 0; row < NH * T; row++) {
            const t = row % T;
            const probs = got[1].subarray(row * L, (row + 1) * L);
            expect(probs.slice(0, pos0 + t + 1).reduce((s, p) => s + p, 0)).toBeCloseTo(1, 5);
            expect(Array.from(probs.slice(pos0 + t + 1))).toEqual(
              new Array(L - pos0 - t - 1).fill(0),
            );
          }
        });
      }
    });
  });
}

describe("scalar twins (the oracle) against hand-computed values", () => {
  const both = () => [twins.wasm, twins.scalar];
  const put = (values: number[]) => {
    const r = alloc(values.length);
    r.a.set(values);
    return r;
  };
  it("Should compute matmul, layernorm, gelu and softmax by the book", () => {
    for (const k of both()) {
      const x = put([1, 2, 3]);
      const w = put([1, 0, 0, 0, 1, 0, 1, 1, 1, 2, 0, -1]);
      const b = put([0, 0, 0, 0.5]);
      const y = alloc(4);
      k.matmul(y.ptr, x.ptr, w.ptr, b.ptr, 1, 3, 4);
      expect(Array.from(y.a)).toEqual([1, 2, 6, -0.5]);
      const ln = put([1, 2, 3, 4]);
      const g = put([1, 1, 1, 2]);
      const zero = put([0, 0, 0, 1]);
      k.layernorm(ln.ptr, ln.ptr, g.ptr, zero.ptr, 1, 4, 0); // mean 2.5, var 1.25
      const r = 1 / Math.sqrt(1.25);
      [-1.5 * r, -0.5 * r, 0.5 * r, 3 * r + 1].forEach((e, i) => expect(ln.a[i]).toBeCloseTo(e, 6));
      const gx = put([1, -1, 3]);
      k.gelu(gx.ptr, gx.ptr, 3);
      [0.8411919906082768, -0.15880800939172324, 2.996362607918227].forEach((e, i) =>
        expect(gx.a[i]).toBeCloseTo(e, 6),
      );
      const sm = put([0, Math.log(3)]);
      k.softmax(sm.ptr, sm.ptr, 1, 2);
      expect(sm.a[0]).toBeCloseTo(0.25, 6);
      expect(sm.a[1]).toBeCloseTo(0.75, 6);
    }
  });
  it("Should attend causally: equal scores average the visible values", () => {
    for (const k of both()) {
      // NH = 1, HS = 1, two tokens from pos0 = 0, all scores 0: row 0 sees v0, row 1 averages.
      const q = put([0, 0]);
      const kc = put([0, 0]);
      const v = put([2, 4]);
      const out = alloc(2);
      const att = alloc(4);
      k.attention(out.ptr, att.ptr, q.ptr, 0, kc.ptr, 0, v.ptr, 0, 2, 0, 1, 1, 1, F32);
      expect(Array.from(att.a)).toEqual([1, 0, 0.5, 0.5]);
      expect(Array.from(out.a)).toEqual([2, 3]);
    }
  });
  it("Should embed token plus position rows", () => {
    for (const k of both()) {
      const wte = put([1, 2, 10, 20, 100, 200]);
      const wpe = put([0.5, 0.25, 3, 4]);
      const ids = alloc(2);
      new Int32Array(twins.memory.buffer, ids.ptr, 2).set([2, 0]);
      const out = alloc(4);
      k.embed(out.ptr, wte.ptr, 0, wpe.ptr, ids.ptr, 0, 2, 2, F32);
      expect(Array.from(out.a)).toEqual([100.5, 200.25, 4, 6]);
    }
  });
});

describe("relaxed and baseline builds", () => {
  it("Should agree within float tolerance on matmul and attention", () => {
    const base = createKernels(8 << 20, "baseline");
    const relaxed = createKernels(8 << 20, "relaxed");
    const [T, n, d, C, NH] = [5, 67, 13, 64, 4];
    const run = (k: Kernels, mem: WebAssembly.Memory) => {
      const f = new Float32Array(mem.buffer);
      const at = { x: 1 << 16, w: 1 << 18, b: 1 << 19, out: 1 << 20, q: 1 << 21, kv: 1 << 22 };
      const fill = (p: number, count: number, seed: number) => {
        const g = mulberry32(seed);
        for (let i = 0; i < count; i++) f[p / 4 + i] = g() * 2 - 1;
      };
      fill(at.x, T * n, 1);
      fill(at.w, d * n, 2);
      fill(at.b, d, 3);
      k.matmul(at.out, at.x, at.w, at.b, T, n, d);
      const mm = Array.from(f.subarray(at.out / 4, at.out / 4 + T * d));
      fill(at.q, T * 3 * C, 4);
      fill(at.kv, 2 * 9 * C, 5);
      const att = at.out + 4096;
      k.attention(at.out, att, at.q, 0, at.kv, 0, at.kv + 9 * C * 4, 0, T, 4, C, NH, 3 * C, F32);
      return { mm, att: Array.from(f.subarray(at.out / 4, at.out / 4 + T * C)) };
    };
    const a = run(base.kernels, base.memory);
    const b = run(relaxed.kernels, relaxed.memory);
    for (const key of ["mm", "att"] as const) {
      const scale = Math.max(...a[key].map(Math.abs));
      const worst = Math.max(...a[key].map((v, i) => Math.abs(v - b[key][i])));
      expect(worst, key).toBeLessThanOrEqual(1e-5 * scale);
    }
  });
});

describe("relaxed and baseline builds in the whole model", () => {
  const load = (variant: KernelVariant) =>
    loadModel(modelDirStore(FIXTURE_DIR, "tiny-shakespeare"), "tiny-shakespeare", {
      kernels: loadKernelModule(variant),
      budgetBytes: 112 << 20,
      slots: 3,
    });
  const ids = (n: number, seed: number) =>
    Array.from({ length: n }, (_, i) => (i * 31 + seed) % 2000);

  it("Should agree on logits within float tolerance", async () => {
    const [base, relaxed] = [await load("baseline"), await load("relaxed")];
    const prompt = ids(40, 7);
    const logits = (m: typeof base) => {
      let out = new Float32Array(0);
      m.model.forward([{ slot: 0, pos0: 0, ids: prompt, logits: "last" }], (_s, _t, l) => {
        out = l.slice();
      });
      return out;
    };
    const [a, b] = [logits(base), logits(relaxed)];
    const scale = Math.max(...a.map(Math.abs));
    expect(Math.max(...a.map((x, i) => Math.abs(x - b[i])))).toBeLessThan(1e-4 * scale);
  });

  it("Should compute a batch of sequences exactly as each alone (relaxed build)", async () => {
    const m = await load("relaxed");
    const segs = [ids(5, 1), ids(1, 2), ids(9, 3)];
    const alone = segs.map((s, slot) => {
      let out = new Float32Array(0);
      m.model.forward([{ slot, pos0: 0, ids: s, logits: "last" }], (_s, _t, l) => {
        out = l.slice();
      });
      return out;
    });
    const together: Float32Array[] = [];
    m.model.forward(
      segs.map((s, slot) => ({ slot, pos0: 0, ids: s, logits: "last" as const })),
      (seg, _t, l) => {
        together[seg] = l.slice();
      },
    );
    for (let i = 0; i < segs.length; i++)
      expect(Array.from(together[i])).toEqual(Array.from(alone[i]));
  });
});
