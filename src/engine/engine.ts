// Continuous batching inside one isolate. The engine owns the KV slots of one loaded model;
// each step admits waiting sequences, then runs ONE forward pass holding a decode token of
// every running sequence plus prefill chunks of new prompts, and samples each sequence with its
// own sampler. There is no background loop: every request drives steps from its own handler
// (see run), so all I/O stays in the request that owns it, as Workers require.

import type { LoadedModel } from "../model/loader.js";
import type { Segment } from "../model/gpt2.js";
import {
  Sequence,
  type FinishReason,
  type GenerationRequest,
  type TokenEvent,
} from "./sequence.js";

export interface EngineOptions {
  /** Sequences allowed to wait for a slot; past this, submit throws EngineSaturatedError. */
  maxQueue: number;
  /** Most prompt tokens prefilled per step, so a long prompt can't stall running streams. */
  prefillChunk: number;
  /** How a driver yields to the event loop between steps. */
  yieldFn?: () => Promise<void>;
}

export class EngineSaturatedError extends Error {
  name = "EngineSaturatedError";
  constructor(readonly retryAfterSeconds: number) {
    super("The model is serving as many requests as it can; retry shortly.");
  }
}

/** Longest a step waits for slow readers to take the previous step's tokens. */
const STEP_WAIT_MS = 25;

const defaultYield = () => new Promise<void>((r) => setTimeout(r, 0));

export class Engine {
  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly freeSlots: number[];
  private stepping = false;
  private lastStep = -Infinity;
  readonly stats = { steps: 0, rows: 0, tokens: 0 };

  constructor(
    readonly lm: LoadedModel,
    readonly opts: EngineOptions,
  ) {
    this.freeSlots = Array.from({ length: lm.plan.slots }, (_, i) => lm.plan.slots - 1 - i);
  }

  get slots(): number {
    return this.lm.plan.slots;
  }

  /** Counters and occupancy for GET /v1/status. */
  snapshot() {
    return {
      slots: this.slots,
      running: this.running.length,
      waiting: this.waiting.length,
      ...this.stats,
    };
  }

  /** Sequences admitted or waiting: an idle engine can be evicted. */
  get load(): number {
    return this.running.length + this.waiting.length;
  }

  /** Queue a generation; throws EngineSaturatedError when every slot is taken and the queue is full. */
  submit(req: GenerationRequest): Sequence {
    this.retire();
    if (this.load >= this.slots + this.opts.maxQueue) {
      throw new EngineSaturatedError(1);
    }
    const seq = new Sequence(req, this.lm.manifest.config.n_vocab);
    this.waiting.push(seq);
    return seq;
  }

  /**
   * Drive the engine until `seq` is done, handing its events to `emit` as they are produced.
   * Resolves with the finish reason; a cancelled sequence resolves with null.
   */
  async run(
    seq: Sequence,
    emit: (events: TokenEvent[]) => void | Promise<void>,
  ): Promise<FinishReason | null> {
    const yieldFn = this.opts.yieldFn ?? defaultYield;
    try {
      for (;;) {
        if (!seq.done && !this.stepping && this.due()) this.step();
        const events = seq.drain();
        if (events.length) await emit(events);
        if (seq.error) throw seq.error;
        if (seq.done && seq.events.length === 0) return seq.cancelled ? null : seq.finish;
        await yieldFn();
      }
    } finally {
      if (!seq.done) seq.cancelled = true; // the driver left (client gone): free the slot next step
      this.retire();
    }
  }

  /**
   * Whether the next step should run now: once every running sequence's reader has taken the
   * last step's tokens, so every stream gets each token as soon as it exists instead of a burst
   * per round of readers; but a reader that is slow to come back (a blocked write, a client gone)
   * holds the others for at most STEP_WAIT_MS.
   */
  private due(): boolean {
    if (performance.now() - this.lastStep >= STEP_WAIT_MS) return true;
    return this.running.every((s) => s.done || s.events.length === 0);
  }

  /** One engine step: retire, admit, one batched forward pass, sample. Synchronous. */
  step(): void {
    this.stepping = true;
    try {
      this.retire();
      this.admit();
      const { segs, owners } = this.schedule();
      if (segs.length === 0) return;
      this.stats.steps++;
      try {
        this.lm.model.forward(segs, (si, t, logits) => {
          const p = segs[si].pos0 + t;
          const s = owners[si];
          if (!s.wantsLogits(p)) return;
          s.onLogits(p, logits);
          if (p >= s.req.prompt.length - 1) this.stats.tokens++;
        });
      } catch (e) {
        // A failure inside the model fails the sequences of this step, not the isolate.
        const err = e instanceof Error ? e : new Error(String(e));
        for (const s of owners) s.error = err;
        return;
      }
      segs.forEach((s, i) => {
        owners[i].pos += s.ids.length;
        this.stats.rows += s.ids.length;
      });
    } finally {
      this.stepping = false;
      this.lastStep = performance.now(); // readers get STEP_WAIT_MS from the end of the step
    }
  }

  /**
   * Run a synchronous job (e.g. an inspection forward pass) on a free KV slot between steps.
   * Throws EngineSaturatedError when every slot is taken. The slot is free again on return.
   */
  withSlot<T>(job: (slot: number) => T): T {
    if (this.stepping) throw new Error("withSlot called inside a step");
    this.retire();
    const slot = this.freeSlots.pop();
    if (slot === undefined) throw new EngineSaturatedError(1);
    try {
      return job(slot);
    } finally {
      this.freeSlots.push(slot);
    }
  }

  /** Free the slots of finished, cancelled or failed sequences; drop cancelled waiters. */
  private retire(): void {
    for (let i = this.running.length - 1; i >= 0; i--) {
      const s = this.running[i];
      if (s.done) {
        this.running.splice(i, 1);
        this.freeSlots.push(s.slot);
      }
    }
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      if (this.waiting[i].done) this.waiting.splice(i, 1);
    }
  }

  private admit(): void {
    while (this.waiting.length && this.freeSlots.length) {
      const s = this.waiting.shift()!;
      s.slot = this.freeSlots.pop()!;
      s.pos = 0;
      this.running.push(s);
    }
  }

  /** Decode rows first (one per running sequence), then prefill chunks in arrival order. */
  private schedule(): { segs: Segment[]; owners: Sequence[] } {
    const segs: Segment[] = [];
    const owners: Sequence[] = [];
    let rows = this.lm.plan.rows;
    for (const s of this.running) {
      if (s.prefilling || s.done || s.pos >= s.tokens.length) continue;
      segs.push({ slot: s.slot, pos0: s.pos, ids: [s.tokens[s.pos]], logits: "last" });
      owners.push(s);
      rows--;
    }
    let budget = Math.min(rows, this.opts.prefillChunk);
    for (const s of this.running) {
      if (!s.prefilling || s.done || budget <= 0) continue;
      const T = Math.min(s.req.prompt.length - s.pos, budget);
      const ids = s.req.prompt.slice(s.pos, s.pos + T);
      const last = s.pos + T - 1;
      const logits = s.req.echoLogprobs ? "all" : s.wantsLogits(last) ? "last" : "none";
      segs.push({ slot: s.slot, pos0: s.pos, ids, logits });
      owners.push(s);
      budget -= T;
    }
    // A prompt-only sequence (max_tokens 0, no echo) finishes without a forward pass.
    return { segs, owners };
  }
}
