// The streamed form of POST /v1/completions: data-only SSE in OpenAI's chunk shape. The chunks
// come from completion/stream.ts; this file frames them, notices a client that is gone or has
// stopped reading, and ends with the optional usage chunk and [DONE] (or an error event).

import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Generator } from "../engine/generator.js";
import type { CompletionChoice } from "../completion/choice.js";
import { cancelAll, usageOf, type Completion } from "../completion/run.js";
import { streamChoices } from "../completion/stream.js";
import type { CompletionParams } from "./completion-params.js";
import { keepAlive, type AppEnv } from "./context.js";
import { apiErrorOf } from "./errors.js";
import { WriteWatch } from "./write-watch.js";

export interface StreamJob {
  p: CompletionParams;
  engine: Generator;
  completion: Completion;
  head: { id: string; object: "text_completion"; created: number; model: string };
}

export function streamCompletion(c: Context<AppEnv>, job: StreamJob): Response {
  const { p, engine, completion, head } = job;
  const stallMs = c.get("deps").caps.streamStallMs;
  // With include_usage, every chunk carries usage: null except the final usage chunk.
  const nullUsage = p.includeUsage ? { usage: null } : {};
  let release!: () => void;
  keepAlive(c, new Promise<void>((r) => (release = r)));

  return streamSSE(c, async (stream) => {
    // The client went away (or stopped reading): stop generating; the engine frees the slots.
    stream.onAbort(() => cancelAll(completion.choices));
    // Where the runtime reports the disconnect (request.signal, enable_request_signal); aborting
    // the stream also releases writes stuck on the dead connection.
    const signal = c.req.raw.signal;
    const gone = () => stream.abort();
    signal?.addEventListener("abort", gone);
    if (signal?.aborted) gone();

    // A client whose writes stall (write-watch.ts: engine steps, or stallMs once it idles) is gone.
    const watch = new WriteWatch(engine, () => stream.abort(), stallMs);
    const send = async (data: string) => {
      if (!stream.aborted) await watch.drive(stream.writeSSE({ data }));
    };
    /**
     * Events go out in order, one in flight: emit waits for the previous write, starts this one
     * and returns, so the engine computes the next token while this one is written. A reader
     * that takes nothing still holds its driver after one event (backpressure is unchanged).
     */
    let inFlight = Promise.resolve();
    const emit = async (data: string) => {
      await inFlight;
      inFlight = send(data);
    };
    const write = (choice: CompletionChoice) =>
      emit(JSON.stringify({ ...head, choices: [choice], ...nullUsage }));

    try {
      await streamChoices(engine, completion, p.logprobs !== null, write);
      if (p.includeUsage) {
        await emit(JSON.stringify({ ...head, choices: [], usage: usageOf(completion) }));
      }
      await emit("[DONE]");
      await inFlight;
    } catch (e) {
      // A failure mid-stream: one `data: {"error": ...}` event (the openai client throws on it).
      await emit(JSON.stringify(apiErrorOf(e).body()));
      await inFlight;
    } finally {
      signal?.removeEventListener("abort", gone);
      release();
    }
  });
}
