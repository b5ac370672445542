// The streamed form of POST /v1/completions: data-only SSE in OpenAI's chunk shape. The chunks
// come from completion/stream.ts; this file frames them, notices a client that is gone or has
// stopped reading, and ends with the optional usage chunk and [DONE] (or an error event).

import type { Context } from "hono";
import type { Generator } from "../engine/generator.js";
import type { CompletionChoice } from "../completion/choice.js";
import { cancelAll, usageOf, type Completion } from "../completion/run.js";
import { streamChoices } from "../completion/stream.js";
import type { CompletionParams } from "./completion-params.js";
import { keepAlive, type AppEnv } from "./context.js";
import { apiErrorOf } from "./errors.js";
import { StreamBody } from "./stream-body.js";
import { stepsPerWrite } from "./write-batch.js";
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
  // A chunk is `{...head, choices: [choice]}`, with usage: null after it when include_usage asks
  // for a usage chunk at the end; the head's JSON is made once, not once per token.
  const chunkOpen = `${JSON.stringify(head).slice(0, -1)},"choices":[`;
  const chunkClose = p.includeUsage ? '],"usage":null}' : "]}";
  let release!: () => void;
  keepAlive(c, new Promise<void>((r) => (release = r)));

  const stream = new StreamBody();
  const body = async () => {
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
    /**
     * Events go out in order, one write in flight: emit queues its event and, when a write is
     * due, waits for the previous write and starts this one with every event queued, so the
     * engine computes the next token while it is written. A write is due for the first event
     * (the first token as soon as it exists), for the last, and once `every` events wait: a small
     * model's tokens share writes (write-batch.ts). A reader that takes nothing still holds its
     * driver after one write (backpressure is unchanged).
     */
    const every = stepsPerWrite(engine.lm.manifest.config);
    let queued: string[] = [];
    let first = true;
    let inFlight = Promise.resolve();
    const flush = async () => {
      const text = queued.join("");
      queued = [];
      if (text && !stream.aborted) await watch.drive(stream.write(text));
    };
    /** Queue an event; when a write is due, the previous write (undefined when none is due). */
    const emit = (data: string, last = false): Promise<void> | undefined => {
      queued.push(sseEvent(data));
      if (!first && !last && queued.length < every) return;
      first = false;
      const previous = inFlight;
      inFlight = previous.then(flush); // after the previous write: choices emit concurrently
      return previous;
    };
    const write = (choice: CompletionChoice) =>
      emit(chunkOpen + JSON.stringify(choice) + chunkClose);

    try {
      await streamChoices(engine, completion, p.logprobs !== null, write);
      if (p.includeUsage) {
        await emit(JSON.stringify({ ...head, choices: [], usage: usageOf(completion) }));
      }
      await emit("[DONE]", true);
      await inFlight;
    } catch (e) {
      // A failure mid-stream: one `data: {"error": ...}` event (the openai client throws on it).
      await emit(JSON.stringify(apiErrorOf(e).body()), true);
      await inFlight;
    } finally {
      signal?.removeEventListener("abort", gone);
    }
  };
  body()
    .catch((e) => console.error(e))
    .finally(() => stream.close())
    .finally(release);
  return c.newResponse(stream.readable, 200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
}

/**
 * One SSE event with only a data field, as Hono's writeSSE frames it (a data line per line).
 * JSON text has no line breaks (JSON.stringify escapes them), so an event is one line.
 */
function sseEvent(data: string): string {
  if (!/[\r\n]/.test(data)) return `data: ${data}\n\n`;
  return (
    data
      .split(/\r\n|\r|\n/)
      .map((line) => `data: ${line}\n`)
      .join("") + "\n"
  );
}
