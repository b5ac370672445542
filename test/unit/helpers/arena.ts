// The kernel tests' memory harness: a bump allocator over one WebAssembly.Memory (reset before
// each test, guard bytes around every buffer) and `twin`, which runs a call on the scalar twins
// and on WASM and proves WASM wrote only its outputs and never grew memory.

import { expect } from "vitest";
import { RESERVED_BYTES, type Kernels, type Ptr } from "../../../src/kernels/types";

const GUARD_BYTES = 64; // sentinel bytes before and after every WASM output
const SENTINEL = 0x7fa5a5a5; // a NaN bit pattern: an output element left unwritten compares as NaN

export class Arena {
  private top = RESERVED_BYTES;

  constructor(readonly memory: WebAssembly.Memory) {}

  reset(): void {
    this.top = RESERVED_BYTES;
  }

  /** `bytes` bytes at a 16-byte boundary plus `misalign` (4, 8, 12 test unaligned v128). */
  bytes(bytes: number, misalign = 0): Ptr {
    const ptr = Math.ceil((this.top + GUARD_BYTES) / 16) * 16 + misalign;
    this.top = ptr + bytes + GUARD_BYTES;
    return ptr;
  }

  /** `floats` floats, placed as bytes() places them, with a view on them. */
  floats(floats: number, misalign = 0): { ptr: Ptr; a: Float32Array } {
    const ptr = this.bytes(floats * 4, misalign);
    return { ptr, a: new Float32Array(this.memory.buffer, ptr, floats) };
  }

  /**
   * Runs `call` with the scalar twin into fresh buffers, then with WASM into sentinel-filled
   * ones (placed with `misalign`); checks that WASM left every other byte (up to 256 KiB past
   * the arena) and the memory size alone; returns both outputs.
   */
  twin(
    k: { wasm: Kernels; scalar: Kernels },
    sizes: number[],
    call: (k: Kernels, outs: Ptr[]) => void,
    misalign = 0,
  ): { got: Float32Array[]; want: Float32Array[] } {
    const memory = this.memory;
    const want = sizes.map((n) => this.floats(n));
    const got = sizes.map((n) => this.floats(n, misalign));
    for (const { ptr, a } of got) {
      const guarded = a.length + (2 * GUARD_BYTES) / 4;
      new Uint32Array(memory.buffer, ptr - GUARD_BYTES, guarded).fill(SENTINEL);
    }
    call(
      k.scalar,
      want.map((w) => w.ptr),
    );
    const before = new Uint8Array(memory.buffer).slice(0, this.top + (256 << 10));
    const length = memory.buffer.byteLength;
    call(
      k.wasm,
      got.map((g) => g.ptr),
    );
    expect(memory.buffer.byteLength).toBe(length);
    const after = new Uint8Array(memory.buffer, 0, before.length);
    const isOut = (i: number) => got.some(({ ptr, a }) => i >= ptr && i < ptr + a.length * 4);
    let stray = -1;
    for (let i = 0; i < before.length && stray < 0; i++) {
      if (after[i] !== before[i] && !isOut(i)) stray = i;
    }
    expect(stray, "WASM wrote outside its output").toBe(-1);
    return { got: got.map((g) => g.a), want: want.map((w) => w.a) };
  }
}
