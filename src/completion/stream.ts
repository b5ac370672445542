// A completion chunk by chunk: each choice's text goes out as soon as it is sampled (minus what
// might start a stop sequence), each logprobs entry with the chunk that completes its token, and
// finish_reason on the choice's last chunk. routes/completions-stream.ts frames them as SSE.

import type { Generator } from "../engine/generator.js";
import type { CompletionChoice } from "./choice.js";
import { cancelAll, drive, finishReason, type Choice, type Completion } from "./run.js";

/**
 * Drive every choice, handing each chunk to `write` (a promise when it writes: awaited, so a slow
 * reader slows only its own choice). A failure cancels every choice and is rethrown; a choice
 * cancelled from outside (the client went away) ends without its final chunk.
 */
export async function streamChoices(
  engine: Generator,
  c: Completion,
  withLogprobs: boolean,
  write: (chunk: CompletionChoice) => Promise<void> | void,
): Promise<void> {
  /** Send what the builder can release; the final chunk carries the finish reason. */
  const send = (ch: Choice, final: boolean): Promise<void> | void => {
    if (final) ch.builder.finish();
    const d = ch.builder.takeDelta(final);
    if (!final && !d.text && !d.logprobs?.tokens.length) return;
    return write({
      text: d.text,
      index: ch.index,
      logprobs: withLogprobs ? d.logprobs : null,
      finish_reason: final ? finishReason(ch) : null,
    });
  };

  const run = async (ch: Choice) => {
    let ended = false;
    await drive(engine, ch, (final) => {
      if (ended) return;
      // The token that finishes a sequence carries the finish reason in the same chunk.
      ended = final;
      return send(ch, ended);
    });
    if (ended || (ch.seq.cancelled && !ch.builder.stopped)) return; // done, or client gone
    await send(ch, true); // e.g. <|endoftext|>: a finish with no new text
  };

  try {
    await Promise.all(c.choices.map(run));
  } catch (e) {
    cancelAll(c.choices);
    throw e;
  }
}
