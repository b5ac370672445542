// The sampler's SIMD passes (assembly/sample.ts: argmax, expSum, expFind) against their f64
// twins on the same memory, both builds, with sizes that run the 4-float loop at least twice and
// hit every tail (n % 4 = 1, 2, 3), at unaligned addresses; and the Sampler on top of them
// (kernelLogitOps) against the plain f64 Sampler: the same greedy ids, and draws that fit the
// documented distribution.

import { describe, expect, it } from "vitest";
import { forEachBuild, kernelTwins } from "./helpers/kernel-twins";
import {
  defaultSamplingParams,
  kernelLogitOps,
  logprobsOf,
  plainLogitOps,
  Rng,
  Sampler,
} from "../../src/sampler/index";

const twins = kernelTwins(4242);
const SIZES = [11, 1026, 2051, 50257]; // loops 2, 256, 512, 12564 times; tails 3, 2, 3, 1

/** n logits uniform in ±spread at misalign, one of them lifted to spread + 1 (a clear top). */
function logits(n: number, spread: number, misalign = 0) {
  const x = twins.random(n, -spread, spread, misalign);
  x.a[Math.floor(twins.rng() * n)] = spread + 1;
  return x;
}

forEachBuild(twins, () => {
  describe("argmax", () => {
    for (const n of [1, 2, 3, ...SIZES]) {
      it(`Should find the twin's index for n=${n}, with ties to the lowest index`, () => {
        const { wasm, scalar } = twins;
        const x = twins.random(n, -5, 5, 4 * (n % 4));
        expect(wasm.argmax(x.ptr, n)).toBe(scalar.argmax(x.ptr, n));
        // The same top value at spots in other lanes, another block and the tail: the lowest wins.
        const spots = [n - 1, Math.floor(n / 2) + 1, Math.floor(n / 3), 5].filter((i) => i < n);
        spots.forEach((i) => (x.a[i] = 9));
        expect(wasm.argmax(x.ptr, n)).toBe(Math.min(...spots));
        expect(scalar.argmax(x.ptr, n)).toBe(Math.min(...spots));
        x.a.fill(-Infinity);
        expect(wasm.argmax(x.ptr, n)).toBe(0);
        x.a.fill(3);
        expect(wasm.argmax(x.ptr, n)).toBe(0);
      });
    }
  });

  describe("expSum", () => {
    for (const n of SIZES) {
      it(`Should match the twin to 1e-6 relative for n=${n} at temperatures 0.5, 1 and 1.7`, () => {
        const { wasm, scalar } = twins;
        const x = logits(n, 12, 8);
        const max = x.a[scalar.argmax(x.ptr, n)];
        for (const T of [0.5, 1, 1.7]) {
          const got = wasm.expSum(x.ptr, n, max, 1 / T);
          const want = scalar.expSum(x.ptr, n, max, 1 / T);
          expect(Math.abs(got - want) / want, `T=${T}`).toBeLessThan(1e-6);
          expect(want).toBeGreaterThanOrEqual(1); // the top token's weight is e^0 = 1
        }
      });
    }
    it("Should give -Infinity logits and far-below ones weight 0, and one token all of it", () => {
      const { wasm } = twins;
      const x = twins.floats(9);
      x.a.set([0, -Infinity, -200, -Infinity, -95, -Infinity, -Infinity, -Infinity, -Infinity]);
      expect(wasm.expSum(x.ptr, 9, 0, 1)).toBe(1);
      expect(wasm.expFind(x.ptr, 9, 0, 1, 0.999)).toBe(0);
      expect(wasm.expFind(x.ptr, 9, 0, 1, 1)).toBe(-1);
    });
  });

  describe("expFind", () => {
    for (const n of SIZES) {
      it(`Should draw the twin's index for r inside each token's share, n=${n}`, () => {
        const { wasm, scalar } = twins;
        const x = logits(n, 6, 12);
        const max = x.a[scalar.argmax(x.ptr, n)];
        const scale = 1 / 0.8;
        const w = Array.from(x.a, (v) => Math.exp((v - max) * scale));
        const total = scalar.expSum(x.ptr, n, max, scale);
        const cum: number[] = [];
        w.reduce((s, v, i) => (cum[i] = s + v), 0);
        // Tokens whose share is wide against the f32 weights' error, first and last among them.
        const wide = w.flatMap((v, i) => (v > 1e-4 * total ? [i] : []));
        const picks = [
          wide[0],
          wide.at(-1)!,
          ...Array.from({ length: 40 }, () => wide[Math.floor(twins.rng() * wide.length)]),
        ];
        for (const j of picks) {
          const r = cum[j] - w[j] / 2;
          expect(scalar.expFind(x.ptr, n, max, scale, r), `r in token ${j}`).toBe(j);
          expect(wasm.expFind(x.ptr, n, max, scale, r), `r in token ${j}`).toBe(j);
        }
        expect(wasm.expFind(x.ptr, n, max, scale, 0)).toBe(0); // every weight is > 0 here
        expect(wasm.expFind(x.ptr, n, max, scale, total * (1 + 1e-6))).toBe(-1);
        expect(scalar.expFind(x.ptr, n, max, scale, total * (1 + 1e-6))).toBe(-1);
      });
    }
  });

  describe("the Sampler on the kernels", () => {
    const params = (p: object) => ({ ...defaultSamplingParams(), ...p });

    it("Should pick the plain Sampler's greedy ids over 50,257 logits", () => {
      const ops = kernelLogitOps(twins.wasm);
      for (let k = 0; k < 8; k++) {
        const x = logits(50257, 10, 4 * (k % 4));
        const fast = new Sampler(params({ temperature: 0 }), new Rng(1), 50257, ops);
        const plain = new Sampler(params({ temperature: 0 }), new Rng(1), 50257);
        expect(fast.sample(x.a)).toBe(plain.sample(x.a));
      }
    });

    it("Should draw what the plain Sampler draws for the same seed, and fit softmax(x / T)", () => {
      const V = 37; // 9 blocks and a tail of 1
      const x = logits(V, 2);
      const ops = kernelLogitOps(twins.wasm);
      for (const T of [1, 0.6]) {
        const fast = new Sampler(params({ temperature: T }), new Rng(77), V, ops);
        const plain = new Sampler(params({ temperature: T }), new Rng(77), V);
        const N = 20000;
        const counts = new Array(V).fill(0);
        let same = 0;
        for (let i = 0; i < N; i++) {
          const id = fast.sample(x.a);
          counts[id]++;
          if (id === plain.sample(x.a)) same++;
        }
        // f32 weights move a token's boundary by ~1e-7 of the total: a draw that lands in that
        // sliver is the only way the two can differ.
        expect(N - same, `T=${T}`).toBeLessThanOrEqual(2);
        const z = Array.from(x.a, (v) => v / T);
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp(v - m));
        const sum = e.reduce((a, v) => a + v, 0);
        let chi2 = 0;
        e.forEach((v, i) => (chi2 += (counts[i] - (N * v) / sum) ** 2 / ((N * v) / sum)));
        expect(chi2, `chi-square, ${V - 1} degrees of freedom`).toBeLessThan(72); // p ≈ 0.001
      }
    });

    it("Should give logprobs within 1e-6 of the f64 ones for logits in the kernels' memory", () => {
      const x = logits(50257, 15);
      const ops = kernelLogitOps(twins.wasm);
      const fast = logprobsOf(x.a, 123, 5, ops);
      const plain = logprobsOf(x.a, 123, 5, plainLogitOps);
      expect(Math.abs(fast.logprob - plain.logprob)).toBeLessThan(1e-6);
      expect(fast.top.map((t) => t.id)).toEqual(plain.top.map((t) => t.id));
      // Logits anywhere else (a copy) take the f64 loops: the same numbers exactly.
      expect(logprobsOf(x.a.slice(), 123, 5, ops)).toEqual(plain);
    });
  });
});
