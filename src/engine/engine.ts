// Continuous batching inside one isolate. The engine owns the KV slots of one loaded model;
// each step admits waiting sequences, then runs ONE forward pass holding a decode token of
// every running sequence plus prefill chunks of new prompts, and samples each sequence with its
// own sampler. There is no background loop: every request drives steps from its own handler
// (see run), so all I/O stays in the request that owns it, as Workers require; a driver's turn
// takes one step, or a round of a few for a small model (roundFlops), so that every stream's
// per-turn costs are paid once per round. Nothing here waits on another request or on the
// clock moving: production clocks stand still during compute, and a request killed at its CPU
// limit leaves without running its finally blocks.
// A staged model's forward pass goes down a pipeline of Durable Objects (src/stage/pipeline.ts)
// and returns a promise: then up to model.depth steps are in flight at once, each over other
// sequences (micro-batches: the decoding sequences are shared out among them, and a prompt's
// next chunk goes into the next step before the previous one is back), so every stage works.

import type { LoadedModel } from "../model/loader.js";
import type { ModelConfig } from "../model/manifest.js";
import type { GPT2, Segment } from "../model/gpt2.js";
import { kernelLogitOps, type LogitOps } from "../sampler/index.js";
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
  /** Steps a sequence may hold tokens nobody takes before it is failed (default 256). */
  unreadStepLimit?: number;
  /**
   * Forward-pass work (FLOPs, flopsPerToken per row) one driver turn may do: a model in this
   * isolate takes more steps in a row while the next, as big as the last, still fits. 0 or
   * absent: one step per turn. See ROUND_FLOPS.
   */
  roundFlops?: number;
}

/**
 * The roundFlops the Worker gives its engines: ~4 writes' worth (write-batch.ts) of kernels, ~6-9
 * ms of one core. Every step that ends a driver's turn costs the Worker's thread each driver's
 * event-loop turn and events (~0.05 ms a stream under wrangler dev): a fifth of the default
 * model's 8-stream step. Rounds of steps pay them once per round; a GPT-2 124M step (~250 MFLOP a
 * row) is a round of one. Counted in work, never in time: production clocks stand still during
 * compute.
 */
export const ROUND_FLOPS = 256e6;

/**
 * Most steps in one round, whatever their size: the tokens a stream may get at once. 16 of the
 * default model's one-stream steps are ~5-6 ms of one core, the round ROUND_FLOPS aims at; at 8,
 * its one-stream rounds were half that, and their turns, writes and the first step after each
 * (~0.05 ms slower: the caches the turn used) cost its served decode 3-8% (assembly/PERF.md).
 */
export const MAX_ROUND_STEPS = 16;

/** Multiply-adds per token, times 2: the linear layers and the unembedding (attention aside). */
export function flopsPerToken({ n_layer: L, n_embd: C, n_vocab: V }: ModelConfig): number {
  return 2 * (12 * L * C * C + V * C);
}

/** The forward pass the engine runs: GPT2 in this isolate, or a pipeline of stages. */
export interface EngineModel {
  /** As GPT2.forward; a promise when the pass leaves the isolate (the step awaits it). */
  forward(
    segs: Segment[],
    onLogits: (seg: number, t: number, logits: Float32Array) => void,
  ): void | Promise<void>;
  /**
   * The sequence in `slot` ended (finished, cancelled or failed), and none of its rows are in
   * flight: a pipeline frees it downstream.
   */
  release?(slot: number): void;
  /** Forward passes that may be in flight at once, each over other sequences (default 1). */
  readonly depth?: number;
}

/** The sequences of one step and their segments, in the same order. */
interface Step {
  segs: Segment[];
  owners: Sequence[];
}

/** A step whose forward pass is in flight (a pipelined model's), settled by endStep. */
interface Inflight extends Step {
  done: Promise<void>;
  since: number;
  /** Given up on (due): its sequences have failed; their slots wait for it to settle. */
  abandoned?: true;
}

/** A loaded model with the forward pass the engine drives. */
export type ServedModel<M extends EngineModel = GPT2> = Omit<LoadedModel, "model"> & { model: M };

export class EngineSaturatedError extends Error {
  name = "EngineSaturatedError";
  constructor(readonly retryAfterSeconds: number) {
    super("The model is serving as many requests as it can; retry shortly.");
  }
}

