// The gateway's side of a staged model: per replica, a Generator whose engine runs in that
// replica's first stage's Durable Object, and the replica a request goes to (replicas.ts). Each
// submitted sequence is one RPC (generate) answering with a stream of event lines, read eagerly
// into the sequence as they come, so the routes drain, stream and watch their writes exactly as
// with an Engine in this isolate. Cancelling a sequence cancels its stream, which cancels it in
// the first stage at once (serve.ts).

import type { Generator, SequenceHandle } from "../engine/generator.js";
import type { RequestOrigin, StagedModel } from "../engine/registry.js";
import type { FinishReason, GenerationRequest, TokenEvent } from "../engine/sequence.js";
import type { Manifest } from "../model/manifest.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { withTimeout } from "./links.js";
import { decodeLine, StageError, type Fault, type GenerateAnswer } from "./protocol.js";
import { replicaFor, type LocationHint, type Placement, type Replica } from "./replicas.js";

/**
 * The first stage's RPC methods the gateway calls (stage.ts), as a stub shows them; `hint` is
 * the replica's, which the first stage passes on to the later stages' objects it creates.
 */
export interface FirstStage {
  generate(req: GenerationRequest, hint?: LocationHint): Promise<GenerateAnswer>;
  status(hint?: LocationHint): Promise<object>;
}

type Lm = StagedModel["lm"];

/**
 * A staged model's replicas as the gateway serves them: one StagedEngine per replica, made on
 * first use; a request goes to the replica its continent maps to.
 */
export class StagedReplicas implements StagedModel {
  private readonly engines = new Map<string, StagedEngine>();

  constructor(
    readonly lm: Lm,
    private readonly placement: Placement,
    /** A new stub of a replica's first-stage object, created near its hint. */
    private readonly stub: (r: Replica) => FirstStage,
    /** Why STAGE_REPLICAS was not used (the default placement serves meanwhile). */
    private readonly placementError?: string,
  ) {}

  replica(from?: RequestOrigin): StagedEngine {
    return this.engine(replicaFor(this.placement, from?.continent));
  }

  /** Every replica with the continents it serves, and its stages as its first stage reports. */
  async status(): Promise<object> {
    const { replicas, continents, fallback } = this.placement;
    const list = await Promise.all(
      replicas.map(async (r) => ({
        continents: Object.keys(continents).filter((c) => continents[c] === r.name),
        fallback: r.name === fallback,
        ...(await this.engine(r).status()),
      })),
    );
    const error = this.placementError;
    return { ...(error ? { placement_error: error } : {}), replicas: list };
  }

  private engine(r: Replica): StagedEngine {
    let e = this.engines.get(r.name);
    if (!e) this.engines.set(r.name, (e = new StagedEngine(this.lm, r, () => this.stub(r))));
    return e;
  }
}

/** How long a turn() waits, and /v1/status for the stages. */
const TURN_POLL_MS = 10;
const STATUS_TIMEOUT_MS = 10_000;

/** One replica of a staged model: the engine in its first stage, driven from here. */
export class StagedEngine implements Generator {
  /** The first stage's steps, as its engine counts them; each is a round (pipelined: one step). */
  readonly stats = {
    steps: 0,
    get rounds(): number {
      return this.steps;
    },
  };
  private readonly live = new Set<RemoteSequence>();
  /** The first stage's instance and the gap between its step count and ours (it restarts at 0). */
  private epoch = "";
  private base = 0;

  constructor(
    readonly lm: { tokenizer: Tokenizer; plan: { context: number }; manifest: Manifest },
    readonly replica: Replica,
    /** A stub of the first stage's object (a new one per call: one that threw may be broken). */
    private readonly stage: () => FirstStage,
  ) {}

  submit(req: GenerationRequest): RemoteSequence {
    const seq = new RemoteSequence(this.open(req), (epoch, step) => this.onLine(epoch, step));
    this.live.add(seq);
    return seq;
  }

  /** The first stage's answers to every submit: throws the first refusal, cancelling the rest. */
  async accepted(seqs: SequenceHandle[]): Promise<void> {
    const faults = await Promise.all(seqs.map((s) => (s as RemoteSequence).opened));
    const fault = faults.find((f) => f !== null);
    if (!fault) return;
    for (const s of seqs) s.cancelled = true;
    throw new StageError(fault);
  }

