// The first stage's side of one generation: a byte stream of event lines (protocol.ts) that the
// gateway reads, driven by engine.run as a request in this isolate would drive it. A gateway
// that cancels the stream or goes away fails the stream's writes: the sequence is cancelled at
// once and the engine frees its slot, here and (through the pipeline) in every later stage.

import type { Engine } from "../engine/engine.js";
import type { Sequence } from "../engine/sequence.js";
import type { Pipeline } from "./pipeline.js";
import { faultOf } from "./faults.js";
import { encodeLine, type Fault } from "./protocol.js";

/**
 * Stream `seq`'s events. workerd's IdentityTransformStream, not a JS TransformStream: its
 * cancellation reaches the writer across RPC (a JS one left our writes hanging when the gateway
 * cancelled), and a write completes when the gateway has read it, one line in flight.
 */
export function serveSequence(
  engine: Engine<Pipeline>,
  seq: Sequence,
): { stream: ReadableStream<Uint8Array>; done: Promise<void> } {
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  writer.closed.catch(() => (seq.cancelled = true)); // the gateway cancelled, or is gone
  const line = (events: Sequence["events"], end?: { fault?: Fault }) =>
    writer.write(
      encodeLine({
        // rounds, not steps: with depth micro-batches a sequence is in one step of every depth
        step: Math.floor(engine.stats.steps / engine.depth),
        events,
        finish: seq.finish,
        ...(end ? { end: true, ...end } : {}),
      }),
    );
  const done = (async () => {
    try {
      await engine.run(seq, (events) => line(events));
      await line([], {});
      await writer.close();
    } catch (e) {
      if (seq.cancelled) return; // nobody is reading
      await line([], { fault: faultOf(e) }).catch(() => {});
      await writer.close().catch(() => {});
    }
  })();
  return { stream: readable, done };
}
