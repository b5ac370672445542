// The streamed form of POST /v1/completions: data-only SSE in OpenAI's chunk shape. Each
// choice's text goes out as soon as it is sampled (minus what might start a stop sequence);
// finish_reason rides on its last content chunk; then the optional usage chunk and [DONE].

import type { Context } from "hono";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import type { Engine } from "../engine/engine.js";
import type { CompletionChoice } from "./choice.js";
import type { CompletionParams } from "./completion-params.js";
import { cancelAll, drive, finishReason, type Choice } from "./completion-run.js";
import { keepAlive, type AppEnv } from "./context.js";
import { ApiError } from "./errors.js";

export interface StreamJob {
  p: CompletionParams;
  engine: Engine;
  choices: Choice[];
  head: { id: string; object: "text_completion"; created: number; model: string };
  usage: () => { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

export function streamCompletion(c: Context<AppEnv>, job: StreamJob): Response {
  const { p, engine, choices, head } = job;
  const stallMs = c.get("deps").caps.streamStallMs;
  // With include_usage, every chunk carries usage: null except the final usage chunk.
  const nullUsage = p.includeUsage ? { usage: null } : {};
  let release!: () => void;
  keepAlive(c, new Promise<void>((r) => (release = r)));

  return streamSSE(c, async (stream) => {
    // The client went away (or stopped reading): stop generating; the engine frees the slots.
    stream.onAbort(() => cancelAll(choices));
    // Where the runtime reports the disconnect (request.signal, enable_request_signal); aborting
    // the stream also releases writes stuck on the dead connection.
    const signal = c.req.raw.signal;
    const gone = () => stream.abort();
    signal?.addEventListener("abort", gone);
    if (signal?.aborted) gone();

    /** One event; a client that has not taken the previous ones for stallMs counts as gone. */
    const emit = async (data: string) => {
      if (stream.aborted) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<void>((r) => {
        timer = setTimeout(() => r(stream.abort()), stallMs);
      });
      try {
        await Promise.race([stream.writeSSE({ data }), stalled]);
      } finally {
        clearTimeout(timer);
      }
    };
    const write = (choice: CompletionChoice) =>
      emit(JSON.stringify({ ...head, choices: [choice], ...nullUsage }));

    /** Send what the builder can release; the final chunk carries the finish reason. */
    const send = async (ch: Choice, final: boolean) => {
      if (final) ch.builder.finish();
      const d = ch.builder.takeDelta(final);
      if (!final && !d.text && !d.logprobs?.tokens.length) return;
      await write({
        text: d.text,
        index: ch.index,
        logprobs: p.logprobs === null ? null : d.logprobs,
        finish_reason: final ? finishReason(ch) : null,
      });
    };

    const run = async (ch: Choice) => {
      let ended = false;
      await drive(engine, ch, async (final) => {
        if (ended) return;
        // The token that finishes a sequence carries the finish reason in the same chunk.
        ended = final;
        await send(ch, ended);
      });
      if (ended || (ch.seq.cancelled && !ch.builder.stopped)) return; // done, or client gone
      await send(ch, true); // e.g. <|endoftext|>: a finish with no new text
    };

    try {
      await Promise.all(choices.map(run));
      if (p.includeUsage) await emit(JSON.stringify({ ...head, choices: [], usage: job.usage() }));
      await emit("[DONE]");
    } catch (e) {
      cancelAll(choices);
      await writeError(stream, e);
    } finally {
      signal?.removeEventListener("abort", gone);
      release();
    }
  });
}

/** A failure mid-stream: one `data: {"error": ...}` event (the openai client throws on it). */
async function writeError(stream: SSEStreamingApi, e: unknown): Promise<void> {
  console.error("completion stream failed", e);
  const err =
    e instanceof ApiError
      ? e
      : new ApiError(500, `Generation failed: ${(e as Error)?.message ?? e}`, "server_error");
  if (!stream.aborted) await stream.writeSSE({ data: JSON.stringify(err.body()) });
}
