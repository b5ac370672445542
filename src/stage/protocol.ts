// What crosses a stage boundary: the gateway's requests to the first stage and the token events
// it streams back, the batches of rows the first stage sends down the pipeline, and the typed
// faults every side can tell apart (RPC keeps an Error's message, not its class).

import type { FinishReason, TokenEvent } from "../engine/sequence.js";

/** One sequence's rows in a batch for a stage after the first: n tokens at pos0.. of sequence id. */
export interface StageSegment {
  id: number;
  pos0: number;
  n: number;
}

/**
 * One forward call of a stage after the first. epoch names the first stage's instance: a new
 * one means every sequence of an older one is gone. `free` lists sequences that ended, freed
 * before the segments run; rows is the previous stage's output [B][C], segment order. `keep`
 * (the last stage's call) lists the output rows to send back, those that need logits; without
 * it every row goes back, as the next stage's input. `expect` is the stage's key (stageKey) in
 * the manifest the first stage loaded: a stage holding other weights does not run the batch.
 */
export interface StageBatch {
  epoch: string;
  free: number[];
  segs: StageSegment[];
  rows: Float32Array;
  keep?: number[];
  expect?: string;
}

/**
 * A stage's answer: its output rows [B][C], or [keep.length][C] (and the ms its layers took); or the sequences it
 * holds no KV for (it was evicted and came back empty, or never saw their start), which the
 * first stage re-prefills; or a fault.
 */
export type StageAnswer =
  { rows: Float32Array; ms: number } | { unknown: number[] } | { fault: Fault };

/** Why a stage or the pipeline cannot serve: its code says whether retrying can help. */
export interface Fault {
  code: FaultCode;
  message: string;
}

export type FaultCode =
  | "stage_unavailable" // unreachable, reset mid-call, or timed out: retry shortly
  | "stage_over_budget" // its memory plan does not fit: reconfigure, retrying will not help
  | "stage_load_failed" // its weights could not be loaded
  | "stage_full" // no KV slot left for a new sequence
  | "overloaded" // the first stage's engine has every slot and its queue taken
  | "weights_changed"; // the model was re-uploaded: the first stage reloads, retry shortly

/** A Fault as an Error, so it can travel through the engine's failure paths. */
export class StageError extends Error {
  name = "StageError";
  constructor(readonly fault: Fault) {
    super(fault.message);
  }
}

/** What the first stage answers a generation: its event stream and its instance, or why not. */
export type GenerateAnswer =
  { stream: ReadableStream<Uint8Array>; epoch: string } | { fault: Fault };

/**
 * One line of a generation's stream: the events the engine produced since the last line, with
 * its step count then (the gateway's clock for its write watch) and the finish reason once
 * there is one; the last line has `end`, and a fault if the sequence failed.
 */
export interface StreamLine {
  step: number;
  events: TokenEvent[];
  finish: FinishReason | null;
  fault?: Fault;
  end?: true;
}

/** A logprob may be -Infinity, which JSON lacks: non-finite numbers travel as strings. */
export function encodeLine(line: StreamLine): Uint8Array {
  const json = JSON.stringify(line, (_k, v) =>
    typeof v === "number" && !Number.isFinite(v) ? String(v) : v,
  );
  return new TextEncoder().encode(json + "\n");
}

export function decodeLine(text: string): StreamLine {
  return JSON.parse(text, (k, v) => (k === "logprob" && typeof v === "string" ? Number(v) : v));
}