  async run(
    handle: SequenceHandle,
    emit: (events: TokenEvent[]) => void | Promise<void>,
  ): Promise<FinishReason | null> {
    const seq = handle as RemoteSequence;
    try {
      for (;;) {
        const events = seq.drain();
        if (events.length) await emit(events);
        if (seq.error) throw seq.error;
        if (seq.done && seq.events.length === 0) return seq.cancelled ? null : seq.finish;
        await seq.changed();
      }
    } finally {
      if (!seq.done) seq.cancelled = true; // the driver left (client gone): cancel upstream
      this.prune();
    }
  }

  /**
   * One turn of a caller waiting on its client (write-watch.ts): TURN_POLL_MS, false at once when
   * no sequence is live. A timer of its own, not a wake-up by another request's line: a request
   * never waits on a promise that only another request settles (workerd refuses that I/O).
   */
  async turn(): Promise<boolean> {
    this.prune();
    if (this.live.size === 0) return false;
    await new Promise((r) => setTimeout(r, TURN_POLL_MS));
    return true;
  }

  /** The replica, and every stage's memory plan, slots and hop times as its first stage says. */
  async status(): Promise<object> {
    const { name, hint } = this.replica;
    const head = { replica: name, hint: hint ?? null };
    try {
      const stages = this.stage().status(hint);
      return { ...head, ...(await withTimeout(stages, STATUS_TIMEOUT_MS, "no answer")) };
    } catch (e) {
      return { ...head, error: `the first stage did not report: ${(e as Error).message}` };
    }
  }

  private async open(req: GenerationRequest): Promise<GenerateAnswer> {
    try {
      return await this.stage().generate(req, this.replica.hint);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const message = `The first pipeline stage is unreachable (${why}); retry shortly.`;
      return { fault: { code: "stage_unavailable", message } };
    }
  }

  private onLine(epoch: string, step: number): void {
    if (epoch !== this.epoch) [this.epoch, this.base] = [epoch, this.stats.steps - step];
    this.stats.steps = Math.max(this.stats.steps, this.base + step);
  }

  private prune(): void {
    for (const s of this.live) if (s.done && s.events.length === 0) this.live.delete(s);
  }
}

/** A sequence generated in the first stage, mirrored here from its stream of lines. */
export class RemoteSequence implements SequenceHandle {
  finish: FinishReason | null = null;
  error: Error | null = null;
  readonly events: TokenEvent[] = [];
  /** Null once the first stage has queued it, else why it would not. */
  readonly opened: Promise<Fault | null>;
  private stopped = false;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    answer: Promise<GenerateAnswer>,
    private readonly onLine: (epoch: string, step: number) => void,
  ) {
    this.opened = answer.then((a) => {
      if ("fault" in a) {
        this.fail(new StageError(a.fault));
        return a.fault;
      }
      void this.pump(a.stream, a.epoch);
      return null;
    });
  }

  get cancelled(): boolean {
    return this.stopped;
  }

  /** Cancelling stops the stream, and with it the sequence in every stage. */
  set cancelled(v: boolean) {
    if (!v || this.stopped) return;
    this.stopped = true;
    this.reader?.cancel().catch(() => {});
    this.notify();
  }

  get done(): boolean {
    return this.finish !== null || this.stopped || this.error !== null;
  }

  drain(): TokenEvent[] {
    return this.events.splice(0, this.events.length);
  }

  /** Resolves at the next line, failure or cancellation; at once if there is news already. */
  changed(): Promise<void> {
    if (this.events.length || this.done) return Promise.resolve();
    return new Promise((r) => (this.wake = r));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private fail(e: Error): void {
    if (!this.done) this.error = e;
    this.notify();
  }

  private async pump(stream: ReadableStream<Uint8Array>, epoch: string): Promise<void> {
    const reader = (this.reader = stream.getReader());
    if (this.stopped) return void reader.cancel().catch(() => {});
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = decodeLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (this.stopped) continue;
          this.events.push(...line.events);
          this.finish = line.finish;
          if (line.fault) this.error = new StageError(line.fault);
          this.onLine(epoch, line.step);
          this.notify();
          if (line.end) return;
        }
      }
      throw new Error("its stream ended early");
    } catch (e) {
      if (this.stopped) return;
      const why = e instanceof Error ? e.message : String(e);
      const message = `The staged model stopped answering mid-generation (${why}); retry.`;
      this.fail(new StageError({ code: "stage_unavailable", message }));
    }
  }
}
