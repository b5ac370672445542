// A stage after the first, as its Durable Object runs it (no Workers APIs, so Node tests run
// the same code): its layers over the rows the first stage sends, the KV cache of each sequence
// kept in a slot keyed by the sequence's id (slots.ts).

import type { LoadedModel } from "../model/loader.js";
import type { StageAnswer, StageBatch } from "./protocol.js";
import { SequenceSlots } from "./slots.js";

export class StageLayers {
  readonly slots: SequenceSlots;
  readonly stats = { calls: 0, computeMs: 0 };

  constructor(
    readonly lm: LoadedModel,
    readonly index: number,
  ) {
    this.slots = new SequenceSlots(lm.plan.slots);
  }

  /** Free what the batch says ended, then run its segments (or say which it cannot continue). */
  forward(b: StageBatch): StageAnswer {
    const { slots } = this;
    slots.adopt(b.epoch);
    for (const id of b.free) slots.release(id);
    if (!b.segs.length) return { rows: new Float32Array(0), ms: 0 };
    const B = b.segs.reduce((n, s) => n + s.n, 0);
    if (b.keep?.some((r) => !(r >= 0 && r < B))) {
      const message = `Pipeline stage ${this.index} was asked for rows ${b.keep} of ${B}.`;
      return { fault: { code: "stage_unavailable", message } };
    }
    const placed = slots.place(b.segs);
    if ("unknown" in placed) return placed;
    if ("full" in placed) {
      const message = `Pipeline stage ${this.index} has no free KV slot (${slots.slots} slots).`;
      return { fault: { code: "stage_full", message } };
    }
    const segs = b.segs.map((s, i) => ({
      slot: placed.slots[i],
      pos0: s.pos0,
      ids: { length: s.n }, // only the count: this stage takes rows, not token ids
      logits: "none" as const,
    }));
    const t0 = performance.now();
    const x = this.lm.model.forwardLayers(segs, b.rows); // [B][C], a view of this stage's memory
    const rows = b.keep ? gather(x, b.keep, this.lm.manifest.config.n_embd) : x.slice();
    const ms = performance.now() - t0;
    slots.advance(b.segs);
    this.stats.calls++;
    this.stats.computeMs += ms;
    return { rows, ms };
  }
}

/** Rows `keep` of x [B][C], in that order: [keep.length][C]. */
export function gather(x: Float32Array, keep: number[], C: number): Float32Array {
  const out = new Float32Array(keep.length * C);
  keep.forEach((r, i) => out.set(x.subarray(r * C, (r + 1) * C), i * C));
  return out;
}
