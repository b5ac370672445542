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
    const rows = this.lm.model.forwardLayers(segs, b.rows).slice();
    const ms = performance.now() - t0;
    slots.advance(b.segs);
    this.stats.calls++;
    this.stats.computeMs += ms;
    return { rows, ms };
  }
}
