// Validation of a POST /v1/completions body into typed parameters. Every field of OpenAI's
// Completions request is checked against the spec's ranges; a bad one is a 400 naming it.

import { invalid } from "./errors.js";

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

export interface Caps {
  maxN: number;
  maxTokens: number;
  /** Most sequences one request may start: prompts × best_of. */
  maxChoices: number;
}

type Body = Record<string, unknown>;

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

function num(b: Body, key: string, def: number, min: number, max: number): number {
  const v = b[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw invalid(key, `Invalid '${key}': expected a number, got ${JSON.stringify(v)}.`);
  }
  if (v < min || v > max) {
    const code = v < min ? "decimal_below_min_value" : "decimal_above_max_value";
    throw invalid(
      key,
      `Invalid '${key}': ${v} is outside the allowed range [${min}, ${max}].`,
      code,
    );
  }
  return v;
}

function int(b: Body, key: string, def: number, min: number, max: number): number {
  const v = b[key];
  if (v === undefined || v === null) return def;
  if (!isInt(v))
    throw invalid(key, `Invalid '${key}': expected an integer, got ${JSON.stringify(v)}.`);
  if (v < min)
    throw invalid(
      key,
      `Invalid '${key}': ${v} is below the minimum ${min}.`,
      "integer_below_min_value",
    );
  if (v > max)
    throw invalid(
      key,
      `Invalid '${key}': ${v} is above the maximum ${max}.`,
      "integer_above_max_value",
    );
  return v;
}

function bool(b: Body, key: string): boolean {
  const v = b[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw invalid(key, `Invalid '${key}': expected a boolean.`);
  return v;
}

function prompts(v: unknown): Prompt[] {
  const bad = () =>
    invalid(
      "prompt",
      "Invalid 'prompt': expected a string, an array of strings, an array of token ids, " +
        "or an array of arrays of token ids.",
    );
  if (v === undefined || v === null) return [{ text: "" }];
  if (typeof v === "string") return [{ text: v }];
  if (!Array.isArray(v)) throw bad();
  if (v.length === 0) throw invalid("prompt", "Invalid 'prompt': the array is empty.");
  if (v.every((x) => typeof x === "string")) return v.map((text) => ({ text }));
  if (v.every(isInt)) return [{ ids: v }];
  if (v.every((x) => Array.isArray(x) && x.length > 0 && x.every(isInt))) {
    return v.map((ids: number[]) => ({ ids }));
  }
  throw bad();
}

/** Stop sequences; empty strings (which some clients send for "none") are ignored. */
function stops(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === "string")) {
    throw invalid("stop", "Invalid 'stop': expected a string or an array of up to 4 strings.");
  }
  if (list.length > 4) {
    throw invalid(
      "stop",
      `Invalid 'stop': at most 4 stop sequences are allowed, got ${list.length}.`,
    );
  }
  return list.filter((s) => s.length > 0);
}

function logitBias(v: unknown): Map<number, number> | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) {
    throw invalid("logit_bias", "Invalid 'logit_bias': expected an object of token id -> bias.");
  }
  const m = new Map<number, number>();
  for (const [k, bias] of Object.entries(v as Body)) {
    if (!/^\d+$/.test(k))
      throw invalid("logit_bias", `Invalid 'logit_bias': key '${k}' is not a token id.`);
    if (typeof bias !== "number" || !Number.isFinite(bias) || bias < -100 || bias > 100) {
      throw invalid(
        "logit_bias",
        `Invalid 'logit_bias': bias for ${k} must be a number in [-100, 100].`,
      );
    }
    m.set(Number(k), bias);
  }
  return m;
}

function seed(v: unknown): bigint | null {
  if (v === undefined || v === null) return null;
  if (!isInt(v)) throw invalid("seed", "Invalid 'seed': expected an integer.");
  return BigInt(v);
}

export function parseCompletionParams(body: unknown, caps: Caps): CompletionParams {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid("body", "The request body must be a JSON object.");
  }
  const b = body as Body;
  if (typeof b.model !== "string" || b.model === "") {
    throw invalid("model", "Missing required parameter: 'model' (a model id from GET /v1/models).");
  }
  if (b.suffix !== undefined && b.suffix !== null && b.suffix !== "") {
    throw invalid("suffix", "'suffix' (insertion) is not supported by GPT-2 models.");
  }
  if (b.user !== undefined && b.user !== null && typeof b.user !== "string") {
    throw invalid("user", "Invalid 'user': expected a string.");
  }
  const n = int(b, "n", 1, 1, caps.maxN);
  const stream = bool(b, "stream");
  const so = b.stream_options;
  if (so !== undefined && so !== null && (typeof so !== "object" || Array.isArray(so))) {
    throw invalid("stream_options", "Invalid 'stream_options': expected an object.");
  }
  if (so && !stream) {
    throw invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.");
  }
  const bestOf = int(b, "best_of", n, 1, Math.max(20, n));
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
    maxTokens:
      b.max_tokens === undefined || b.max_tokens === null
        ? null
        : int(b, "max_tokens", 16, 0, caps.maxTokens),
    temperature: num(b, "temperature", 1, 0, 2),
    top_p: num(b, "top_p", 1, 0, 1),
    top_k: int(b, "top_k", 0, 0, 1_000_000),
    min_p: num(b, "min_p", 0, 0, 1),
    n,
    bestOf,
    stream,
    includeUsage: Boolean(so && (so as Body).include_usage === true),
    logprobs:
      b.logprobs === undefined || b.logprobs === null || b.logprobs === false
        ? null
        : b.logprobs === true
          ? 0
          : int(b, "logprobs", 0, 0, 5),
    echo: bool(b, "echo"),
    ignoreEos: bool(b, "ignore_eos"),
    stop: stops(b.stop),
    presence_penalty: num(b, "presence_penalty", 0, -2, 2),
    frequency_penalty: num(b, "frequency_penalty", 0, -2, 2),
    repetition_penalty: num(b, "repetition_penalty", 1, 0.01, 10),
    logitBias: logitBias(b.logit_bias),
    seed: seed(b.seed),
  };
}
