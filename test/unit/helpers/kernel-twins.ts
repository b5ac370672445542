// The kernel tests' shared set-up: the WASM kernels and their scalar twins on one memory, an Arena
// over it reset before each test, a seeded rng reseeded before each test, `forEachBuild` to run a
// suite against both builds, and the two comparisons the tests make (bit for bit, or close).

import { beforeAll, beforeEach, describe, expect } from "vitest";
import { createKernels, type KernelVariant } from "../../../src/kernels/node";
import { scalarKernels } from "../../../src/kernels/scalar";
import type { Kernels, Ptr } from "../../../src/kernels/types";
import { Arena } from "./arena";
import { fillUniform, mulberry32, type Rng } from "./random";

export class KernelTwins {
  wasm!: Kernels;
  scalar!: Kernels;
  memory!: WebAssembly.Memory;
  arena!: Arena; // bump allocator over memory, reset before each test
  rng: Rng = mulberry32(0);

  /** Instantiates `variant` on a fresh 64 MiB memory, with the scalar twins on the same memory. */
  use(variant: KernelVariant = "baseline"): void {
    ({ kernels: this.wasm, memory: this.memory } = createKernels(64 << 20, variant));
    this.scalar = scalarKernels(this.memory);
    this.arena = new Arena(this.memory);
  }

  /** `bytes` bytes at a 16-byte boundary plus `misalign`, with guard space on both sides. */
  bytes = (bytes: number, misalign = 0): Ptr => this.arena.bytes(bytes, misalign);

  /** `floats` floats placed as bytes() places them, with a view on them. */
  floats = (floats: number, misalign = 0) => this.arena.floats(floats, misalign);

  /** `floats` uniform random floats in [lo, hi), placed as floats() places them. */
  random = (floats: number, lo = -1, hi = 1, misalign = 0) => {
    const r = this.floats(floats, misalign);
    fillUniform(r.a, this.rng, lo, hi);
    return r;
  };

  /** A (n) view of memory at byte offset ptr. */
  f32 = (ptr: Ptr, n: number) => new Float32Array(this.memory.buffer, ptr, n);

  /** The call on the twin and on WASM, checked for stray writes (see Arena.twin). */
  twin = (sizes: number[], call: (k: Kernels, outs: Ptr[]) => void, misalign = 0) =>
    this.arena.twin(this, sizes, call, misalign);
}

/** The set-up every kernel test file makes: baseline kernels, then per test a reset and a reseed. */
export function kernelTwins(seed: number): KernelTwins {
  const twins = new KernelTwins();
  beforeAll(() => twins.use());
  beforeEach(() => {
    twins.arena.reset();
    twins.rng = mulberry32(seed);
  });
  return twins;
}

/**
 * Declares the tests of `body` once per build: baseline SIMD128 and relaxed SIMD (kernels.wasm,
 * kernels-relaxed.wasm); the Worker uses whichever its runtime instantiates (pickKernelModule).
 */
export function forEachBuild(twins: KernelTwins, body: () => void): void {
  for (const variant of ["baseline", "relaxed"] as const) {
    describe(`${variant} kernels`, () => {
      beforeAll(() => twins.use(variant));
      body();
    });
  }
}

/** Bit-for-bit equality of two float arrays (so -0 != +0 and NaN is caught). */
export function expectBits(got: Float32Array, want: Float32Array): void {
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const i = g.findIndex((v, k) => v !== w[k]);
  expect(i, i < 0 ? "" : `first difference at ${i}: got ${got[i]}, want ${want[i]}`).toBe(-1);
}

/** max |got - want| ≤ tol · max |want|; a NaN in got (an unwritten sentinel) fails. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let worst = 0;
  let at = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (Number.isNaN(err) || err > worst) [worst, at] = [err, i];
    if (Number.isNaN(err)) break;
  }
  const msg = `worst at ${at}: got ${got[at]}, want ${want[at]} (max |want| ${scale})`;
  expect(worst <= tol * scale, msg).toBe(true);
}