/** A sequence failed by the engine itself, not by the model: its step died, or nobody read it. */
export class SequenceAbandonedError extends Error {
  name = "SequenceAbandonedError";
}

/** Longest a step waits for slow readers to take the previous step's tokens, where clocks move. */
const STEP_WAIT_MS = 25;
/**
 * The same wait counted in event-loop turns of the other drivers (per running sequence), for
 * clocks that stand still during compute: the gate never depends on the clock alone.
 */
const STEP_WAIT_ROUNDS = 16;
/**
 * Steps a sequence may hold tokens nobody takes before it is failed and its slot freed: its
 * driver is gone (a request dropped at its CPU limit) or blocked on a client that reads nothing.
 * Counted in steps, not time, so it works whether or not the clock moves. A live reader drains
 * every step; one blocked this long has 256 undelivered tokens behind a full socket.
 */
const UNREAD_STEP_LIMIT = 256;
/**
 * How often a driver that did not start the step in flight looks at it again (it does not await
 * another request's promise, see above), ms; and how long a step may stay in flight before it
 * counts as lost with the request that started it (a pipeline times its own calls out sooner).
 */
const INFLIGHT_POLL_MS = 20;
const INFLIGHT_LIMIT_MS = 10 * 60_000;

/**
 * One event-loop turn between a driver's steps, so other requests and their streams run: a
 * setImmediate where there is one (Node, where setTimeout(0) waits at least 1 ms: 1.5 ms a step),
 * else setTimeout(0), which workerd runs at once (~12 µs measured). Neither depends on the clock.
 */
export const nextTurn: () => Promise<void> =
  typeof globalThis.setImmediate === "function"
    ? () => new Promise<void>((r) => setImmediate(r))
    : () => new Promise<void>((r) => setTimeout(r, 0));

export class Engine<M extends EngineModel = GPT2> {
  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly freeSlots: number[];
  /**
   * The step whose synchronous part (the whole pass of a model in this isolate) is running;
   * non-null outside it only if that step was killed.
   */
  private stepping: Step | null = null;
  /** Steps whose forward pass is in flight (a pipelined model's), oldest first. */
  private readonly inflight: Inflight[] = [];
  /**
   * Slots lent to withSlot jobs (nested jobs lend more), with the event-loop turn they were lent
   * in: jobs are synchronous, so slots still lent in an earlier turn belong to a killed job.
   */
  private lent: { slots: number[]; turn: object } = { slots: [], turn: {} };
  private turnToken: object | null = null;
  private lastStep = -Infinity;
  /** Sequences put into steps so far: each one's turn ticket (Sequence.served). */
  private served = 0;
  /** Driver turns (run-loop yields) since the last step. */
  private turns = 0;
  /** Evicted: its memory is about to serve another model, so it takes no new work. */
  private closed = false;
  /** Steps of the last round (run: the steps one driver turn took). */
  private roundSteps = 1;
  /** The sampler's passes over logits: the model's kernels for its own logit rows. */
  private readonly logitOps: LogitOps;
  /** rounds: driver turns that stepped (the clock of write-watch.ts), steps: their steps. */
  readonly stats = { steps: 0, rounds: 0, rows: 0, tokens: 0, interrupted: 0, abandoned: 0 };

  constructor(
    readonly lm: ServedModel<M>,
    readonly opts: EngineOptions,
  ) {
    this.freeSlots = Array.from({ length: lm.plan.slots }, (_, i) => lm.plan.slots - 1 - i);
    this.logitOps = kernelLogitOps(lm.kernels);
  }

  get slots(): number {
    return this.lm.plan.slots;
  }

  /** Steps that may be in flight at once (the model's depth: a pipeline's stages). */
  get depth(): number {
    return this.lm.model.depth ?? 1;
  }

  /** Counters and occupancy for GET /v1/status. */
  snapshot() {
    this.retire(); // cancelled sequences count as gone at once, not at the next step
    return {
      slots: this.slots,
      running: this.running.length,
      waiting: this.waiting.length,
      ...this.stats,
    };
  }

  /** Sequences admitted or waiting: an idle engine can be evicted. */
  get load(): number {
    this.retire();
    return this.running.length + this.waiting.length;
  }

  /** Refuse new work from now on (the registry evicts this model only when it is idle). */
  close(): void {
    this.closed = true;
  }

  /** Most sequences admitted or waiting at once: the slots and the queue. */
  get capacity(): number {
    return this.slots + this.opts.maxQueue;
  }

