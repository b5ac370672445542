// Every failure a stage meets, as the typed Fault the gateway turns into its 503: a stage over
// its memory budget, a load that failed, a full engine, or a stage that did not answer.

import { EngineSaturatedError } from "../engine/engine.js";
import { ModelLoadError, ModelNotFoundError } from "../model/loader.js";
import { ModelTooLargeError } from "../model/plan.js";
import { StageError, type Fault } from "./protocol.js";

/** A stage script whose settings do not match the model in R2 (stale generated configs). */
export class StageConfigError extends Error {
  name = "StageConfigError";
}

export function faultOf(e: unknown, stage?: number): Fault {
  if (e instanceof StageError) return e.fault;
  const message = e instanceof Error ? e.message : String(e);
  const where = stage === undefined ? "The staged model" : `Pipeline stage ${stage}`;
  if (e instanceof EngineSaturatedError) return { code: "overloaded", message };
  if (e instanceof ModelTooLargeError)
    return { code: "stage_over_budget", message: `${where} does not fit its isolate: ${message}` };
  if (
    e instanceof ModelLoadError ||
    e instanceof ModelNotFoundError ||
    e instanceof StageConfigError
  )
    return { code: "stage_load_failed", message: `${where} could not load: ${message}` };
  return { code: "stage_unavailable", message: `${where} failed: ${message}` };
}
