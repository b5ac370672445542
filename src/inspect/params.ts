// Validation of a POST /v1/inspect (and /v1/neighbours) body, with the limits that keep one
// response small: any prompt that fits the served context is inspected, but the attention
// matrices (which grow with the square of the prompt) are capped, and the answer says what was
// left out. Errors name the field (InspectParamError).

/** Most prompt tokens one inspection runs, when the model's context is longer still. */
export const MAX_INSPECT_TOKENS = 1024;
/** Prompt characters read at most, so tokenising a huge body is refused before it starts. */
export const MAX_INSPECT_CHARS = 4096;
/** Next tokens listed at the last position: enough for a chart plus cut-offs, 256 × ~40 B. */
export const MAX_TOP_N = 256;
/** Nearest neighbours listed: a readable list, not a vocabulary dump. */
export const MAX_NEIGHBOURS = 50;
/**
 * Attention weights returned, summed over the heads kept: T(T+1)/2 each (causal rows only).
 * 135,000 values at ≤ ~6.5 JSON bytes ("0.123," plus row brackets) is ≤ ~880 KB; it holds all 4
 * layers × 4 heads of the default model up to 128 tokens, and one whole layer (4 · 256·257/2 =
 * 131,584) at its full 256-token context. Past that, whole layers then heads are left out.
 */
export const MAX_ATTENTION_VALUES = 135_000;

export interface InspectParams {
  model: string;
  prompt: string;
  /** Top tokens at the last position, best first. */
  topN: number;
  /** Layers whose attention matrices are returned (the per-head summary covers all layers). */
  layers: number[] | "all";
  /** For each prompt position, the logprob of the actual token and the model's top 5 there. */
  promptLogprobs: boolean;
  /** Residual stream after the embedding and after each layer, projected to 3D. */
  hidden: boolean;
  /** wte rows projected to 3D: a sample of the vocabulary plus the prompt's tokens. */
  embeddings: boolean;
  /** Nearest neighbours (cosine over wte) of the last prompt token; 0 = none. */
  neighbours: number;
  /** The token the per-position views describe; -1 = the last. */
  position: number;
  /** The block and head seen from inside (focus); the cap keeps this layer's matrices first. */
  layer: number;
  head: number;
}

export interface NeighbourParams {
  model: string;
  tokenId: number | null;
  token: string | null;
  /** A vector query instead: Σ wte[plus] − Σ wte[minus], each entry text that is one token. */
  plus: string[];
  minus: string[];
  k: number;
}

/** A bad field; `param` names it for OpenAI's error shape. */
export class InspectParamError extends RangeError {
  constructor(
    readonly param: string,
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "InspectParamError";
  }
}

type Body = Record<string, unknown>;

function objectBody(body: unknown): Body {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new InspectParamError("body", "The request body must be a JSON object.");
  }
  const b = body as Body;
  if (typeof b.model !== "string" || b.model === "") {
    throw new InspectParamError(
      "model",
      "Missing required parameter: 'model' (a model id from GET /v1/models).",
    );
  }
  return b;
}

function int(b: Body, key: string, def: number, min: number, max: number): number {
  const v = b[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new InspectParamError(key, `Invalid '${key}': expected an integer, got ${kindOf(v)}.`);
  }
  if (v < min || v > max) {
    const code = v < min ? "integer_below_min_value" : "integer_above_max_value";
    throw new InspectParamError(key, `Invalid '${key}': ${v} is outside [${min}, ${max}].`, code);
  }
  return v;
}

/** What a bad value is, without echoing it (it may be megabytes, or nested too deep to print). */
const kindOf = (v: unknown) =>
  typeof v === "number"
    ? String(v)
    : Array.isArray(v)
      ? "an array"
      : v === null
        ? "null"
        : `a ${typeof v}`;

function bool(b: Body, key: string, def: boolean): boolean {
  const v = b[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "boolean")
    throw new InspectParamError(key, `Invalid '${key}': expected a boolean.`);
  return v;
}

