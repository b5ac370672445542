// How one stage object reaches another: one Durable Object stub while it works, since calls
// through one stub arrive in the order they were made (E-order; there is none between stubs),
// so a call carrying frees only is not overtaken by the next batch; a new stub after any
// failure (a stub that has thrown is broken for good); a timeout on every call (a stage that
// never answers fails the step instead of holding it), and one retry, which is safe: a forward
// call rewrites the same positions with the same values, and freeing twice frees once. Every
// stub of a stage object, the gateway's too, comes from stageStub: named by its replica,
// placed by its hint.

import type { StageLink } from "./pipeline.js";
import { StageError, type Fault, type StageAnswer, type StageBatch } from "./protocol.js";
import type { LocationHint } from "./replicas.js";

/** The RPC methods of a stage after the first (stage.ts), as a stub shows them. */
export interface LaterStageRpc {
  forward(batch: StageBatch): Promise<StageAnswer>;
  /** Load now, so the first request meets no cold stage; a fault if it cannot. */
  warm(): Promise<Fault | null>;
  status(): Promise<object>;
}

/** A stage's objects: the Durable Object namespace it is bound as. */
export interface StageNamespace {
  getByName(name: string, options?: { locationHint?: LocationHint }): unknown;
}

/**
 * A stub of object `name` (replicaObject) in `ns`. An object is created at its first stub, near
 * `hint` if there is one; later stubs reach it wherever it is (the hint is then ignored).
 */
export function stageStub<T>(ns: StageNamespace, name: string, hint?: LocationHint): T {
  return ns.getByName(name, hint ? { locationHint: hint } : {}) as T;
}

export interface Link extends StageLink {
  /** Where the object is created if this link is first to reach it. */
  readonly hint?: LocationHint;
  warm(): Promise<void>;
  status(): Promise<object>;
}

/**
 * Stage `index`'s object `name`, created near `hint` (the first stage's own), called with
 * `timeoutMs` per call (status: at most 5 s).
 */
export function linkTo(
  ns: StageNamespace,
  index: number,
  name: string,
  hint: LocationHint | undefined,
  timeoutMs: number,
): Link {
  let current: LaterStageRpc | null = null;
  const call = <T>(what: string, f: (s: LaterStageRpc) => Promise<T>, ms = timeoutMs) => {
    let used: LaterStageRpc | null = null;
    const attempt = () => f((used = current ??= stageStub<LaterStageRpc>(ns, name, hint)));
    // a call that threw or timed out: the next one takes a new stub (unless one already has)
    const failed = () => void (current === used && (current = null));
    return callStage(index, what, attempt, ms, failed);
  };
  return {
    index,
    hint,
    forward: (batch) => call("forward", (s) => s.forward(batch)),
    warm: async () => {
      const fault = await call("warm", (s) => s.warm());
      if (fault) throw new StageError(fault);
    },
    status: () => call("status", (s) => s.status(), Math.min(timeoutMs, 5000)),
  };
}

/** f() within ms, retried once on any failure; then a stage_unavailable StageError. */
async function callStage<T>(
  index: number,
  what: string,
  f: () => Promise<T>,
  ms: number,
  failed: () => void,
): Promise<T> {
  let last: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return await withTimeout(f(), ms, `no answer in ${ms} ms`);
    } catch (e) {
      last = e;
      failed();
    }
  }
  const why = last instanceof Error ? last.message : String(last);
  throw new StageError({
    code: "stage_unavailable",
    message: `Pipeline stage ${index} is unreachable (${what}: ${why}); retry shortly.`,
  });
}

/** p, or a rejection with `message` after ms. */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
