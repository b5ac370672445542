// Seeded random numbers for sampling: xoshiro256** (Blackman & Vigna 2018) seeded through
// splitmix64, both in BigInt, so one seed gives the same stream on every platform and engine.
// One draw per sampled token, so BigInt's cost (~1 µs) is irrelevant next to a forward pass.

const MASK = (1n << 64n) - 1n; // keep every BigInt result in u64

function rotl(x: bigint, k: bigint): bigint {
  return ((x << k) | (x >> (64n - k))) & MASK;
}

/** splitmix64 (Steele, Lea & Flood 2014): the seeder the xoshiro authors recommend. */
function splitmix64(state: { x: bigint }): bigint {
  state.x = (state.x + 0x9e3779b97f4a7c15n) & MASK; // 2^64 / golden ratio: a Weyl sequence
  let z = state.x;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

/**
 * xoshiro256**: 256 bits of state, period 2^256 - 1, passes BigCrush; small, fast and fully
 * specified by integer arithmetic (no floating point until nextFloat), hence reproducible.
 * Seeds (bigint or a safe integer; negatives wrap to u64 like a C int64 cast) are expanded by
 * four splitmix64 outputs, so nearby seeds (0, 1, 2...) give unrelated streams and the state is
 * never all-zero (splitmix64's output is a bijection of its counter, so at most one of four
 * consecutive outputs is 0).
 */
export class Rng {
  private s = new BigUint64Array(4);

  constructor(seed: bigint | number) {
    if (typeof seed === "number" && !Number.isSafeInteger(seed)) {
      throw new RangeError(`seed ${seed} must be an integer below 2^53 (pass a bigint for more)`);
    }
    const state = { x: BigInt.asUintN(64, BigInt(seed)) };
    for (let i = 0; i < 4; i++) this.s[i] = splitmix64(state);
  }

  /** An Rng with its raw xoshiro state (for the authors' test vectors). */
  static fromState(s: readonly [bigint, bigint, bigint, bigint]): Rng {
    if (s.every((v) => BigInt.asUintN(64, v) === 0n)) {
      throw new RangeError("the all-zero state is xoshiro's one fixed point");
    }
    const rng = new Rng(0);
    s.forEach((v, i) => (rng.s[i] = BigInt.asUintN(64, v)));
    return rng;
  }

  /** The next 64 random bits. */
  nextU64(): bigint {
    const s = this.s;
    const result = (rotl((s[1] * 5n) & MASK, 7n) * 9n) & MASK;
    const t = (s[1] << 17n) & MASK;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45n);
    return result;
  }

  /** Uniform in [0, 1): the top 53 bits (a double's mantissa) times 2^-53, so every value is exact. */
  nextFloat(): number {
    return Number(this.nextU64() >> 11n) * 2 ** -53;
  }
}

/** A fresh 64-bit seed from the platform CSPRNG (crypto.getRandomValues: Workers and Node 20). */
export function randomSeed(): bigint {
  return crypto.getRandomValues(new BigUint64Array(1))[0];
}
