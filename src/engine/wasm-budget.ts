// The WASM memory budget of the models resident in an isolate: what their engines hold, what
// loads in flight reserve from their plan until they are resident or gone, and the spare memory
// of an evicted model. The platform frees WASM memory only at GC, so a load reuses an evicted
// model's memory rather than allocating beside it; one a load cannot use is left to the GC.

import type { Engine } from "./engine.js";

/** A load's claim: bytes held for it from its plan until it is resident or gone (then 0). */
export interface Reservation {
  reserved: number;
}

const size = (m: WebAssembly.Memory) => m.buffer.byteLength;

export class WasmBudget {
  /** An evicted model's memory, or one a load gave back when it failed or stalled; counted. */
  private spare: WebAssembly.Memory | undefined;

  constructor(
    readonly bytes: number,
    /** The resident engines by model, oldest loaded first (the registry's own map). */
    private readonly engines: Map<string, Engine>,
    /** The claims of the loads in flight (an abandoned load has none). */
    private readonly claims: () => Iterable<Reservation>,
  ) {}

  /** Bytes of resident engines that match `which`. */
  resident(which: (e: Engine) => boolean = () => true): number {
    let n = 0;
    for (const e of this.engines.values()) if (which(e)) n += size(e.lm.kernels.memory);
    return n;
  }

  /** Bytes reserved by loads in flight. */
  reserved(): number {
    let n = 0;
    for (const r of this.claims()) n += r.reserved;
    return n;
  }

  get spareBytes(): number {
    return this.spare ? size(this.spare) : 0;
  }

  /** Bytes a load may plan in: all but what no eviction frees (busy engines, loads in flight). */
  free(): number {
    return this.bytes - this.resident((e) => e.load > 0) - this.reserved();
  }

  /**
   * Reserve `bytes` (at most free()) for `r`, evicting idle models oldest loaded first (`evict`
   * takes each out of service) until they fit beside everything else held. Returns the memory
   * the load is to reuse, if any: it then holds the larger of the two, and reserves that.
   */
  reserve(
    r: Reservation,
    bytes: number,
    evict: (name: string, e: Engine) => void,
  ): WebAssembly.Memory | undefined {
    const holds = () => Math.max(bytes, this.spareBytes);
    for (const [name, e] of this.engines) {
      if (this.resident() + this.reserved() + holds() <= this.bytes) break;
      if (e.load > 0) continue;
      evict(name, e);
      this.keep(e.lm.kernels.memory, bytes);
    }
    r.reserved = holds();
    const memory = this.spare;
    this.spare = undefined;
    return memory;
  }

  /** A failed or abandoned load's memory (an evicted model's, or its own), for the next load. */
  giveBack(m: WebAssembly.Memory): void {
    this.keep(m, 0);
  }

  /**
   * Keep one spare: of the spare and `m`, the one a load of `bytes` would hold least of (the
   * larger if both fit in `bytes`: less to grow). The other is dropped for the GC: a load reuses
   * one memory, and counting a second would refuse the very load the evictions made room for.
   */
  private keep(m: WebAssembly.Memory, bytes: number): void {
    const s = this.spare;
    const holds = (x: WebAssembly.Memory) => Math.max(bytes, size(x));
    if (!s || holds(m) < holds(s) || (holds(m) === holds(s) && size(m) > size(s))) this.spare = m;
  }
}
