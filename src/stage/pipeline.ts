// The forward pass of a staged model as the first stage's engine runs it: this stage's layers
// here (it embeds), the rows down every later stage in turn (one RPC each, Float32Array rows),
// then ln_f and the unembedding here on the last stage's rows. It keeps each slot's token ids,
// so a stage that lost a sequence's KV cache (evicted, back empty) is re-prefilled from them,
// and tells the later stages which sequences ended so they free their slots.
//
// The first stage calls each later stage and gets the rows back (a star, not a chain): every
// fault surfaces here, where the token ids are. Micro-batches in flight (stage k on one batch
// while stage k-1 runs the next) are not built yet: one batch is in the pipeline at a time.

import type { EngineModel } from "../engine/engine.js";
import type { GPT2, Segment } from "../model/gpt2.js";
import { StageError, type StageAnswer, type StageBatch, type StageSegment } from "./protocol.js";

/** A later stage as the first stage reaches it (stage.ts: an RPC stub with timeout and retry). */
export interface StageLink {
  index: number;
  forward(batch: StageBatch): Promise<StageAnswer>;
}

/** Round trips to one later stage: count, and total ms of the call and of its compute inside. */
export interface HopStats {
  stage: number;
  calls: number;
  ms: number;
  computeMs: number;
}

export class Pipeline implements EngineModel {
  /** This instance: later stages drop the sequences of any earlier one when they see a new one. */
  readonly epoch = crypto.randomUUID();
  /** Per slot: the id of its sequence in the later stages (-1: none), and its token ids so far. */
  private readonly seqOf: number[];
  private readonly history: number[][];
  private nextId = 1;
  /** Per later stage, ended sequences it still holds: sent with its next call, or on their own. */
  private readonly freed: number[][];
  private flushing = false;
  /** A forward pass is in flight: slots released meanwhile wait for it (it may replay them). */
  private forwarding = false;
  private deferred: number[] = [];
  /** Calls down the pipeline, one at a time (a batch, a replay, a flush of frees). */
  private queue: Promise<unknown> = Promise.resolve();
  readonly hops: HopStats[];
  replays = 0;

  constructor(
    /** The first stage's own model: embeds, runs its layers, unembeds. */
    private readonly model: GPT2,
    private readonly stages: StageLink[],
    slots: number,
  ) {
    this.seqOf = new Array(slots).fill(-1);
    this.history = Array.from({ length: slots }, () => []);
    this.hops = stages.map((s) => ({ stage: s.index, calls: 0, ms: 0, computeMs: 0 }));
    this.freed = stages.map(() => []);
  }

  forward(
    segs: Segment[],
    onLogits: (seg: number, t: number, logits: Float32Array) => void,
  ): Promise<void> {
    const batch = this.track(segs);
    const x = this.model.forwardLayers(segs).slice(); // a copy: x is overwritten by the next call
    this.forwarding = true;
    return this.serial(async () => {
      try {
        let rows: Float32Array = x;
        for (const link of this.stages) rows = await this.hop(link, segs, batch, rows);
        this.model.logitsFrom(segs, rows, onLogits);
      } finally {
        this.forwarding = false;
        for (const slot of this.deferred.splice(0)) this.release(slot);
      }
    });
  }

  /** The sequence in `slot` ended: its later stages free it with the next call down. */
  release(slot: number): void {
    if (this.forwarding) return void this.deferred.push(slot); // its token ids may be replayed
    if (this.seqOf[slot] < 0) return;
    this.end(this.seqOf[slot]);
    this.seqOf[slot] = -1;
    this.history[slot] = [];
    // Nothing may be coming down the pipeline soon (the engine went idle): send them anyway.
    if (!this.flushing) {
      this.flushing = true;
      setTimeout(() => void this.flush(), 0);
    }
  }

  /** Sequence ids of the segments (a new one for each sequence starting at 0), and their tokens. */
  private track(segs: Segment[]): StageSegment[] {
    return segs.map((s) => {
      if (s.pos0 === 0) {
        if (this.seqOf[s.slot] >= 0) this.end(this.seqOf[s.slot]);
        this.seqOf[s.slot] = this.nextId++;
      }
      const h = this.history[s.slot];
      h.length = s.pos0;
      for (let i = 0; i < s.ids.length; i++) h.push(s.ids[i]);
      return { id: this.seqOf[s.slot], pos0: s.pos0, n: s.ids.length };
    });
  }

