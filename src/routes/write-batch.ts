// How often a response body is written while a generation runs: every engine step for a model
// whose token is costly, every few steps for a small one. Each write costs the Worker's own
// thread a fixed amount (the runtime moves the chunk to the connection in the event-loop turn
// after the step: 0.05-0.1 ms a write under wrangler dev, measured with timers in the Worker
// around a forward pass; assembly/PERF.md), which for the default model's 0.4-ms decode step was
// a fifth of the served rate. So a body gets at least WRITE_FLOPS of forward pass between two
// writes: its events (one SSE event per token) are the same, fewer chunks carry them. Counted in
// steps from the model's size, never in time: production clocks stand still during compute.

import { flopsPerToken } from "../engine/engine.js";
import type { ModelConfig } from "../model/manifest.js";

/** Forward-pass work between two writes of one body: ~1.5-2 ms of one core's kernels. */
export const WRITE_FLOPS = 64e6;

/** At most this many steps' events wait for one write (the latency a tiny model could add). */
export const MAX_STEPS_PER_WRITE = 16;

/**
 * Engine steps of one sequence per write of its body: 1 for GPT-2 124M and up (~250 MFLOP a
 * token), 9 for the default tiny model (~7 MFLOP).
 */
export function stepsPerWrite(config: ModelConfig): number {
  const steps = Math.ceil(WRITE_FLOPS / flopsPerToken(config));
  return Math.min(MAX_STEPS_PER_WRITE, Math.max(1, steps));
}