  /** Queue a generation; throws EngineSaturatedError when every slot is taken and the queue is full. */
  submit(req: GenerationRequest): Sequence {
    this.retire();
    if (this.closed || this.load >= this.capacity) {
      throw new EngineSaturatedError(1);
    }
    const seq = new Sequence(req, this.lm.manifest.config.n_vocab, this.logitOps);
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
    const yieldFn = this.opts.yieldFn ?? nextTurn;
    try {
      for (;;) {
        const started = !seq.done && this.due() ? this.round() : undefined;
        const events = seq.drain();
        if (events.length) await emit(events);
        if (seq.error) throw seq.error;
        if (seq.done && seq.events.length === 0) return seq.cancelled ? null : seq.finish;
        this.turns++;
        await this.pause(started, yieldFn);
      }
    } finally {
      if (!seq.done) seq.cancelled = true; // the driver left (client gone): free the slot next step
      this.retire();
    }
  }

  /**
   * One driver turn for a caller that runs no sequence of its own (a response writer waiting on
   * its client while its request's drivers wait on it): step if due, then yield. Resolves false,
   * without yielding, when the engine has nothing left to compute.
   */
  async turn(): Promise<boolean> {
    this.turns++;
    const started = this.due() ? this.round() : undefined;
    if (this.load === 0) return false;
    await this.pause(started, this.opts.yieldFn ?? nextTurn);
    return true;
  }

  /**
   * A driver's wait between turns: one event-loop turn after it started a step (its calls go
   * out, and the next step may start at once) or when nothing is in flight; else until a step in
   * flight ends or INFLIGHT_POLL_MS passes, whichever is first: a step belongs to the driver that
   * started it, and a driver never depends on another request's promise alone.
   */
  private pause(started: void | Promise<void>, yieldFn: () => Promise<void>): Promise<void> {
    if (started || this.inflight.length === 0) return yieldFn();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = new Promise<void>((r) => (timer = setTimeout(r, INFLIGHT_POLL_MS)));
    const ends = this.inflight.map((s) => s.done);
    // then one turn more: the batches the step's end let go down (microtasks) go out first,
    // before a driver starts computing the next step
    return Promise.race([...ends, poll])
      .finally(() => clearTimeout(timer))
      .then(yieldFn);
  }

  /**
   * Whether the next step should run now: once every running sequence's reader has taken the
   * last step's tokens, so every stream gets each token as soon as it exists instead of a burst
   * per round of readers; but a reader that is slow to come back (a blocked write, a client gone)
   * holds the others for at most STEP_WAIT_MS, or STEP_WAIT_ROUNDS turns where time stands still,
   * and one that has missed a whole step already holds nobody. Sequences in flight hold nobody.
   */
  private due(): boolean {
    if (this.inflight.length) {
      const now = performance.now();
      for (const s of this.inflight.slice()) {
        // its driver's request is gone and took the step with it
        if (now - s.since >= INFLIGHT_LIMIT_MS) this.abandon(s);
      }
    }
    if (this.inflight.length >= this.depth) return false;
    if (this.turns >= STEP_WAIT_ROUNDS * Math.max(1, this.running.length)) return true;
    // the clock last: a call into the runtime (1-2 µs in a workerd profile), for slow readers only
    const taken = this.running.every(
      (s) => s.done || s.inflight > 0 || s.events.length === 0 || s.unreadSteps > this.roundSteps,
    );
    return taken || performance.now() - this.lastStep >= STEP_WAIT_MS;
  }

  /**
   * A driver's steps for one turn: one step, then, for a model in this isolate with roundFlops,
   * more while the next (taken to be as big as the last) keeps the round's rows within it, up to
   * MAX_ROUND_STEPS. A pipelined step (a promise) ends the round. Readers then take several
   * steps' tokens at once (a small model's writes carry several anyway: write-batch.ts).
   */
  private round(): void | Promise<void> {
    const steps = this.stats.steps;
    let rows = this.stats.rows;
    let started = this.step();
    if (this.stats.steps === steps) return started; // nothing to compute
    this.stats.rounds++;
    this.roundSteps = 1;
    const budget = (this.opts.roundFlops ?? 0) / flopsPerToken(this.lm.manifest.config);
    let spent = 0;
    while (!started && this.roundSteps < MAX_ROUND_STEPS) {
      const last = this.stats.rows - rows; // the rows of the step just taken
      spent += last;
      if (last === 0 || spent + last > budget) break;
      rows = this.stats.rows;
      const before = this.stats.steps;
      started = this.step();
      if (this.stats.steps === before) break;
      this.roundSteps++;
    }
    return started;
  }