function layers(v: unknown): number[] | "all" {
  if (v === undefined || v === null || v === "all") return "all";
  const bad = () =>
    new InspectParamError(
      "layers",
      "Invalid 'layers': expected \"all\" or an array of distinct layer indices (0-based; [] for none).",
    );
  if (!Array.isArray(v)) throw bad();
  if (!v.every((l) => typeof l === "number" && Number.isInteger(l) && l >= 0)) throw bad();
  if (new Set(v).size !== v.length) throw bad();
  return [...(v as number[])].sort((a, b) => a - b);
}

/** Parse the body; model-dependent checks (layer range, token count) are in checkAgainstModel. */
export function parseInspectParams(body: unknown): InspectParams {
  const b = objectBody(body);
  if (typeof b.prompt !== "string") {
    throw new InspectParamError("prompt", "Missing required parameter: 'prompt' (a string).");
  }
  if (b.prompt.length > MAX_INSPECT_CHARS) {
    throw new InspectParamError(
      "prompt",
      `'prompt' has ${b.prompt.length} characters; /v1/inspect reads at most ${MAX_INSPECT_CHARS}.`,
      "context_length_exceeded",
    );
  }
  return {
    model: b.model as string,
    prompt: b.prompt,
    topN: int(b, "top_n", 50, 1, MAX_TOP_N),
    layers: layers(b.layers),
    promptLogprobs: bool(b, "prompt_logprobs", true),
    hidden: bool(b, "hidden", true),
    embeddings: bool(b, "embeddings", true),
    neighbours: int(b, "neighbours", 10, 0, MAX_NEIGHBOURS),
    position: int(b, "position", -1, -1, MAX_INSPECT_TOKENS - 1),
    layer: int(b, "layer", 0, 0, 1000),
    head: int(b, "head", 0, 0, 1000),
  };
}

/** The most prompt tokens one inspection runs: the served context (plan.context) or less. */
export const maxInspectTokens = (context: number) => Math.min(MAX_INSPECT_TOKENS, context);

/**
 * The limits that need the model: prompt tokens, position, layer and head indices. `context` is
 * the context this server serves the model with (lm.plan.context: MAX_CONTEXT or the memory plan
 * may cap it below n_ctx); the forward pass has no KV positions past it.
 */
/** The 400 for a prompt of `tokens` tokens (a count, or "more than N") past what is read. */
export function tooLong(context: number, tokens: string): InspectParamError {
  const limit =
    context <= MAX_INSPECT_TOKENS
      ? `This model's maximum context length is ${context} tokens`
      : `/v1/inspect reads at most ${MAX_INSPECT_TOKENS} tokens`;
  return new InspectParamError(
    "prompt",
    `${limit}, however your prompt has ${tokens} tokens. Please reduce your prompt.`,
    "context_length_exceeded",
  );
}

export function checkAgainstModel(
  p: InspectParams,
  tokens: number,
  cfg: { n_layer: number; n_head: number },
  context: number,
): number[] {
  if (tokens > maxInspectTokens(context)) throw tooLong(context, String(tokens));
  if (p.position >= tokens) {
    throw new InspectParamError(
      "position",
      `Invalid 'position' ${p.position}: the prompt has tokens 0..${tokens - 1} (-1 = the last).`,
    );
  }
  const range = (key: "layer" | "head", n: number) => {
    if (p[key] >= n)
      throw new InspectParamError(
        key,
        `Invalid '${key}' ${p[key]}: this model has ${key}s 0..${n - 1}.`,
      );
  };
  range("layer", cfg.n_layer);
  range("head", cfg.n_head);
  const all = Array.from({ length: cfg.n_layer }, (_, l) => l);
  const chosen = p.layers === "all" ? all : p.layers;
  const bad = chosen.find((l) => l >= cfg.n_layer);
  if (bad !== undefined) {
    throw new InspectParamError(
      "layers",
      `Invalid 'layers': layer ${bad} does not exist; this model has layers 0..${cfg.n_layer - 1}.`,
    );
  }
  return chosen;
}

