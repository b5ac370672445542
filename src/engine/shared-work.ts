// Work that requests share (a model's load, a tokenizer's fetch) as state any of them can
// inspect, and the watch each waiter keeps on it: no request awaits a promise that only the
// request that started the work can settle, since that one may be cancelled or killed.

/** Shared work: its promise, and the heartbeat any waiter can read. */
export interface Shared<T> {
  promise: Promise<T>;
  /** Reads completed so far (manifest, tokenizer, shard chunks). */
  progress: number;
  settled: boolean;
}

export const STALLED = Symbol("stalled");
/** How often a waiter looks at the work's heartbeat. */
const POLL_MS = 100;

/**
 * The work's outcome, or STALLED once it has completed no read for stallMs. Measured with the
 * waiter's own timers against the work's reads (counted in polls, not read from the clock), so
 * it holds whoever owns the work.
 */
export function watch<T>(work: Shared<T>, stallMs: number): Promise<T | typeof STALLED> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<typeof STALLED>((resolve) => {
    let seen = work.progress;
    let quiet = 0;
    const tick = () => {
      if (work.settled) return;
      quiet = work.progress === seen ? quiet + POLL_MS : 0;
      seen = work.progress;
      if (quiet >= stallMs) resolve(STALLED);
      else timer = setTimeout(tick, POLL_MS);
    };
    timer = setTimeout(tick, POLL_MS);
  });
  return Promise.race([work.promise, stalled]).finally(() => clearTimeout(timer));
}
