// Whether a client still takes its response body, judged by the body's writes: once a write is
// pending, some write must complete (the runtime took the bytes) within WRITE_STALL_STEPS engine
// steps, or the client counts as gone. Counted in steps, not time, because production clocks
// stand still during compute; and needed at all because a hang-up does not always fail a write:
// behind wrangler dev's proxy a dead connection can leave the body's pump waiting forever.

import type { Engine } from "../engine/engine.js";

/**
 * Steps a pending write may wait with no write completing. A live reader completes a write within
 * a step or two; one behind a full socket still completes some as the socket drains.
 */
export const WRITE_STALL_STEPS = 32;

export class WriteWatch {
  private pending = 0;
  /** engine.stats.steps when the oldest pending write started or the last write completed. */
  private progress = 0;
  gone = false;

  constructor(
    private readonly engine: Engine,
    private readonly onGone: () => void,
    private readonly limit = WRITE_STALL_STEPS,
  ) {}

  /** No write pending. */
  get idle(): boolean {
    return this.pending === 0;
  }

  /** Count `write` as pending until it settles; resolves (never rejects) when it does. */
  track(write: Promise<unknown>): Promise<void> {
    if (this.pending++ === 0) this.progress = this.engine.stats.steps;
    return write.then(
      () => {
        this.pending--;
        this.progress = this.engine.stats.steps;
      },
      () => void this.pending--,
    );
  }

  /** Whether the client is gone: declares it (once) when writes have stalled for `limit` steps. */
  check(): boolean {
    if (!this.gone && this.pending > 0 && this.engine.stats.steps - this.progress >= this.limit) {
      this.gone = true;
      this.onGone();
    }
    return this.gone;
  }

  /**
   * Wait for a write, driving the engine meanwhile: every driver of this request may be waiting
   * on this client, and only steps can tell a stalled write from a slow one. Returns when the
   * write completes, the client is declared gone, or (the engine having nothing left to compute)
   * leaves the write to the caller's own deadline.
   */
  async drive(write: Promise<unknown>): Promise<void> {
    let settled = false;
    const tracked = this.track(write).then(() => void (settled = true));
    while (!settled && !this.check()) {
      const busy = await Promise.race([tracked.then(() => true), this.engine.turn()]);
      if (!busy) return tracked;
    }
  }
}
