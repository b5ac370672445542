// The Sampler: greedy, seeding, the distribution it draws from (chi-square against a brute-force
// model of the documented order of operations), every cut-off, the penalties and logit_bias.
import { describe, expect, it } from "vitest";
import {
  defaultSamplingParams,
  Rng,
  Sampler,
  SamplingParamError,
  type SamplingParams,
} from "../../src/sampler/index";
import { applyPenalties, TokenHistory } from "../../src/sampler/penalties";
import { nucleus, nucleusOf, selectTopK } from "../../src/sampler/select";
import { ranked } from "./helpers/logits";

const params = (p: Partial<SamplingParams>): SamplingParams => ({
  ...defaultSamplingParams(),
  ...p,
});
const logitsOf = (probs: number[]) => Float32Array.from(probs, Math.log);

function randomLogits(V: number, seed: number, scale = 2): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: V }, () => (r.nextFloat() * 2 - 1) * scale);
}

/** The documented pipeline done the slow, obvious way (full sort), as a distribution over ids. */
function expectedDistribution(
  logits: Float32Array,
  p: SamplingParams,
  prompt: number[] = [],
  gen: number[] = [],
): number[] {
  const x = Array.from(logits, Number);
  for (const [id, b] of p.logit_bias ?? []) x[id] += b;
  for (const id of new Set([...prompt, ...gen])) {
    x[id] = x[id] > 0 ? x[id] / p.repetition_penalty : x[id] * p.repetition_penalty;
  }
  for (const id of new Set(gen)) {
    const count = gen.filter((g) => g === id).length;
    x[id] -= p.frequency_penalty * count + p.presence_penalty;
  }
  const z = x.map((v) => v / p.temperature);
  let order = z.map((_, i) => i).sort((a, b) => z[b] - z[a] || a - b);
  if (p.top_k > 0) order = order.slice(0, p.top_k);
  const w = order.map((i) => Math.exp(z[i] - z[order[0]]));
  const sum = w.reduce((a, v) => a + v, 0);
  let keep = order.length;
  if (p.top_p < 1) {
    let cum = 0;
    for (keep = 0; keep < order.length;) if ((cum += w[keep++] / sum) >= p.top_p) break;
  }
  const kept = order
    .map((id, j) => (j < keep && w[j] >= p.min_p ? id : -1))
    .filter((id) => id >= 0);
  const total = kept.reduce((a, id) => a + w[order.indexOf(id)], 0);
  const dist = new Array(logits.length).fill(0);
  for (const id of kept) dist[id] = w[order.indexOf(id)] / total;
  return dist;
}

function draw(s: Sampler, logits: Float32Array, N: number): number[] {
  const counts = new Array(logits.length).fill(0);
  for (let i = 0; i < N; i++) counts[s.sample(logits)]++;
  return counts;
}

/**
 * Pearson's chi-square of counts against probs, bins with expected count < 5 pooled (the usual
 * validity rule), against the p = 0.001 critical value (Wilson–Hilferty: k(1 - 2/9k + z√(2/9k))³,
 * z = 3.09). Also: a token with probability 0 must never be drawn.
 */
function expectFits(counts: number[], probs: number[]): void {
  const N = counts.reduce((a, c) => a + c, 0);
  let chi2 = 0;
  let bins = 0;
  let pooledO = 0;
  let pooledE = 0;
  counts.forEach((o, i) => {
    const e = N * probs[i];
    if (probs[i] === 0) expect(o, `token ${i} has probability 0`).toBe(0);
    else if (e < 5) ((pooledO += o), (pooledE += e));
    else ((chi2 += (o - e) ** 2 / e), bins++);
  });
  if (pooledE > 0) ((chi2 += (pooledO - pooledE) ** 2 / pooledE), bins++);
  const k = Math.max(1, bins - 1);
  const critical = k * (1 - 2 / (9 * k) + 3.09 * Math.sqrt(2 / (9 * k))) ** 3;
  expect(chi2, `chi-square ${chi2.toFixed(1)} with ${k} degrees of freedom`).toBeLessThan(critical);
}

const supportOf = (counts: number[]) => counts.flatMap((c, i) => (c > 0 ? [i] : []));

