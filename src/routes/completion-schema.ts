// The POST /v1/completions body as a valibot schema: types, ranges and the server's caps, with
// the API's error wording. completion-params.ts runs it; openapi.ts publishes it.

import * as v from "valibot";
import { boolField, intField, numField, plainObject, preview } from "./validate.js";

export interface Caps {
  maxN: number;
  maxTokens: number;
  /** Most sequences one request may start: prompts × best_of. */
  maxChoices: number;
}

export const REQUIRED = {
  model: "Missing required parameter: 'model' (a model id from GET /v1/models).",
};

export const INTEGERS: ReadonlySet<string> = new Set([
  "n",
  "best_of",
  "max_tokens",
  "top_k",
  "logprobs",
]);

const BAD_PROMPT =
  "Invalid 'prompt': expected a string, an array of strings, an array of token ids, " +
  "or an array of arrays of token ids.";
const EMPTY_PROMPT = "Invalid 'prompt': the array is empty.";
const tokenId = v.pipe(v.number(BAD_PROMPT), v.integer(BAD_PROMPT));

const prompt = v.nullish(
  v.pipe(
    v.union(
      [
        v.string(),
        v.array(v.string()),
        v.array(tokenId),
        v.array(v.pipe(v.array(tokenId), v.nonEmpty(BAD_PROMPT))),
      ],
      BAD_PROMPT,
    ),
    v.check((p) => typeof p === "string" || p.length > 0, EMPTY_PROMPT),
    v.description(
      "A string, strings, token ids, or arrays of token ids; a list gives one group of " +
        "choices per prompt; empty starts from <|endoftext|>.",
    ),
  ),
);

/**
 * Stop sequences per request. OpenAI takes 4; vLLM any number; lm-eval's local-completions sends
 * a task's stops plus the EOS string without truncating them (humaneval: 9). Each costs the
 * driver a matcher step per generated character (ChoiceBuilder), whatever its length.
 */
const MAX_STOPS = 16;
const BAD_STOP = `Invalid 'stop': expected a string or an array of up to ${MAX_STOPS} strings.`;
const stop = v.nullish(
  v.pipe(
    v.union(
      [
        v.string(),
        v.pipe(
          v.array(v.string()),
          v.maxLength(
            MAX_STOPS,
            (i) =>
              `Invalid 'stop': at most ${MAX_STOPS} stop sequences are allowed, got ${(i.input as unknown[]).length}.`,
          ),
        ),
      ],
      BAD_STOP,
    ),
    v.description(
      `Up to ${MAX_STOPS} sequences that end generation; the stop text is never returned.`,
    ),
  ),
);

const BAD_BIAS = "Invalid 'logit_bias': expected an object of token id -> bias.";
const BAD_BIAS_VALUE = "Invalid 'logit_bias': bias for {key} must be a number in [-100, 100].";
const logitBias = v.nullish(
  v.pipe(
    plainObject(BAD_BIAS),
    v.record(
      v.pipe(v.string(), v.regex(/^\d+$/, "Invalid 'logit_bias': key '{key}' is not a token id.")),
      v.pipe(
        v.number(BAD_BIAS_VALUE),
        v.finite(BAD_BIAS_VALUE),
        v.minValue(-100, BAD_BIAS_VALUE),
        v.maxValue(100, BAD_BIAS_VALUE),
      ),
      BAD_BIAS,
    ),
    v.description("Token id (as a string) -> bias added to its logit before sampling."),
  ),
);

const BAD_OPTIONS = "Invalid 'stream_options': expected an object.";
const streamOptions = v.nullish(
  v.pipe(
    plainObject(BAD_OPTIONS),
    v.object(
      {
        include_usage: v.nullish(
          v.boolean("Invalid 'stream_options': 'include_usage' must be a boolean."),
        ),
      },
      BAD_OPTIONS,
    ),
  ),
);

/** The request body's schema under the server's caps (see completionSchema for caching). */
function buildSchema(caps: Caps) {
  return v.object(
    {
      model: v.pipe(
        v.string(REQUIRED.model),
        v.nonEmpty(REQUIRED.model),
        v.description("A model id from GET /v1/models."),
      ),
      suffix: v.nullish(v.literal("", "'suffix' (insertion) is not supported by GPT-2 models.")),
      user: v.nullish(v.string("Invalid 'user': expected a string.")),
      n: intField("n", 1, caps.maxN, "Choices per prompt."),
      stream: boolField("stream", "Stream the completion as server-sent events."),
      stream_options: streamOptions,
      best_of: intField(
        "best_of",
        1,
        Math.max(20, caps.maxN),
        "Candidates per prompt (≥ n); the n with the highest mean logprob are returned.",
      ),
      prompt,
      max_tokens: intField(
        "max_tokens",
        0,
        caps.maxTokens,
        "Tokens to generate (default 16 or what fits); 0 only scores the prompt.",
      ),
      temperature: numField("temperature", 0, 2, "Sampling temperature; 0 is greedy."),
      top_p: numField("top_p", 0, 1, "Nucleus sampling."),
      top_k: intField("top_k", 0, 1_000_000, "Keep the k most likely tokens (0: off)."),
      min_p: numField("min_p", 0, 1, "Drop tokens less likely than min_p × the most likely."),
      logprobs: v.nullish(
        v.union(
          [v.boolean(), intField("logprobs", 0, 5, "")],
          (i) => `Invalid 'logprobs': expected an integer, got ${preview(i.input)}.`,
        ),
      ),
      echo: boolField("echo", "Return the prompt before the completion."),
      ignore_eos: boolField("ignore_eos", "Keep generating past <|endoftext|>."),
      stop,
      presence_penalty: numField(
        "presence_penalty",
        -2,
        2,
        "Penalty for tokens already generated.",
      ),
      frequency_penalty: numField("frequency_penalty", -2, 2, "Penalty per occurrence."),
      repetition_penalty: numField(
        "repetition_penalty",
        0.01,
        10,
        "CTRL-style penalty over prompt and generated tokens (1: off).",
      ),
      logit_bias: logitBias,
      seed: v.nullish(
        v.pipe(
          v.number("Invalid 'seed': expected an integer."),
          v.integer("Invalid 'seed': expected an integer."),
          v.description("Same seed + same parameters = same text."),
        ),
      ),
    },
    REQUIRED.model,
  );
}

export type CompletionBody = v.InferOutput<ReturnType<typeof buildSchema>>;

const schemas = new WeakMap<Caps, ReturnType<typeof buildSchema>>();

/** The schema for these caps, built once per caps object (the app's caps live per isolate). */
export function completionSchema(caps: Caps) {
  let s = schemas.get(caps);
  if (!s) schemas.set(caps, (s = buildSchema(caps)));
  return s;
}
