// Whether a client still takes its response body, judged by the body's writes: once a write is
// pending, some write must complete (the runtime took the bytes) within WRITE_STALL_ROUNDS engine
// rounds (driver turns that stepped: one step each, or a few for a small model, engine.ts), or the
// client counts as gone. Counted in rounds, not time, because production clocks
// stand still during compute; and needed at all because a hang-up does not always fail a write:
// behind wrangler dev's proxy a dead connection can leave the body's pump waiting forever. Once
// the engine has nothing left to compute, no step will come: then STREAM_STALL_MS of wall time
// decides (the clock moves while the isolate idles, in production too).

import { nextTurn } from "../engine/engine.js";
import type { Generator } from "../engine/generator.js";

/**
 * Rounds a pending write may wait with no write completing. A live reader completes a write within
 * a round or two; one behind a full socket still completes some as the socket drains. Fewer
 * free a dead client's slots sooner under load (where steps are slowest), more forgive a client
 * whose network stalls for a while: production also has request.signal for a hang-up.
 */
export const WRITE_STALL_ROUNDS = 16;

export class WriteWatch {
  private pending = 0;
  /** engine.stats.rounds when the oldest pending write started or the last write completed. */
  private progress = 0;
  gone = false;

  constructor(
    private readonly engine: Generator,
    private readonly onGone: () => void,
    /** How long a write may wait once the engine is idle, ms. */
    private readonly stallMs: number,
    private readonly limit = WRITE_STALL_ROUNDS,
  ) {}

  /** No write pending. */
  get idle(): boolean {
    return this.pending === 0;
  }

  /** Count `write` as pending until it settles; resolves (never rejects) when it does. */
  track(write: Promise<unknown>): Promise<void> {
    if (this.pending++ === 0) this.progress = this.engine.stats.rounds;
    return write.then(
      () => {
        this.pending--;
        this.progress = this.engine.stats.rounds;
      },
      () => void this.pending--,
    );
  }

  /** Whether the client is gone: declares it (once) when writes have stalled for `limit` rounds. */
  check(): boolean {
    if (this.pending > 0 && this.engine.stats.rounds - this.progress >= this.limit) this.declare();
    return this.gone;
  }

  private declare(): void {
    if (this.gone) return;
    this.gone = true;
    this.onGone();
  }

  /**
   * Wait for a write, driving the engine meanwhile: every driver of this request may be waiting
   * on this client, and only rounds can tell a stalled write from a slow one. Returns when the
   * write completes or the client is declared gone (never later than stallMs after the engine
   * went idle), so no request waits on a dead client for ever. The write gets an event-loop
   * turn first: the runtime moves its bytes to the connection only once JavaScript yields, and
   * a round driven at once would hold them (the first token's too) for that round's steps.
   */
  async drive(write: Promise<unknown>): Promise<void> {
    let settled = false;
    const tracked = this.track(write).then(() => void (settled = true));
    await Promise.race([tracked, nextTurn()]);
    while (!settled && !this.check()) {
      if (await Promise.race([tracked.then(() => true), this.engine.turn()])) continue;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((r) => (timer = setTimeout(r, this.stallMs)));
      await Promise.race([tracked, late]);
      clearTimeout(timer);
      if (!settled) this.declare();
    }
  }
}