describe("Sampler", () => {
  it("Should pick the argmax at temperature 0, ties to the lowest id, consuming no randomness", () => {
    const rng = new Rng(5);
    const s = new Sampler(params({ temperature: 0 }), rng, 6);
    expect(s.sample(new Float32Array([0, 3, 1, -1, 2, 0]))).toBe(1);
    expect(s.sample(new Float32Array([0, 3, 1, 3, 2, 3]))).toBe(1);
    expect(rng.nextFloat()).toBe(new Rng(5).nextFloat());
  });

  it("Should sample as greedy at a temperature whose inverse overflows (5e-324)", () => {
    // 1 / 5e-324 is Infinity: the top logit scaled by it is Infinity, and Infinity - Infinity
    // made every weight NaN (the draw fell through to token 0 or the first candidate).
    const paths = [
      {},
      { top_k: 5 },
      { top_p: 0.9 },
      { presence_penalty: 0.5 },
      { logit_bias: new Map([[3, 1]]) },
    ];
    for (let seed = 0; seed < 20; seed++) {
      const x = randomLogits(300, seed);
      const greedy = new Sampler(params({ temperature: 0 }), new Rng(seed), 300).sample(x);
      for (const extra of paths) {
        const rng = new Rng(seed);
        const s = new Sampler(params({ ...extra, temperature: 5e-324 }), rng, 300);
        const want =
          "logit_bias" in extra || "presence_penalty" in extra
            ? new Sampler(params({ ...extra, temperature: 0 }), new Rng(seed), 300).sample(x)
            : greedy;
        expect(s.sample(x), JSON.stringify({ seed, extra })).toBe(want);
        expect(rng.nextFloat()).toBe(new Rng(seed).nextFloat()); // no randomness consumed
      }
    }
  });

  it("Should repeat its sequence for the same seed and differ for another", () => {
    const x = randomLogits(50, 1);
    const run = (seed: bigint) => {
      const s = new Sampler(params({ top_p: 0.9 }), new Rng(seed), 50);
      return Array.from({ length: 64 }, () => s.sample(x));
    };
    expect(run(123n)).toEqual(run(123n));
    expect(run(123n)).not.toEqual(run(124n));
  });

  it("Should draw from softmax(logits / T) with no cut-offs (20k draws, chi-square)", () => {
    const x = randomLogits(10, 2);
    for (const T of [1, 0.7]) {
      const p = params({ temperature: T });
      expectFits(draw(new Sampler(p, new Rng(10), 10), x, 20000), expectedDistribution(x, p));
    }
  });

  it("Should fail that chi-square check for the wrong temperature (the check has power)", () => {
    const x = randomLogits(10, 2);
    const counts = draw(new Sampler(params({ temperature: 1 }), new Rng(10), 10), x, 20000);
    expect(() =>
      expectFits(counts, expectedDistribution(x, params({ temperature: 0.85 }))),
    ).toThrow();
  });

  it("Should equal greedy with top_k = 1", () => {
    for (let seed = 0; seed < 50; seed++) {
      const x = randomLogits(300, seed).map((v) => Math.round(v * 4) / 4); // with ties
      const greedy = new Sampler(params({ temperature: 0 }), new Rng(seed), 300).sample(x);
      expect(
        new Sampler(params({ top_k: 1, temperature: 1.3 }), new Rng(seed), 300).sample(x),
      ).toBe(greedy);
    }
  });

  it("Should keep the k most probable tokens with top_k and renormalise", () => {
    const x = randomLogits(20, 3);
    const p = params({ top_k: 3 });
    const counts = draw(new Sampler(p, new Rng(11), 20), x, 20000);
    const dist = expectedDistribution(x, p);
    expect(supportOf(counts)).toEqual(supportOf(dist));
    expect(supportOf(dist).length).toBe(3);
    expectFits(counts, dist);
  });

  it("Should cut top_p at the smallest set with cumulative probability ≥ top_p", () => {
    // probabilities by id: 0.05, 0.5, 0.15, 0.3 → by rank 1, 3, 2, 0 with cumulative .5 .8 .95 1
    const x = logitsOf([0.05, 0.5, 0.15, 0.3]);
    const cases: [number, number[]][] = [
      [0, [1]],
      [0.49, [1]],
      [0.51, [1, 3]],
      [0.79, [1, 3]],
      [0.81, [1, 2, 3]],
      [0.94, [1, 2, 3]],
      [0.96, [0, 1, 2, 3]],
    ];
    for (const [top_p, support] of cases) {
      const p = params({ top_p });
      const counts = draw(new Sampler(p, new Rng(12), 4), x, 4000);
      expect(supportOf(counts), `top_p ${top_p}`).toEqual(support);
      expectFits(counts, expectedDistribution(x, p));
    }
  });

  it("Should cut top_p exactly when the nucleus reaches into tokens far below the top", () => {
    // One token of weight 1 and 2,999 of weight w: the nucleus takes some of the tail tokens
    // (ties by id), which all sit in one bucket of expHist far below the top's, where the cut
    // falls.
    for (const [w, top_p] of [
      [2e-4, 0.9], // tail mass 0.6
      [1e-7, 0.99999], // tail mass 3e-4
    ]) {
      const x = new Float32Array(3000).fill(Math.log(w));
      x[0] = 0;
      const p = params({ top_p });
      const counts = draw(new Sampler(p, new Rng(16), 3000), x, 4000);
      const dist = expectedDistribution(x, p);
      const last = dist.reduce((at, v, i) => (v > 0 ? i : at), -1);
      expect(last, `w ${w}: the nucleus holds tail tokens`).toBeGreaterThan(100);
      expect(last, `w ${w}: but not all`).toBeLessThan(2999);
      expectFits(counts, dist);
    }
  });

  it("Should include the token that reaches top_p exactly (≥, not >)", () => {
    // Equal logits give weights of exactly 1 and sum 4, so the boundary is exact: ties rank by id.
    const x = new Float32Array(4);
    for (const [top_p, support] of [
      [0.25, [0]],
      [0.5, [0, 1]],
      [0.5000001, [0, 1, 2]],
      [0.75, [0, 1, 2]],
    ] as [number, number[]][]) {
      expect(supportOf(draw(new Sampler(params({ top_p }), new Rng(13), 4), x, 2000))).toEqual(
        support,
      );
    }
  });

  it("Should drop tokens with p < min_p · p_max", () => {
    const x = logitsOf([0.5, 0.3, 0.15, 0.05]);
    for (const [min_p, support] of [
      [0.09, [0, 1, 2, 3]],
      [0.25, [0, 1, 2]], // floor 0.125
      [0.35, [0, 1]], // floor 0.175
      [1, [0]],
    ] as [number, number[]][]) {
      const p = params({ min_p });
      const counts = draw(new Sampler(p, new Rng(14), 4), x, 4000);
      expect(supportOf(counts), `min_p ${min_p}`).toEqual(support);
      expectFits(counts, expectedDistribution(x, p));
    }
  });

  it("Should combine temperature, top_k, top_p and min_p in the documented order", () => {
    const x = randomLogits(200, 4, 4);
    const p = params({ temperature: 0.8, top_k: 30, top_p: 0.7, min_p: 0.05 });
    const counts = draw(new Sampler(p, new Rng(15), 200), x, 20000);
    const dist = expectedDistribution(x, p);
    expect(supportOf(counts)).toEqual(supportOf(dist));
    expectFits(counts, dist);
  });

  it("Should apply the repetition, presence and frequency penalty formulas", () => {
    const h = new TokenHistory();
    [1, 2].forEach((id) => h.addPrompt(id));
    [2, 3, 3, 4].forEach((id) => h.addGenerated(id));
    const x = new Float64Array([1, 2, -2, 4, -1, 5]);
    applyPenalties(x, h, { repetition_penalty: 2, presence_penalty: 0.5, frequency_penalty: 0.25 });
    // id 1: prompt only → 2 / 2; id 2: prompt + once → -2 · 2 - 0.5 - 0.25;
    // id 3: twice → 4 / 2 - 0.5 - 0.5; id 4: once → -1 · 2 - 0.75; ids 0 and 5 untouched.
    expect(Array.from(x)).toEqual([1, 1, -4.75, 1, -2.75, 5]);
  });

  it("Should penalise through observe() but not count the prompt for presence/frequency", () => {
    const x = new Float32Array([2, 1.8, 0]);
    const s = new Sampler(params({ temperature: 0, presence_penalty: 0.5 }), new Rng(0), 3);
    s.observePrompt([0, 0]);
    expect(s.sample(x)).toBe(0);
    s.observe(0);
    expect(s.sample(x)).toBe(1);

    const withRep = new Sampler(params({ temperature: 0, repetition_penalty: 1.3 }), new Rng(0), 3);
    withRep.observePrompt([0]);
    expect(withRep.sample(x)).toBe(1); // 2 / 1.3 < 1.8

    const p = params({ frequency_penalty: 0.7, presence_penalty: 0.2, repetition_penalty: 1.2 });
    const y = randomLogits(8, 5);
    const t = new Sampler(p, new Rng(16), 8);
    t.observePrompt([1, 6]);
    [2, 2, 6, 3].forEach((id) => t.observe(id));
    expectFits(draw(t, y, 20000), expectedDistribution(y, p, [1, 6], [2, 2, 6, 3]));
  });

  it("Should never pick a token with logit_bias -100, and nearly always one with +100", () => {
    const x = randomLogits(30, 6);
    const best = x.indexOf(Math.max(...x));
    const ban = new Sampler(params({ logit_bias: new Map([[best, -100]]) }), new Rng(17), 30);
    expect(draw(ban, x, 5000)[best]).toBe(0);
    const greedyBan = new Sampler(
      params({ temperature: 0, logit_bias: new Map([[best, -100]]) }),
      new Rng(0),
      30,
    );
    expect(greedyBan.sample(x)).not.toBe(best);
    const force = new Sampler(params({ logit_bias: new Map([[7, 100]]) }), new Rng(18), 30);
    expect(draw(force, x, 1000)[7]).toBe(1000);
  });

  it("Should not modify the logits", () => {
    const x = randomLogits(1000, 7);
    const copy = x.slice();
    const p = params({
      temperature: 0.9,
      top_k: 50,
      top_p: 0.8,
      min_p: 0.01,
      presence_penalty: 1,
      frequency_penalty: 1,
      repetition_penalty: 1.5,
      logit_bias: new Map([[3, 5]]),
    });
    const s = new Sampler(p, new Rng(19), 1000);
    s.observePrompt([1, 2, 3]);
    for (let i = 0; i < 20; i++) s.observe(s.sample(x));
    expect(x).toEqual(copy);
  });

  it("Should reject bad parameters with the field's name, and logits of the wrong size", () => {
    const bad = (p: Partial<SamplingParams>) => () => new Sampler(params(p), new Rng(0), 10);
    expect(bad({ temperature: -1 })).toThrow(SamplingParamError);
    expect(bad({ top_p: 1.5 })).toThrow(/'top_p'/);
    expect(bad({ top_k: 2.5 })).toThrow(/'top_k'/);
    expect(bad({ repetition_penalty: 0 })).toThrow(/'repetition_penalty'/);
    expect(bad({ logit_bias: new Map([[10, 1]]) })).toThrow(/'logit_bias'.*\[0, 10\)/);
    try {
      bad({ min_p: NaN })();
    } catch (e) {
      expect((e as SamplingParamError).param).toBe("min_p");
    }
    const s = new Sampler(params({}), new Rng(0), 10);
    expect(() => s.sample(new Float32Array(11))).toThrow(/vocabulary is 10/);
    expect(() => s.observe(10)).toThrow(RangeError);
  });
});

