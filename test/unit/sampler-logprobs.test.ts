// logprobsOf (OpenAI logprobs: log-softmax of the raw logits) and topProbs (the demo's view).
import { describe, expect, it } from "vitest";
import { logprobsOf, Rng, topProbs } from "../../src/sampler/index";

function randomLogits(V: number, seed: number, scale = 3): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: V }, () => (r.nextFloat() * 2 - 1) * scale);
}

/** Straightforward float64 log-softmax (no max subtraction: fine for these modest logits). */
function refLogSoftmax(x: Float32Array): number[] {
  const lse = Math.log(Array.from(x).reduce((a, v) => a + Math.exp(v), 0));
  return Array.from(x, (v) => v - lse);
}

describe("logprobsOf", () => {
  it("Should match a float64 log-softmax and sum to 1 in probability", () => {
    const x = randomLogits(2048, 1);
    const ref = refLogSoftmax(x);
    const { logprob, top } = logprobsOf(x, 17, 2048);
    expect(logprob).toBeCloseTo(ref[17], 12);
    expect(top.length).toBe(2048);
    for (const t of top) expect(t.logprob).toBeCloseTo(ref[t.id], 12);
    expect(top.reduce((a, t) => a + Math.exp(t.logprob), 0)).toBeCloseTo(1, 12);
  });

  it("Should list the top n best first, ties to the lower id, and nothing for n = 0", () => {
    const x = new Float32Array([0, 5, 1, 5, -2, 3]);
    const { top } = logprobsOf(x, 4, 3);
    expect(top.map((t) => t.id)).toEqual([1, 3, 5]);
    expect(top[0].logprob).toBe(top[1].logprob);
    expect(logprobsOf(x, 4, 0).top).toEqual([]);
    expect(logprobsOf(x, 4, 99).top.length).toBe(6);
  });

  it("Should stay finite and exact for huge logits (max subtraction)", () => {
    const x = new Float32Array([10000, 9999, -10000, 0]);
    const { logprob, top } = logprobsOf(x, 0, 4);
    const lse = Math.log(1 + Math.exp(-1)); // the other two terms are below 1e-4000
    expect(logprob).toBeCloseTo(-lse, 14);
    expect(top[1].logprob).toBeCloseTo(-1 - lse, 14);
    expect(top.every((t) => !Number.isNaN(t.logprob))).toBe(true);
  });

  it("Should not modify the logits and should reject ids outside the vocabulary", () => {
    const x = randomLogits(100, 2);
    const copy = x.slice();
    logprobsOf(x, 3, 5);
    expect(x).toEqual(copy);
    expect(() => logprobsOf(x, 100, 1)).toThrow(RangeError);
  });
});

describe("topProbs", () => {
  it("Should equal exp(logprob) at temperature 1", () => {
    const x = randomLogits(500, 3);
    const { top } = logprobsOf(x, 0, 5);
    const probs = topProbs(x, 1, 5);
    probs.forEach((p, i) => {
      expect(p.id).toBe(top[i].id);
      expect(p.logit).toBe(x[p.id]);
      expect(p.prob).toBeCloseTo(Math.exp(top[i].logprob), 14);
    });
  });

  it("Should flatten with temperature and sum to 1 over the vocabulary", () => {
    const x = randomLogits(64, 4);
    for (const T of [0.3, 1, 2]) {
      expect(topProbs(x, T, 64).reduce((a, p) => a + p.prob, 0)).toBeCloseTo(1, 12);
    }
    expect(topProbs(x, 2, 1)[0].prob).toBeLessThan(topProbs(x, 0.5, 1)[0].prob);
  });

  it("Should put probability 1 on the argmax at temperature 0", () => {
    const x = new Float32Array([1, 4, 4, 2]);
    expect(topProbs(x, 0, 3)).toEqual([
      { id: 1, logit: 4, prob: 1 },
      { id: 2, logit: 4, prob: 0 },
      { id: 3, logit: 2, prob: 0 },
    ]);
  });
});
