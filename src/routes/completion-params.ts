// A POST /v1/completions body into typed parameters: the schema (completion-schema.ts) checks
// every field against the spec's ranges and the caps, then the rules that span fields.

import {
  completionSchema,
  INTEGERS,
  REQUIRED,
  type Caps,
  type CompletionBody,
} from "./completion-schema.js";
import { invalid } from "./errors.js";
import { parseBody } from "./validate.js";

export type { Caps } from "./completion-schema.js";

export type Prompt = { text: string } | { ids: number[] };

export interface CompletionParams {
  model: string;
  prompts: Prompt[];
  maxTokens: number | null; // null: not given (default 16, clamped to the context)
  temperature: number;
  top_p: number;
  top_k: number;
  min_p: number;
  n: number;
  bestOf: number;
  stream: boolean;
  includeUsage: boolean;
  logprobs: number | null;
  echo: boolean;
  /** Extension (vLLM's): keep generating past <|endoftext|> until max_tokens or a stop string. */
  ignoreEos: boolean;
  stop: string[];
  presence_penalty: number;
  frequency_penalty: number;
  repetition_penalty: number;
  logitBias: Map<number, number> | null;
  seed: bigint | null;
}

type Body = CompletionBody;

/** Stop sequences; empty strings (which some clients send for "none") are ignored. */
const stops = (v: Body["stop"]): string[] =>
  (v === undefined || v === null ? [] : typeof v === "string" ? [v] : v).filter((s) => s !== "");

function prompts(v: Body["prompt"]): Prompt[] {
  if (v === undefined || v === null) return [{ text: "" }];
  if (typeof v === "string") return [{ text: v }];
  if (v.every((x) => typeof x === "string")) return (v as string[]).map((text) => ({ text }));
  if (v.every((x) => typeof x === "number")) return [{ ids: v as number[] }];
  return (v as number[][]).map((ids) => ({ ids }));
}

function logitBias(v: Body["logit_bias"]): Map<number, number> | null {
  if (v === undefined || v === null) return null;
  return new Map(Object.entries(v).map(([k, bias]) => [Number(k), bias]));
}

/** Check a POST /v1/completions body (completion-schema.ts) and apply the cross-field rules. */
export function parseCompletionParams(body: unknown, caps: Caps): CompletionParams {
  const b = parseBody(completionSchema(caps), body, { required: REQUIRED, integers: INTEGERS });
  const n = b.n ?? 1;
  const stream = b.stream ?? false;
  const so = b.stream_options;
  if (so && !stream) {
    throw invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.");
  }
  const bestOf = b.best_of ?? n;
  if (bestOf < n) throw invalid("best_of", "'best_of' must be greater than or equal to 'n'.");
  if (bestOf > n && stream) throw invalid("best_of", "'best_of' > 'n' cannot be streamed.");
  const list = prompts(b.prompt);
  if (list.length * bestOf > caps.maxChoices) {
    throw invalid(
      list.length > 1 ? "prompt" : bestOf > n ? "best_of" : "n",
      `This request would generate ${list.length * bestOf} sequences (${list.length} prompt(s) × ` +
        `${bestOf}); this server allows at most ${caps.maxChoices} per request. Split it up.`,
    );
  }
  return {
    model: b.model,
    prompts: list,
    maxTokens: b.max_tokens ?? null,
    temperature: b.temperature ?? 1,
    top_p: b.top_p ?? 1,
    top_k: b.top_k ?? 0,
    min_p: b.min_p ?? 0,
    n,
    bestOf,
    stream,
    includeUsage: so?.include_usage === true,
    logprobs:
      b.logprobs === undefined || b.logprobs === null || b.logprobs === false
        ? null
        : b.logprobs === true
          ? 0
          : b.logprobs,
    echo: b.echo ?? false,
    ignoreEos: b.ignore_eos ?? false,
    stop: stops(b.stop),
    presence_penalty: b.presence_penalty ?? 0,
    frequency_penalty: b.frequency_penalty ?? 0,
    repetition_penalty: b.repetition_penalty ?? 1,
    logitBias: logitBias(b.logit_bias),
    seed: b.seed === undefined || b.seed === null ? null : BigInt(b.seed),
  };
}
