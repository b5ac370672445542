// The forward pass of a staged model as the first stage's engine runs it: this stage's layers
// here (it embeds), the rows down every later stage in turn (one RPC each, Float32Array rows),
// then ln_f and the unembedding here on the rows the last stage sends back (only those that
// need logits). It keeps each slot's token ids, so a stage that lost a sequence's KV cache
// (evicted, back empty) is re-prefilled from them, and tells the later stages which sequences
// ended so they free their slots.
//
// The first stage calls each later stage and gets the rows back (a star, not a chain): every
// fault surfaces here, where the token ids are. Several batches are in flight at once (up to
// `depth`, one per stage by default): each later stage has a lane, its calls one at a time in
// the order the batches were computed here, so while stage k runs batch b, stage k-1 runs
// b+1 and this stage computes b+2. A sequence's positions reach every stage in order (a
// prompt's prefill chunks go down one after another), because every lane keeps that order.

import type { EngineModel } from "../engine/engine.js";
import type { GPT2, Segment } from "../model/gpt2.js";
import { logitRows, logitSegments } from "../model/segments.js";
import { gather } from "./layers.js";
import {
  StageError,
  type Fault,
  type StageAnswer,
  type StageBatch,
  type StageSegment,
} from "./protocol.js";

/** A later stage as the first stage reaches it (stage.ts: an RPC stub with timeout and retry). */
export interface StageLink {
  index: number;
  forward(batch: StageBatch): Promise<StageAnswer>;
}

/**
 * A later stage's calls, one at a time: the last one queued, how many were queued, and the
 * failure of the stage that fails every call queued up to `failedUpTo` without making it.
 */
interface Lane {
  tail: Promise<unknown>;
  queued: number;
  failedUpTo: number;
  failure?: unknown;
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
  /** Forward passes in flight at once, each over other sequences (the engine splits its batch). */
  readonly depth: number;
  /** Per slot: the id of its sequence in the later stages (-1: none), and its token ids so far. */
  private readonly seqOf: number[];
  private readonly history: number[][];
  private nextId = 1;
  /** Per later stage, ended sequences it still holds: sent with its next call, or on their own. */
  private readonly freed: number[][];
  private flushing = false;
  /** Per later stage, its calls in the order the batches were computed here. */
  private readonly lanes: Lane[];
  readonly hops: HopStats[];
  /** Sequences re-prefilled into a stage that had lost them. */
  replays = 0;
  /**
   * A later stage said the model in R2 is not the one this stage loaded (weights_changed): from
   * then on this pipeline computes nothing, since its memory may be reloaded under it.
   */
  stale: StageError | null = null;

  constructor(
    /** The first stage's own model: embeds, runs its layers, unembeds. */
    private readonly model: GPT2,
    private readonly stages: StageLink[],
    slots: number,
    /** Batches in flight at once; default one per stage, this one included (1: one at a time). */
    depth = stages.length + 1,
    /** Per later stage, its key (stageKey) in the manifest this stage loaded, sent with calls. */
    private readonly expect: (string | undefined)[] = [],
  ) {
    this.depth = depth;
    this.seqOf = new Array(slots).fill(-1);
    this.history = Array.from({ length: slots }, () => []);
    this.hops = stages.map((s) => ({ stage: s.index, calls: 0, ms: 0, computeMs: 0 }));
    this.freed = stages.map(() => []);
    this.lanes = stages.map(() => ({ tail: Promise.resolve(), queued: 0, failedUpTo: 0 }));
  }

  /**
   * One batch: this stage's layers now, then down the lanes; resolves once its logits are out.
   * The engine never puts a sequence's rows in a batch before its rows in an earlier one have
   * been sent (decode) or are at least computed here (the next chunk of a prompt).
   */
  forward(
    segs: Segment[],
    onLogits: (seg: number, t: number, logits: Float32Array) => void,
  ): Promise<void> {
    if (this.stale) return Promise.reject(this.stale);
    const batch = this.track(segs);
    const x = this.model.forwardLayers(segs).slice(); // a copy: x is overwritten by the next call
    const keep = logitRows(segs).map(([, , row]) => row);
    return this.down(segs, batch, x, keep).then((rows) => {
      if (this.stale) throw this.stale; // ln_f and wte may be the new upload's, or half of it
      if (!keep.length) return;
      // ln_f and the unembedding of the rows the last stage sent back, as one-row segments
      const one = logitSegments(segs);
      this.model.logitsFrom(one.segs, rows, (i, _t, l) => onLogits(one.at[i][0], one.at[i][1], l));
    });
  }