  /** Sequence `id` ended: every later stage is to free it. */
  private end(id: number): void {
    for (const f of this.freed) f.push(id);
  }

  /** Run `job` after every call already queued down the pipeline. */
  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * One later stage's output for these rows. A stage that lost some of the sequences gets their
   * earlier positions re-prefilled through the whole pipeline, then the same rows again.
   */
  private async hop(
    link: StageLink,
    segs: Segment[],
    batch: StageSegment[],
    rows: Float32Array,
    replayed = false,
  ): Promise<Float32Array> {
    const answer = await this.call(link, batch, rows);
    if ("rows" in answer) return answer.rows;
    if ("fault" in answer) throw new StageError(answer.fault);
    if (replayed) {
      const message = `stage ${link.index} lost sequences ${answer.unknown} again right after they were re-prefilled`;
      throw new StageError({ code: "stage_unavailable", message });
    }
    await this.replay(segs, batch, new Set(answer.unknown));
    return this.hop(link, segs, batch, rows, true);
  }

  /**
   * One call down, carrying the pending frees (kept for the next call if this one fails); the
   * round trip counts in hops unless it carries frees only.
   */
  private async call(
    link: StageLink,
    segs: StageSegment[],
    rows: Float32Array,
  ): Promise<StageAnswer> {
    const k = this.stages.indexOf(link);
    const free = this.freed[k].splice(0);
    const t0 = performance.now();
    try {
      const answer = await link.forward({ epoch: this.epoch, free, segs, rows });
      if (segs.length && "rows" in answer) {
        const hop = this.hops[k];
        hop.calls++;
        hop.ms += performance.now() - t0;
        hop.computeMs += answer.ms;
      }
      return answer;
    } catch (e) {
      this.freed[k].push(...free);
      throw e;
    }
  }

  /**
   * Re-prefill the sequences in `lost`: positions 0..pos0-1 of their segment in this batch, from
   * the token ids kept here, through every stage (this one rewrites its cache with the same
   * values), in calls of at most plan.rows rows. No logits: they were all sampled before.
   */
  private async replay(segs: Segment[], batch: StageSegment[], lost: Set<number>): Promise<void> {
    this.replays++;
    const R = this.model.plan.rows;
    const pieces: { seg: Segment; down: StageSegment }[] = [];
    batch.forEach((b, i) => {
      if (!lost.has(b.id)) return;
      const slot = segs[i].slot;
      for (let p = 0; p < b.pos0; p += R) {
        const ids = this.history[slot].slice(p, Math.min(b.pos0, p + R));
        pieces.push({
          seg: { slot, pos0: p, ids, logits: "none" },
          down: { id: b.id, pos0: p, n: ids.length },
        });
      }
    });
    while (pieces.length) {
      const call: typeof pieces = [];
      let n = 0;
      while (pieces.length && n + pieces[0].seg.ids.length <= R) {
        n += pieces[0].seg.ids.length;
        call.push(pieces.shift()!);
      }
      const chunk = call.map((c) => c.seg);
      const down = call.map((c) => c.down);
      let rows: Float32Array = this.model.forwardLayers(chunk).slice();
      for (const link of this.stages) {
        const answer = await this.call(link, down, rows);
        if (!("rows" in answer)) {
          const why = "fault" in answer ? answer.fault.message : `lost ${answer.unknown}`;
          const message = `stage ${link.index} failed while re-prefilling: ${why}`;
          throw new StageError({ code: "stage_unavailable", message });
        }
        rows = answer.rows;
      }
    }
  }

  /** Send pending frees down on their own, once the calls queued before them are done. */
  private flush(): Promise<void> {
    return this.serial(async () => {
      this.flushing = false;
      const none = new Float32Array(0);
      // a stage that misses them gets them again with its next call (call() keeps them)
      await Promise.allSettled(
        this.stages.map((l, k) => this.freed[k].length && this.call(l, [], none)),
      );
    }).catch(() => {});
  }
}
