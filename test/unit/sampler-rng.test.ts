// The sampler's RNG: xoshiro256** and splitmix64 against their published reference outputs.
import { describe, expect, it } from "vitest";
import { Rng, randomSeed } from "../../src/sampler/index";

const u64s = (r: Rng, n: number) => Array.from({ length: n }, () => r.nextU64());

describe("Rng (xoshiro256** seeded by splitmix64)", () => {
  it("Should reproduce xoshiro256**'s reference outputs from the state [1, 2, 3, 4]", () => {
    // The test vector of the Rust rand_xoshiro crate (from the authors' C reference).
    expect(u64s(Rng.fromState([1n, 2n, 3n, 4n]), 10)).toEqual([
      11520n,
      0n,
      1509978240n,
      1215971899390074240n,
      1216172134540287360n,
      607988272756665600n,
      16172922978634559625n,
      8476171486693032832n,
      10595114339597558777n,
      2904607092377533576n,
    ]);
  });

  it("Should seed the state with splitmix64's first four outputs for the seed", () => {
    // splitmix64 from 0: e220a8397b1dcdaf 6e789e6aa1b965f4 06c45d188009454f f88bb8a8724c81ec.
    const state = [
      0xe220a8397b1dcdafn,
      0x6e789e6aa1b965f4n,
      0x06c45d188009454fn,
      0xf88bb8a8724c81ecn,
    ];
    expect(u64s(new Rng(0), 8)).toEqual(
      u64s(Rng.fromState(state as [bigint, bigint, bigint, bigint]), 8),
    );
  });

  it("Should treat number and bigint seeds alike, negative seeds as two's complement", () => {
    expect(u64s(new Rng(42), 4)).toEqual(u64s(new Rng(42n), 4));
    expect(u64s(new Rng(-1), 4)).toEqual(u64s(new Rng((1n << 64n) - 1n), 4));
    expect(u64s(new Rng(1), 4)).not.toEqual(u64s(new Rng(2), 4));
  });

  it("Should reject seeds that are not exact integers", () => {
    expect(() => new Rng(1.5)).toThrow(RangeError);
    expect(() => new Rng(2 ** 60)).toThrow(/bigint/);
    expect(() => Rng.fromState([0n, 0n, 0n, 0n])).toThrow(/fixed point/);
  });

  it("Should give floats in [0, 1) on a 2^-53 grid with mean 1/2 and variance 1/12", () => {
    const r = new Rng(7);
    const N = 20000;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < N; i++) {
      const u = r.nextFloat();
      expect(u >= 0 && u < 1).toBe(true);
      expect(Number.isInteger(u * 2 ** 53)).toBe(true);
      sum += u;
      sq += u * u;
    }
    const mean = sum / N;
    // σ(mean) = sqrt(1/12 / N) ≈ 0.002; 5σ bounds.
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.0102);
    expect(Math.abs(sq / N - mean * mean - 1 / 12)).toBeLessThan(0.005);
  });

  it("Should draw random 64-bit seeds from crypto.getRandomValues", () => {
    const a = randomSeed();
    const b = randomSeed();
    expect(typeof a).toBe("bigint");
    expect(a >= 0n && a < 1n << 64n).toBe(true);
    expect(a).not.toBe(b); // equal with probability 2^-64
  });
});