  /** The sequence in `slot` ended (none of its rows in flight): later stages free it next call. */
  release(slot: number): void {
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

  /** The batch through every later stage's lane; the last sends back only the rows in `keep`. */
  private async down(
    segs: Segment[],
    batch: StageSegment[],
    x: Float32Array,
    keep: number[],
  ): Promise<Float32Array> {
    // one stage (a model served from its Durable Object alone): the kept rows are here
    if (!this.stages.length) return gather(x, keep, x.length / batch.reduce((n, s) => n + s.n, 0));
    let rows = x;
    for (let k = 0; k < this.stages.length; k++) {
      const input = rows;
      const last = k === this.stages.length - 1;
      rows = await this.inLane(k, () => this.hop(k, segs, batch, input, last ? keep : undefined));
    }
    return rows;
  }

  /**
   * Run `job` on stage k's lane, after every call queued to that stage before it; or fail it at
   * once if the stage failed to answer a call meanwhile (it timed out, retry included, or is
   * unreachable): a batch waits on a stage that does not answer for one timeout, not one each.
   */
  private inLane<T>(k: number, job: () => Promise<T>): Promise<T> {
    const lane = this.lanes[k];
    const ticket = ++lane.queued;
    const run = lane.tail.then(() => {
      if (ticket <= lane.failedUpTo) throw lane.failure;
      return job();
    });
    lane.tail = run.catch(() => {});
    return run;
  }

  /**
   * Later stage k's output for these rows. A stage that lost some of the sequences gets their
   * earlier positions re-prefilled through the whole pipeline, then the same rows again.
   */
  private async hop(
    k: number,
    segs: Segment[],
    batch: StageSegment[],
    rows: Float32Array,
    keep: number[] | undefined,
    replayed = false,
  ): Promise<Float32Array> {
    const answer = await this.call(k, batch, rows, keep);
    if ("rows" in answer) return answer.rows;
    if ("fault" in answer) throw this.faulted(answer.fault);
    if (replayed) {
      const message = `stage ${this.stages[k].index} lost sequences ${answer.unknown} again right after they were re-prefilled`;
      throw new StageError({ code: "stage_unavailable", message });
    }
    await this.replay(segs, batch, new Set(answer.unknown));
    return this.hop(k, segs, batch, rows, keep, true);
  }

  /**
   * One call to later stage k, carrying its pending frees (kept for the next call if this one
   * fails); the round trip counts in hops unless it carries frees only.
   */
  private async call(
    k: number,
    segs: StageSegment[],
    rows: Float32Array,
    keep?: number[],
  ): Promise<StageAnswer> {
    // a stale pipeline's epoch is not the new one's: a later stage seeing it would drop the
    // sequences the new pipeline sent it
    if (this.stale) throw this.stale;
    const free = this.freed[k].splice(0);
    const t0 = performance.now();
    try {
      const expect = this.expect[k];
      const batch: StageBatch = {
        epoch: this.epoch,
        free,
        segs,
        rows,
        ...(keep && { keep }),
        ...(expect && { expect }),
      };
      const answer = await this.stages[k].forward(batch);
      if (segs.length && "rows" in answer) {
        const hop = this.hops[k];
        hop.calls++;
        hop.ms += performance.now() - t0;
        hop.computeMs += answer.ms;
      }
      return answer;
    } catch (e) {
      this.freed[k].push(...free);
      // no answer (links.ts gave up): the batches waiting for this stage fail with this one
      const lane = this.lanes[k];
      [lane.failedUpTo, lane.failure] = [lane.queued, e];
      throw e;
    }
  }

  /**
   * Re-prefill the sequences in `lost`: positions 0..pos0-1 of their segment in this batch, from
   * the token ids kept here, through every stage (the others rewrite their caches with the same
   * values), in calls of at most plan.rows rows. No logits: they were all sampled before. The
   * calls go straight to the stages, not through the lanes: the batch that needs them holds one.
   */
  private async replay(segs: Segment[], batch: StageSegment[], lost: Set<number>): Promise<void> {
    this.replays += lost.size;
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
      if (this.stale) throw this.stale;
      let rows: Float32Array = this.model.forwardLayers(chunk).slice();
      for (let k = 0; k < this.stages.length; k++) {
        const last = k === this.stages.length - 1;
        const answer = await this.call(k, down, rows, last ? [] : undefined);
        if ("fault" in answer && answer.fault.code === "weights_changed")
          throw this.faulted(answer.fault);
        if (!("rows" in answer)) {
          const why = "fault" in answer ? answer.fault.message : `lost ${answer.unknown}`;
          const message = `stage ${this.stages[k].index} failed while re-prefilling: ${why}`;
          throw new StageError({ code: "stage_unavailable", message });
        }
        rows = answer.rows;
      }
    }
  }

  /** A later stage's fault as the error to throw; weights_changed makes this pipeline stale. */
  private faulted(fault: Fault): StageError {
    const e = new StageError(fault);
    if (fault.code === "weights_changed") this.stale ??= e;
    return e;
  }

  /** Send pending frees down on their own (no sequence they name has rows in flight). */
  private async flush(): Promise<void> {
    this.flushing = false;
    const none = new Float32Array(0);
    // a stage that misses them gets them again with its next call (call() keeps them)
    await Promise.allSettled(
      this.stages.map((_, k) => this.freed[k].length && this.call(k, [], none)),
    );
  }
}