  /**
   * One engine step: retire, admit, one batched forward pass, sample. Synchronous for a model in
   * this isolate; a pipelined model's step returns a promise (never rejecting) that settles when
   * its forward pass is back and sampled, and the next step may start meanwhile (up to depth).
   */
  step(): void | Promise<void> {
    if (this.stepping) this.recoverInterruptedStep();
    if (this.inflight.length >= this.depth) return;
    this.retire();
    this.admit();
    const step = this.schedule();
    const { segs, owners } = step;
    if (segs.length === 0) return;
    this.stats.steps++;
    segs.forEach((s, i) => {
      owners[i].inflight++;
      owners[i].sent = s.pos0 + s.ids.length;
    });
    // Cleared on every way out of the synchronous part except termination (a CPU-limit kill
    // runs no finally): the next step then finds it set and fails these sequences (see above).
    this.stepping = step;
    let pass: void | Promise<void>;
    try {
      pass = this.lm.model.forward(segs, (si, t, logits) => {
        const p = segs[si].pos0 + t;
        const s = owners[si];
        if (s.done || !s.wantsLogits(p)) return; // done: cancelled while a pass was in flight
        s.onLogits(p, logits);
        if (p >= s.req.prompt.length - 1) this.stats.tokens++;
      });
    } catch (e) {
      return this.endStep(step, e);
    }
    if (!pass) return this.endStep(step);
    this.stepping = null;
    const inflight: Inflight = { ...step, since: performance.now(), done: Promise.resolve() };
    inflight.done = pass.then(
      (): void => this.endStep(inflight),
      (e: unknown): void => this.endStep(inflight, e ?? new Error("forward failed")),
    );
    this.inflight.push(inflight);
    return inflight.done;
  }

  /**
   * The end of a step: advance its sequences, or fail them if the forward pass threw. A pipelined
   * step that was given up on meanwhile (due) only lets its sequences' slots go.
   */
  private endStep(step: Step | Inflight, error?: unknown): void {
    const { segs, owners } = step;
    for (const s of owners) s.inflight--;
    if ("abandoned" in step) return this.retire();
    if (this.stepping === step) this.stepping = null;
    else this.inflight.splice(this.inflight.indexOf(step as Inflight), 1);
    if (error === undefined) {
      segs.forEach((s, i) => {
        owners[i].pos += s.ids.length;
        this.stats.rows += s.ids.length;
      });
    } else {
      // A failure inside the model fails the sequences of this step, not the isolate.
      const err = error instanceof Error ? error : new Error(String(error));
      for (const s of owners) s.error = err;
    }
    this.lastStep = performance.now(); // readers get STEP_WAIT_MS from the end of the step
    this.turns = 0;
    this.expireUnread(owners);
    // a sequence whose driver left while its rows were in flight is freed now, not whenever
    // the next request comes (every stage holds it until then)
    this.retire();
  }

  /**
   * The previous step never returned: its request was dropped mid-step (at its CPU limit) and
   * its KV caches are half written. Fail its sequences and carry on with everyone else's.
   */
  private recoverInterruptedStep(): void {
    const step = this.stepping!;
    this.stepping = null;
    this.abandon(step);
  }

  /**
   * Give up on a step that never returned or is in flight for too long: fail its sequences. A
   * killed step's slots are free at once; a step in flight keeps them until it settles, if ever
   * (the pipeline may still write their rows: a new sequence must not get them meanwhile).
   */
  private abandon(step: Step | Inflight): void {
    const i = this.inflight.indexOf(step as Inflight);
    if (i >= 0) {
      this.inflight.splice(i, 1);
      (step as Inflight).abandoned = true;
    } else for (const s of step.owners) s.inflight--;
    const err = new SequenceAbandonedError(
      "Generation was interrupted: the engine step computing this sequence was cut off " +
        "(a request hit its CPU limit). Retry the request.",
    );
    for (const s of step.owners) if (!s.done) s.error = err;
    this.stats.interrupted++;
  }

