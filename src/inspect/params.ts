// Validation of a POST /v1/inspect (and /v1/neighbours) body, with the limits that keep one
// response small: the attention matrices grow with the square of the prompt, so the prompt,
// the layers and the top-N lists are all capped. Errors name the field (InspectParamError).

/** Most prompt tokens one inspection runs: 128 keeps every payload below ~1 MB (see below). */
export const MAX_INSPECT_TOKENS = 128;
/** Prompt characters read at most, so tokenising a huge body is refused before it starts. */
export const MAX_INSPECT_CHARS = 4096;
/** Next tokens listed at the last position: enough for a chart plus cut-offs, 256 × ~40 B. */
export const MAX_TOP_N = 256;
/** Nearest neighbours listed: a readable list, not a vocabulary dump. */
export const MAX_NEIGHBOURS = 50;
/**
 * Attention weights returned, summed over the requested layers: NH × T(T+1)/2 each (causal rows
 * only). 2^17 values at ~6.5 JSON bytes ("0.123," plus row brackets) is ≤ ~850 KB; it holds all 4 layers × 4 heads
 * of the default model at up to ~127 tokens, or one 12-head GPT-2 layer at 128.
 */
export const MAX_ATTENTION_VALUES = 2 ** 17;

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
}

export interface NeighbourParams {
  model: string;
  tokenId: number | null;
  token: string | null;
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
  };
}

/** The limits that need the model: prompt tokens, layer indices, attention payload size. */
export function checkAgainstModel(
  p: InspectParams,
  tokens: number,
  cfg: { n_layer: number; n_head: number; n_ctx: number },
): number[] {
  const maxTokens = Math.min(MAX_INSPECT_TOKENS, cfg.n_ctx);
  if (tokens > maxTokens) {
    throw new InspectParamError(
      "prompt",
      `'prompt' is ${tokens} tokens; /v1/inspect accepts at most ${maxTokens} ` +
        "(its attention and hidden-state views grow with the square of the length). Shorten it.",
      "context_length_exceeded",
    );
  }
  const all = Array.from({ length: cfg.n_layer }, (_, l) => l);
  const chosen = p.layers === "all" ? all : p.layers;
  const bad = chosen.find((l) => l >= cfg.n_layer);
  if (bad !== undefined) {
    throw new InspectParamError(
      "layers",
      `Invalid 'layers': layer ${bad} does not exist; this model has layers 0..${cfg.n_layer - 1}.`,
    );
  }
  const perLayer = (cfg.n_head * tokens * (tokens + 1)) / 2;
  if (chosen.length * perLayer > MAX_ATTENTION_VALUES) {
    const fit = Math.floor(MAX_ATTENTION_VALUES / perLayer);
    throw new InspectParamError(
      "layers",
      `Asking for the attention of ${chosen.length} layers × ${cfg.n_head} heads at ${tokens} tokens ` +
        `is ${chosen.length * perLayer} weights; the limit is ${MAX_ATTENTION_VALUES}. ` +
        `Ask for at most ${fit} layer${fit === 1 ? "" : "s"} at a time, e.g. "layers": [0].`,
      "attention_too_large",
    );
  }
  return chosen;
}

export function parseNeighbourParams(body: unknown): NeighbourParams {
  const b = objectBody(body);
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
    k: int(b, "k", 10, 1, MAX_NEIGHBOURS),
  };
}
