// How one stage object reaches another: a Durable Object stub per call (a stub that has thrown
// may be broken, a new one is not), a timeout on every call (a stage that never answers fails
// the step instead of holding it), and one retry, which is safe: a forward call rewrites the
// same positions with the same values, and freeing twice frees once.

import type { StageLink } from "./pipeline.js";
import { StageError, type Fault, type StageAnswer, type StageBatch } from "./protocol.js";

/** The RPC methods of a stage after the first (stage.ts), as a stub shows them. */
export interface LaterStageRpc {
  forward(batch: StageBatch): Promise<StageAnswer>;
  /** Load now, so the first request meets no cold stage; a fault if it cannot. */
  warm(): Promise<Fault | null>;
  status(): Promise<object>;
}

/** A stage's objects: the Durable Object namespace it is bound as. */
export interface StageNamespace {
  getByName(name: string): unknown;
}

export interface Link extends StageLink {
  warm(): Promise<void>;
  status(): Promise<object>;
}

/** Stage `index`'s object `name`, called with `timeoutMs` per call (status: at most 5 s). */
export function linkTo(ns: StageNamespace, index: number, name: string, timeoutMs: number): Link {
  const stub = () => ns.getByName(name) as LaterStageRpc;
  const call = <T>(what: string, f: (s: LaterStageRpc) => Promise<T>, ms = timeoutMs) =>
    callStage(index, what, () => f(stub()), ms);
  return {
    index,
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
): Promise<T> {
  let last: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return await withTimeout(f(), ms, `no answer in ${ms} ms`);
    } catch (e) {
      last = e;
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
