// What the routes drive to generate text: the Engine of a model in this isolate, or the engine
// of a staged model living in its first stage's Durable Object (src/stage/client.ts). Both take
// GenerationRequests and hand back token events sequence by sequence.

import type { Tokenizer } from "../tokenizer/index.js";
import type { ModelConfig } from "../model/manifest.js";
import type { FinishReason, GenerationRequest, TokenEvent } from "./sequence.js";

/** One submitted generation as the routes see it (Sequence in this isolate). */
export interface SequenceHandle {
  /** Set by the routes when the client is gone or a stop string matched: generation stops. */
  cancelled: boolean;
  readonly finish: FinishReason | null;
  readonly error: Error | null;
  readonly done: boolean;
  /** Events produced and not yet handed to run's emit. */
  readonly events: readonly TokenEvent[];
}

export interface Generator {
  /** The model's tokenizer, the context served and its hyperparameters. */
  readonly lm: {
    tokenizer: Tokenizer;
    plan: { context: number };
    manifest: { config: ModelConfig };
  };
  /**
   * Steps seen so far (json-keepalive.ts's clock), and rounds: driver turns that stepped, one or
   * more steps each (write-watch.ts's clock: a live client's write completes within a round or two).
   */
  readonly stats: { steps: number; rounds: number };
  /**
   * Most sequences it holds at once, running and queued, where it knows (an Engine: slots +
   * queue); a request for more can never be taken, however long it retries.
   */
  readonly capacity?: number;
  /** Queue a generation; throws EngineSaturatedError when nothing can take it. */
  submit(req: GenerationRequest): SequenceHandle;
  /**
   * Resolves once every sequence submitted is accepted, or throws why not (a staged model answers
   * only after its first stage has queued them; an Engine has nothing to wait for).
   */
  accepted?(seqs: SequenceHandle[]): Promise<void>;
  /** Drive until `seq` is done, handing its events to `emit`; null if it was cancelled. */
  run(
    seq: SequenceHandle,
    emit: (events: TokenEvent[]) => void | Promise<void>,
  ): Promise<FinishReason | null>;
  /** One driver turn for a caller with no sequence of its own; false when there is no work. */
  turn(): Promise<boolean>;
}