  /**
   * Fail sequences whose tokens nobody has taken for unreadStepLimit of their steps, freeing
   * their slots.
   */
  private expireUnread(owners: Sequence[]): void {
    const limit = this.opts.unreadStepLimit ?? UNREAD_STEP_LIMIT;
    for (const s of owners) {
      if (s.done || s.events.length === 0) continue;
      if (++s.unreadSteps < limit) continue;
      s.error = new SequenceAbandonedError(
        `Generation was stopped: its client took no tokens for ${limit} engine steps.`,
      );
      this.stats.abandoned++;
    }
  }

  /**
   * Run a synchronous job (e.g. an inspection forward pass) on a free KV slot between steps.
   * Throws EngineSaturatedError when every slot is taken. The slot is free again on return.
   */
  withSlot<T>(job: (slot: number) => T): T {
    if (this.stepping) this.recoverInterruptedStep();
    const turn = this.currentTurn();
    if (this.lent.turn !== turn) {
      this.freeSlots.push(...this.lent.slots); // lent by jobs killed mid-run
      this.lent = { slots: [], turn };
    }
    this.retire();
    const slot = this.closed ? undefined : this.freeSlots.pop();
    if (slot === undefined) throw new EngineSaturatedError(1);
    this.lent.slots.push(slot);
    try {
      return job(slot);
    } finally {
      this.lent.slots.splice(this.lent.slots.lastIndexOf(slot), 1);
      this.freeSlots.push(slot);
    }
  }

  /** A token for the current event-loop turn: the same object until the stack unwinds. */
  private currentTurn(): object {
    if (!this.turnToken) {
      const token = (this.turnToken = {});
      queueMicrotask(() => {
        if (this.turnToken === token) this.turnToken = null;
      });
    }
    return this.turnToken;
  }

  /**
   * Free the slots of finished, cancelled or failed sequences once none of their rows are in
   * flight (a slot taken anew meanwhile would get the old rows' keys and values); drop cancelled
   * waiters.
   */
  private retire(): void {
    for (let i = this.running.length - 1; i >= 0; i--) {
      const s = this.running[i];
      if (s.done && s.inflight === 0) {
        this.running.splice(i, 1);
        this.freeSlots.push(s.slot);
        this.lm.model.release?.(s.slot);
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
      s.pos = s.sent = 0;
      this.running.push(s);
    }
  }

  /**
   * Decode rows first (one per running sequence not in flight), then prefill chunks in arrival
   * order. With depth D, a step takes a D-th of the decoding sequences, so D steps in flight
   * hold them all; a prompt's next chunk may go while its previous one is still in flight.
   * The share goes to the sequences that have waited longest since their last step: taken in
   * running order, a share whose step came back before the next step started (stages that answer
   * at once, as on wrangler dev's one thread) went to the same sequences again and again, the
   * others waiting for them to finish.
   */
  private schedule(): Step {
    const segs: Segment[] = [];
    const owners: Sequence[] = [];
    let rows = this.lm.plan.rows;
    let decoding = 0;
    const ready: Sequence[] = [];
    for (const s of this.running) {
      if (s.prefilling || s.done) continue;
      decoding++;
      if (s.inflight === 0 && s.pos < s.tokens.length) ready.push(s);
    }
    const share = Math.ceil(decoding / this.depth);
    // the share that has waited longest, each then to the back of the queue (a ticket above
    // `before`: picked); rows in running order
    const before = this.served;
    const byWait = ready.length > 1 ? ready.slice().sort((a, b) => a.served - b.served) : ready;
    for (let i = 0; i < share && i < byWait.length; i++) byWait[i].served = ++this.served;
    for (const s of ready) {
      if (s.served <= before) continue;
      segs.push({ slot: s.slot, pos0: s.pos, ids: [s.tokens[s.pos]], logits: "last" });
      owners.push(s);
      rows--;
    }
    let budget = Math.min(rows, this.opts.prefillChunk);
    for (const s of this.running) {
      const P = s.req.prompt.length;
      if (s.sent >= P || s.done || budget <= 0) continue;
      const T = Math.min(P - s.sent, budget);
      const ids = s.req.prompt.slice(s.sent, s.sent + T);
      const last = s.sent + T - 1;
      const logits = s.req.echoLogprobs ? "all" : s.wantsLogits(last) ? "last" : "none";
      segs.push({ slot: s.slot, pos0: s.sent, ids, logits });
      s.served = ++this.served;
      owners.push(s);
      budget -= T;
    }
    // A prompt-only sequence (max_tokens 0, no echo) finishes without a forward pass.
    return { segs, owners };
  }
}
