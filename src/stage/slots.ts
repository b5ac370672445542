// The KV slots of a stage after the first, keyed by the sequence ids the first stage assigns.
// A sequence takes a slot when its first rows (position 0) arrive and gives it back when the
// first stage says it ended. A stage that cannot continue a sequence (evicted and back empty,
// or rows that skip positions) names it as unknown instead of attending over a missing cache.

import type { StageSegment } from "./protocol.js";

interface Held {
  slot: number;
  /** Positions 0..pos-1 are in the slot's cache. */
  pos: number;
}

export type Placement = { slots: number[] } | { unknown: number[] } | { full: number };

export class SequenceSlots {
  private readonly held = new Map<number, Held>();
  private readonly free: number[];
  /** The first stage instance whose sequences these are. */
  private epoch = "";

  constructor(readonly slots: number) {
    this.free = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  }

  get used(): number {
    return this.held.size;
  }

  /** Serve `epoch` from now on: a first stage that is not the last one seen starts afresh. */
  adopt(epoch: string): void {
    if (epoch === this.epoch) return;
    for (const id of [...this.held.keys()]) this.release(id);
    this.epoch = epoch;
  }

  /** Give back a sequence's slot; an id never seen (or freed already) is no error. */
  release(id: number): void {
    const h = this.held.get(id);
    if (!h) return;
    this.held.delete(id);
    this.free.push(h.slot);
  }

  /**
   * The slot of each segment, taking new ones for sequences that start at position 0; or the
   * sequences whose earlier positions this stage lacks; or how many slots are missing. Changes
   * nothing unless every segment can be placed.
   */
  place(segs: StageSegment[]): Placement {
    const unknown = segs.filter((s) => s.pos0 > (this.held.get(s.id)?.pos ?? 0)).map((s) => s.id);
    if (unknown.length) return { unknown };
    const fresh = segs.filter((s) => !this.held.has(s.id));
    if (fresh.length > this.free.length) return { full: fresh.length - this.free.length };
    for (const s of fresh) this.held.set(s.id, { slot: this.free.pop()!, pos: 0 });
    return { slots: segs.map((s) => this.held.get(s.id)!.slot) };
  }

  /**
   * After the forward pass: the segments' positions are cached. A replay (positions rewritten
   * from 0 with the same tokens) never moves a sequence back.
   */
  advance(segs: StageSegment[]): void {
    for (const s of segs) {
      const h = this.held.get(s.id);
      if (h) h.pos = Math.max(h.pos, s.pos0 + s.n);
    }
  }
}