/**
 * Which heads' full matrices fit `limit` weights (MAX_ATTENTION_VALUES, or fewer where the JS
 * heap plan needs it: budget.ts): the focus layer first (its focus head first), then the other
 * requested layers in order, whole heads only. Also says what was left out.
 */
export function attentionPlan(
  layers: number[],
  focus: { layer: number; head: number },
  NH: number,
  T: number,
  limit = MAX_ATTENTION_VALUES,
): { keep: Map<number, number[]>; capped: string } {
  const perHead = (T * (T + 1)) / 2;
  const order = layers.includes(focus.layer)
    ? [focus.layer, ...layers.filter((l) => l !== focus.layer)]
    : layers;
  let budget = limit;
  const keep = new Map<number, number[]>();
  const left: string[] = [];
  for (const l of order) {
    const heads = Array.from({ length: NH }, (_, h) => h);
    if (l === focus.layer)
      heads.sort((a, b) => (a === focus.head ? -1 : b === focus.head ? 1 : a - b));
    const fit = Math.max(0, Math.min(NH, Math.floor(budget / perHead)));
    const kept = heads.slice(0, fit).sort((a, b) => a - b);
    budget -= kept.length * perHead;
    if (kept.length) keep.set(l, kept);
    if (kept.length < NH)
      left.push(kept.length ? `layer ${l} heads ${heads.slice(fit).join(", ")}` : `layer ${l}`);
  }
  const capped = left.length
    ? `At ${T} tokens the full attention matrices of ${left.join("; ")} were left out ` +
      `(${weightsCap(limit)}); every head's summary still covers all tokens.`
    : "";
  return { keep, capped };
}

const weightsCap = (limit: number) =>
  limit >= MAX_ATTENTION_VALUES
    ? `${MAX_ATTENTION_VALUES.toLocaleString("en-US")} weights per answer`
    : `${Math.floor(limit).toLocaleString("en-US")} weights: what this answer's share of the ` +
      `JS heap leaves beside the other views at this length`;

/** Up to 4 strings (each should be one token): the terms of a vector query. */
function terms(b: Body, key: string): string[] {
  const v = b[key];
  if (v === undefined || v === null) return [];
  if (
    !Array.isArray(v) ||
    v.length > 4 ||
    !v.every((x) => typeof x === "string" && x !== "" && x.length <= 64)
  ) {
    throw new InspectParamError(
      key,
      `Invalid '${key}': expected up to 4 non-empty strings, each one token.`,
    );
  }
  return v as string[];
}

export function parseNeighbourParams(body: unknown): NeighbourParams {
  const b = objectBody(body);
  const plus = terms(b, "plus");
  const minus = terms(b, "minus");
  if (plus.length > 0) {
    if (b.token_id != null || b.token != null) {
      throw new InspectParamError(
        "plus",
        "Give either 'plus' / 'minus' (a vector query) or one token.",
      );
    }
    return {
      model: b.model as string,
      tokenId: null,
      token: null,
      plus,
      minus,
      k: int(b, "k", 10, 1, MAX_NEIGHBOURS),
    };
  }
  if (minus.length > 0)
    throw new InspectParamError("plus", "'minus' needs at least one 'plus' term.");
  const hasId = b.token_id !== undefined && b.token_id !== null;
  const hasText = b.token !== undefined && b.token !== null;
  if (hasId === hasText) {
    throw new InspectParamError(
      hasId ? "token" : "token_id",
      "Give exactly one of 'token_id' (an integer id) or 'token' (text that is one token).",
    );
  }
  if (hasText && (typeof b.token !== "string" || b.token === "" || b.token.length > 256)) {
    throw new InspectParamError(
      "token",
      "Invalid 'token': expected a non-empty string (one token).",
    );
  }
  return {
    model: b.model as string,
    tokenId: hasId ? int(b, "token_id", 0, 0, Number.MAX_SAFE_INTEGER) : null,
    token: hasText ? (b.token as string) : null,
    plus,
    minus,
    k: int(b, "k", 10, 1, MAX_NEIGHBOURS),
  };
}
