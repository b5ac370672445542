// The sampler's SIMD passes (assembly/sample.ts: argmax, expSum, expFind, expHist, expBucket)
// against their f64 twins on the same memory, both builds, with sizes that run the 4-float loop at
// least twice and hit every tail (n % 4 = 1, 2, 3), at unaligned addresses; and the Sampler on
// top of them (kernelLogitOps) against the plain f64 Sampler: the same greedy ids, draws that fit
// the documented distribution, and top_p / min_p keeping what a full sort keeps.

import { describe, expect, it } from "vitest";
import { forEachBuild, kernelTwins } from "./helpers/kernel-twins";
import { ranked } from "./helpers/logits";
import { loadKernelModule } from "../../src/kernels/node";
import { bucketOf, t32 } from "../../src/kernels/scalar-sample";
import { HIST_BUCKETS, HIST_PER_UNIT, RESERVED_BYTES, SAMPLER_IDS } from "../../src/kernels/types";
import { instantiateKernels } from "../../src/kernels/wasm";
import { nucleusOfLogits, topIdsOf } from "../../src/sampler/select";
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

/** N draws of `fast` (counted by id) beside N of `plain`: the counts, and how many differ. */
function drawBoth(fast: Sampler, plain: Sampler, x: Float32Array, N: number) {
  const counts = new Array(x.length).fill(0);
  let differ = 0;
  for (let i = 0; i < N; i++) {
    const id = fast.sample(x);
    counts[id]++;
    if (id !== plain.sample(x)) differ++;
  }
  return { counts, differ };
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
      expect(wasm.expFind(x.ptr, 9, 0, 1, 0.999, -Infinity)).toBe(0);
      expect(wasm.expFind(x.ptr, 9, 0, 1, 1, -Infinity)).toBe(-1);
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
          expect(scalar.expFind(x.ptr, n, max, scale, r, -Infinity), `r in token ${j}`).toBe(j);
          expect(wasm.expFind(x.ptr, n, max, scale, r, -Infinity), `r in token ${j}`).toBe(j);
        }
        expect(wasm.expFind(x.ptr, n, max, scale, 0, -Infinity)).toBe(0); // every weight is > 0 here
        expect(wasm.expFind(x.ptr, n, max, scale, total * (1 + 1e-6), -Infinity)).toBe(-1);
        expect(scalar.expFind(x.ptr, n, max, scale, total * (1 + 1e-6), -Infinity)).toBe(-1);
      });
    }
  });

  describe("expFind above a bound", () => {
    for (const n of SIZES) {
      it(`Should draw the twin's index among the tokens with t above the bound, n=${n}`, () => {
        const { wasm, scalar } = twins;
        const x = logits(n, 6, 4);
        const max = x.a[scalar.argmax(x.ptr, n)];
        const scale = 1 / 1.3;
        const above = -80 / HIST_PER_UNIT; // expHist's buckets 0..79
        const t = Array.from(x.a, (v) => t32(v, max, scale));
        const w = Array.from(x.a, (v, i) => (t[i] > above ? Math.exp((v - max) * scale) : 0));
        const cum: number[] = [];
        w.reduce((acc, v, i) => (cum[i] = acc + v), 0);
        const total = cum[n - 1];
        const wide = w.flatMap((v, i) => (v > 1e-4 * total ? [i] : []));
        for (const j of [wide[0], wide.at(-1)!, ...wide.filter((_, k) => k % 7 === 3)]) {
          const r = cum[j] - w[j] / 2;
          expect(scalar.expFind(x.ptr, n, max, scale, r, above), `r in token ${j}`).toBe(j);
          expect(wasm.expFind(x.ptr, n, max, scale, r, above), `r in token ${j}`).toBe(j);
        }
        // Past the kept tokens' total there is nothing, though the tokens below hold more.
        expect(wasm.expFind(x.ptr, n, max, scale, total * (1 + 1e-6), above)).toBe(-1);
        expect(wasm.expFind(x.ptr, n, max, scale, total * (1 + 1e-6), -Infinity)).not.toBe(-1);
        // t ≤ -0: no token is above it.
        expect(wasm.expFind(x.ptr, n, max, scale, 0, -0)).toBe(-1);
      });
    }
  });

  describe("expHist", () => {
    for (const n of SIZES) {
      it(`Should sum the twin's weights into the same buckets, n=${n}, T = 0.3, 1 and 4`, () => {
        const { wasm, scalar } = twins;
        const x = logits(n, 12, 4 * (n % 3)); // T = 0.3 takes tokens far past the last bucket
        const max = x.a[scalar.argmax(x.ptr, n)];
        const [got, want] = [twins.bytes(8 * HIST_BUCKETS), twins.bytes(8 * HIST_BUCKETS)];
        const view = (p: number) => new Float64Array(twins.memory.buffer, p, HIST_BUCKETS);
        for (const T of [0.3, 1, 4]) {
          wasm.expHist(x.ptr, n, max, 1 / T, got);
          scalar.expHist(x.ptr, n, max, 1 / T, want);
          const [g, w] = [view(got), view(want)];
          for (let b = 0; b < HIST_BUCKETS; b++) {
            // within the f32 weights' error (t rounded to f32 moves e^t by |t|·6e-8: 2e-6 at the last
            // bucket's top), or both 0 (no token)
            const err = Math.abs(g[b] - w[b]);
            expect(err, `T=${T} bucket ${b}: ${g[b]} vs ${w[b]}`).toBeLessThanOrEqual(4e-6 * w[b]);
          }
          const sum = g.reduce((a, v) => a + v, 0);
          expect(Math.abs(sum - wasm.expSum(x.ptr, n, max, 1 / T)) / sum).toBeLessThan(1e-12);
          // Every token counted once, in its bucket by the kernels' own t.
          const count = new Array(HIST_BUCKETS).fill(0);
          for (const v of x.a) count[bucketOf(t32(v, max, 1 / T))]++;
          count.forEach((c, b) => expect(c > 0, `T=${T} bucket ${b}`).toBe(w[b] > 0));
        }
      });
    }
    it("Should put the top in bucket 0 and -Infinity and far-below tokens in the last", () => {
      const { wasm } = twins;
      const x = twins.floats(9, 4);
      x.a.set([0, -Infinity, -200, -Infinity, -95, -1 / 64, -1 / 32, -Infinity, -31.99]);
      const out = twins.bytes(8 * HIST_BUCKETS);
      wasm.expHist(x.ptr, 9, 0, 1, out);
      const h = new Float64Array(twins.memory.buffer, out, HIST_BUCKETS);
      expect(h[0]).toBeCloseTo(1 + Math.exp(-1 / 64), 6); // t = 0 and -1/64: bucket 0
      expect(h[1]).toBeCloseTo(Math.exp(-1 / 32), 6); // t = -1/32 is bucket 1's top
      expect(h[HIST_BUCKETS - 1]).toBeCloseTo(Math.exp(-31.99), 18); // and -95, -200, -∞: 0
      expect(h.filter((v) => v > 0).length).toBe(3);
    });
  });

  describe("expBucket", () => {
    for (const n of SIZES) {
      it(`Should find the twin's ids of a run of buckets, above min_p's floor, n=${n}`, () => {
        const { wasm, scalar } = twins;
        const x = logits(n, 3, 4 * ((n + 1) % 4));
        const max = x.a[scalar.argmax(x.ptr, n)];
        const [got, want] = [twins.bytes(4 * n), twins.bytes(4 * n)];
        const ids = (p: number, k: number) => Array.from(new Int32Array(twins.memory.buffer, p, k));
        const t = (i: number) => t32(x.a[i], max, 1 / 0.7);
        const byT = Array.from(x.a, (_, i) => bucketOf(t(i)));
        const last = HIST_BUCKETS - 1;
        for (const [from, to, minT] of [
          [0, 0, -Infinity],
          [40, 40, -Infinity],
          [40, 40, Math.fround(-40.5 / HIST_PER_UNIT)], // half of the bucket
          [last, last, -Infinity],
          [200, 200, -Infinity], // beyond every token here: none
          [0, 63, -Infinity], // t > -2
          [17, 90, -Infinity],
          [0, last, Math.fround(-1)], // every bucket, t ≥ -1
        ]) {
          const what = `buckets ${from}..${to}, t ≥ ${minT}`;
          const k = wasm.expBucket(x.ptr, n, max, 1 / 0.7, from, to, minT, got, n);
          expect(scalar.expBucket(x.ptr, n, max, 1 / 0.7, from, to, minT, want, n), what).toBe(k);
          expect(ids(got, k), what).toEqual(ids(want, k));
          const all = byT.flatMap((b, i) => (b >= from && b <= to && t(i) >= minT ? [i] : []));
          expect(ids(got, k), what).toEqual(all);
          if (k > 1) {
            expect(wasm.expBucket(x.ptr, n, max, 1 / 0.7, from, to, minT, got, k - 1)).toBe(-1);
          }
        }
      });
    }
  });

  it("Should keep its statics below the sampler's reserved bytes (SAMPLER_IDS)", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
    const u8 = new Uint8Array(memory.buffer);
    u8.fill(0xa5, SAMPLER_IDS, RESERVED_BYTES);
    instantiateKernels(loadKernelModule(), memory); // writes the data segments
    expect(u8.subarray(SAMPLER_IDS, RESERVED_BYTES).every((b) => b === 0xa5)).toBe(true);
    expect(u8.subarray(0, SAMPLER_IDS).some((b) => b !== 0)).toBe(true); // the masks are there
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
        const { counts, differ } = drawBoth(fast, plain, x.a, N);
        // f32 weights move a token's boundary by ~1e-7 of the total: a draw that lands in that
        // sliver is the only way the two can differ.
        expect(differ, `T=${T}`).toBeLessThanOrEqual(2);
        const z = Array.from(x.a, (v) => v / T);
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp(v - m));
        const sum = e.reduce((a, v) => a + v, 0);
        let chi2 = 0;
        e.forEach((v, i) => (chi2 += (counts[i] - (N * v) / sum) ** 2 / ((N * v) / sum)));
        expect(chi2, `chi-square, ${V - 1} degrees of freedom`).toBeLessThan(72); // p ≈ 0.001
      }
    });

    it("Should draw top_p, min_p and top_k on the kernels as the plain Sampler does", () => {
      const V = 203; // 50 blocks and a tail of 3; logits in ±3 span ~190 buckets at T = 1
      const x = logits(V, 3, 4);
      const ops = kernelLogitOps(twins.wasm);
      const cases: { temperature: number; top_p?: number; min_p?: number; top_k?: number }[] = [
        { temperature: 1, top_p: 0.8 },
        { temperature: 0.7, top_p: 0.3 },
        { temperature: 1.3, min_p: 0.1 },
        { temperature: 1, top_p: 0.9, min_p: 0.05 },
        { temperature: 0.9, top_k: 20, top_p: 0.9 },
      ];
      for (const p of cases) {
        const fast = new Sampler(params(p), new Rng(78), V, ops);
        const plain = new Sampler(params(p), new Rng(78), V);
        const N = 10000;
        const { counts, differ } = drawBoth(fast, plain, x.a, N);
        // Both take the same tokens (the buckets are the kernels' in both) in the same order;
        // only a draw within ~1e-7 of a boundary can part them.
        expect(differ, JSON.stringify(p)).toBeLessThanOrEqual(2);
        // And what they draw fits the documented pipeline, done by a full sort.
        const T = p.temperature;
        const byRank = ranked(x.a);
        const top = byRank.slice(0, p.top_k ?? V);
        const w = top.map((i) => Math.exp((x.a[i] - x.a[byRank[0]]) / T));
        const sum = w.reduce((a, v) => a + v, 0);
        let keep = 0;
        for (let cum = 0; keep < top.length && (keep === 0 || cum < (p.top_p ?? 1) * sum); keep++)
          cum += w[keep];
        if (p.top_p === undefined) keep = top.length;
        while (keep > 1 && w[keep - 1] < (p.min_p ?? 0)) keep--;
        const kept = w.slice(0, keep).reduce((a, v) => a + v, 0);
        let chi2 = 0;
        let df = -1;
        top.slice(0, keep).forEach((id, j) => {
          const e = (N * w[j]) / kept;
          chi2 += (counts[id] - e) ** 2 / e;
          df++;
        });
        const outside = counts.reduce((a, c, i) => a + (top.slice(0, keep).includes(i) ? 0 : c), 0);
        expect(outside, `${JSON.stringify(p)}: draws outside the kept tokens`).toBe(0);
        // p = 0.001 critical value (Wilson–Hilferty)
        const crit = df * (1 - 2 / (9 * df) + 3.09 * Math.sqrt(2 / (9 * df))) ** 3;
        expect(chi2, `${JSON.stringify(p)}: chi-square, ${df} degrees of freedom`).toBeLessThan(
          crit,
        );
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

    it("Should rank the same top k as a full sort, from the tokens near the max", () => {
      const V = 50257;
      const ops = kernelLogitOps(twins.wasm);
      // uniform in ±8; uniform in ±0.3 (the first margins hold thousands); 40 tokens far above the
      // rest (the first margin holds the 40); ties at the top
      const rows = [logits(V, 8, 4), logits(V, 0.3, 8), logits(V, 6, 0), logits(V, 6, 12)];
      for (let i = 0; i < V; i += 1257) rows[2].a[i] = 20 + (i % 7);
      rows[3].a.fill(7, 100, 160);
      for (const [r, x] of rows.entries()) {
        const byRank = ranked(x.a);
        for (const k of [1, 5, 40, 50, 1000, 20000]) {
          const want = byRank.slice(0, k);
          expect(topIdsOf(ops, x.a, k), `row ${r}, k=${k}`).toEqual(want);
          expect(topIdsOf(plainLogitOps, x.a, k), `row ${r}, k=${k}, f64`).toEqual(want);
          const set = Array.from(topIdsOf(ops, x.a, k, undefined, false)).sort((a, b) => a - b);
          expect(set, `row ${r}, k=${k}, unranked`).toEqual([...want].sort((a, b) => a - b));
        }
      }
    });

    it("Should keep with top_p and min_p exactly what a full sort keeps, 50,257 logits", () => {
      const V = 50257;
      const x = logits(V, 8, 8);
      const ops = kernelLogitOps(twins.wasm);
      const cand = new Int32Array(V);
      const w = new Float64Array(V);
      const max = x.a[ops.argmax(x.a)];
      const byRank = ranked(x.a); // the same order at every temperature
      for (const T of [0.5, 1, 3]) {
        const p = byRank.map((i) => Math.exp((x.a[i] - max) / T));
        const sum = p.reduce((a, v) => a + v, 0);
        for (const [top_p, min_p] of [
          [0.9, 0],
          [0.5, 0],
          [0.999, 0],
          [1e-9, 0], // the top alone
          [1, 0.05],
          [1, 0.3],
          [0.95, 0.01],
          [0.6, 0.2],
        ]) {
          // The slow, obvious way: the prefix that reaches top_p · sum, then weight ≥ min_p.
          let m = 0;
          for (let cum = 0; m < V && (m === 0 || cum < top_p * sum); m++) cum += p[m];
          if (top_p >= 1) m = V;
          while (m > 1 && p[m - 1] < min_p) m--;
          const want = byRank.slice(0, m).sort((a, b) => a - b);
          for (const [name, o] of [
            ["kernels", ops],
            ["f64 loops", plainLogitOps],
          ] as const) {
            const nu = nucleusOfLogits(o, x.a, max, 1 / T, top_p, min_p, cand, w);
            const got = [
              ...Array.from(x.a.keys()).filter((i) => t32(x.a[i], max, 1 / T) > nu.bound),
              ...cand.subarray(nu.lo, nu.n),
            ].sort((a, b) => a - b);
            const what = `${name}: T=${T} top_p=${top_p} min_p=${min_p}`;
            expect(got.length, what).toBe(want.length);
            expect(got, what).toEqual(want);
            const total = want.reduce((a, i) => a + Math.exp((x.a[i] - max) / T), 0);
            expect(Math.abs(nu.total - total) / total, what).toBeLessThan(1e-6);
          }
        }
      }
    });
  });
});