describe("Sampler at GPT-2's vocabulary size (V = 50257)", () => {
  const V = 50257;
  const x = randomLogits(V, 8, 6);
  const sorted = ranked(x);

  it("Should select the same top k and nucleus as a full sort", () => {
    const out = new Int32Array(100);
    selectTopK(x, V, 100, out);
    expect(Array.from(out).sort((a, b) => a - b)).toEqual(
      sorted.slice(0, 100).sort((a, b) => a - b),
    );

    const w = Float64Array.from(x, (v) => Math.exp(v - x[sorted[0]]));
    const sum = w.reduce((a, v) => a + v, 0);
    let m = 0;
    for (let cum = 0; cum < 0.5 * sum;) cum += w[sorted[m++]];
    const cand = Int32Array.from({ length: V }, (_, i) => i);
    const lo = nucleus(w, cand, V, 0.5 * sum);
    expect(Array.from(cand.subarray(lo)).reverse()).toEqual(sorted.slice(0, m)); // best last
  });

  it("Should partition to the same nucleus as a full sort, for any target, ties by id", () => {
    const w = Float64Array.from(x, (v) => Math.exp(v - x[sorted[0]]));
    const sum = w.reduce((a, v) => a + v, 0);
    const byRank = (ids: Iterable<number>) => Array.from(ids).sort((a, b) => a - b);
    // 0: one token; 1e-4 · sum: a few, under the partition's floor; then thousands; 2 · sum:
    // never reached, so every candidate
    for (const f of [0, 1e-4, 0.3, 0.9, 0.999, 2]) {
      let m = 0;
      for (let cum = 0; m < V && (m === 0 || cum < f * sum);) cum += w[sorted[m++]];
      const cand = Int32Array.from({ length: V }, (_, i) => i);
      const lo = nucleusOf(w, cand, V, f * sum);
      expect(byRank(cand.subarray(lo)), `target ${f} · sum`).toEqual(byRank(sorted.slice(0, m)));
    }
    // Equal weights rank by id: the nucleus is a prefix of the ids.
    const flat = new Float64Array(5000).fill(1);
    const ids = Int32Array.from({ length: 5000 }, (_, i) => 4999 - i);
    const lo = nucleusOf(flat, ids, 5000, 1234.5);
    expect(byRank(ids.subarray(lo))).toEqual(Array.from({ length: 1235 }, (_, i) => i));
  });
});
