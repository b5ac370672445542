// The shapes of POST /v1/inspect and POST /v1/neighbours answers, in one import-free file: the
// server builds them (src/inspect/) and the demo page reads them (src/page/), so the two cannot
// drift. Rounding and caps are described where each field is filled.

export interface TokenInfo {
  id: number;
  text: string;
  /** The token's raw bytes (a token may end inside a UTF-8 character). */
  bytes: number[];
  /** [start, end) UTF-16 span in the prompt (empty for a token ending mid-character). */
  offset: [number, number];
  /** Index of the regex pre-token (word) this token came from; -1 for the implicit BOS. */
  pretoken: number;
  /**
   * Merges that built this token, in order, each [left, right] spelled in GPT-2's printable
   * byte alphabet (space = "Ġ", newline = "Ċ"). [] for a single byte; null when not traced.
   */
  merges: [string, string][] | null;
}

export interface PromptLogprob {
  /** log p(token_t | tokens before it) at T = 1; null for the first token (nothing predicts it). */
  logprob: number | null;
  /** Rank of the actual token among the model's guesses (1 = its top guess); null for t = 0. */
  rank: number | null;
  /** The model's top guesses for position t (made at t - 1). */
  top: { id: number; text: string; logprob: number }[] | null;
}

export interface NextTokens {
  /** Top tokens, best first (ties → lower id), with raw logits (temperature 1, no penalties). */
  top: { id: number; text: string; logit: number }[];
  /** The largest logit over the vocabulary (top[0].logit). */
  max_logit: number;
  /** Temperatures 0.05, 0.10, ... 2.00. */
  temperatures: number[];
  /** log Σ_i exp((logit_i - max_logit) / T) over all V tokens, per temperature above. */
  log_z: number[];
  /** Entropy of the distribution at T = 1, in nats (over the whole vocabulary). */
  entropy: number;
}

export interface HeadSummary {
  layer: number;
  head: number;
  /** Mean weight on the previous token, over queries 1..T-1. */
  prev: number;
  /** Mean weight on the first token, over queries 1..T-1. */
  first: number;
  /** Mean weight on the query's own position, over queries 1..T-1. */
  self: number;
  /** Mean distance looked back, Σ_j att[q][j] · (q - j), over queries 1..T-1. */
  distance: number;
  /** Mean entropy of a query's weights, nats, over queries 1..T-1. */
  entropy: number;
}

export interface AttentionLayer {
  layer: number;
  /**
   * heads[h][q][j] for keys j ≤ q (causal rows only, so row q has q + 1 entries); null for a head
   * the size cap left out (attention.capped says which).
   */
  heads: (number[][] | null)[];
}

export interface HiddenProjection {
  /** -1 is the embedding (wte + wpe); l is the output of block l. */
  layers: number[];
  /** The first token the view covers: points[i][k] is token start + k (0 unless capped). */
  start: number;
  /** points[i][k] = [x, y, z] of token start + k after layers[i]. */
  points: number[][][];
  /** L2 norm of the raw residual vector, norms[i][k] (token start + k). */
  norms: number[][];
  /** Share of the standardised vectors' variance along each axis. */
  explained: number[];
  /** Which tokens the size cap (limits.max_hidden_values) left out; "" when none. */
  capped: string;
}

export interface SizeGroup {
  name: string;
  /** The textbook count, in the model's letters: V, C, n_ctx. */
  formula: string;
  /** Parameters counted from the manifest (for per-layer groups: one layer). */
  params: number;
  bytes: number;
  /** The tensors in the group (one layer's, for per-layer groups) with their shapes. */
  tensors: { name: string; shape: number[] }[];
  perLayer: boolean;
}

export interface Sizes {
  dims: { V: number; C: number; n_ctx: number; L: number; NH: number; HS: number };
  groups: SizeGroup[];
  total_params: number;
  total_bytes: number;
  dtype: string;
}

export interface Timings {
  /** Stage times summed over chunks and segments, in the order first seen, ms. */
  stages: { name: string; ms: number }[];
  /** Sum of the stages: the model's own compute. */
  forward_ms: number;
  /** The whole inspection: forward pass, hooks, PCA, neighbours, payload. */
  wall_ms: number;
  /** False where the clock does not advance during compute (deployed Workers): times are 0. */
  clock_advanced: boolean;
  /** 1 when every reading is a whole number of ms (workerd's clock ticks in ms), else null. */
  resolution_ms: 1 | null;
}

export interface Neighbour {
  id: number;
  text: string;
  cosine: number;
}

export interface Inspection {
  object: "inspection";
  model: string;
  config: { n_vocab: number; n_ctx: number; n_embd: number; n_layer: number; n_head: number };
  tokens: (TokenInfo & PromptLogprob)[];
  next: NextTokens;
  attention: {
    layers: AttentionLayer[];
    summary: HeadSummary[];
    /** What the attention-size cap left out ("" when nothing): the page says so by the heatmap. */
    capped: string;
  };
  focus: PositionFocus;
  hidden: HiddenProjection | null;
  embeddings: {
    explained: number[];
    cloud: { id: number; text: string; xyz: number[] }[];
    prompt: number[][];
  } | null;
  neighbours: { id: number; text: string; items: Neighbour[] } | null;
  sizes: Sizes;
  timings: Timings;
  limits: {
    max_prompt_tokens: number;
    max_top_n: number;
    max_attention_values: number;
    /** Residual values (f32) the hidden view keeps: (L + 1) × C per token it covers. */
    max_hidden_values: number;
    max_neighbours: number;
  };
}

export interface NeighbourAnswer {
  object: "neighbours";
  model: string;
  /** The query token; -1 for a vector query (plus / minus). */
  id: number;
  /** The query: one token, or the expression, e.g. "king - man + woman". */
  text: string;
  items: Neighbour[];
}

/** One reading of the logit lens: the residual stream after `layer` through ln_f and wteᵀ. */
export interface LensLayer {
  /** -1 is the embedding (wte + wpe); l is the output of block l. */
  layer: number;
  top: { id: number; text: string; logit: number; prob: number }[];
  /** Entropy of the read-off distribution, nats. */
  entropy: number;
}

/** What one head does for the selected token, recomputed from the residual stream. */
export interface AttentionFocus {
  layer: number;
  head: number;
  /** (HS) the query of the selected token. */
  q: number[];
  /** (t + 1) q·k_j / √HS for every visible key j; keys after t are masked (−∞, not listed). */
  scores: number[];
  /** (t + 1) softmax of the scores: the head's attention row. */
  weights: number[];
  /** The keys with the largest weights, best first: index, weight, k_j (HS) and ‖v_j‖. */
  keys: { index: number; weight: number; k: number[]; v_norm: number }[];
  /** (HS) Σ_j weight_j · v_j: what this head writes for the token (before c_proj). */
  out: number[];
}

/** The MLP of one block for the selected token. */
export interface MlpFocus {
  layer: number;
  /** (4C) GELU(c_fc(ln_2(x))) for the selected token, 3 decimals. */
  gelu: number[];
  /** The most active neurons, by |activation|, and the tokens each one's output row pushes up. */
  neurons: { index: number; act: number; pushes: { id: number; text: string; score: number }[] }[];
  /** L2 norms at the selected token: the block's input, what attention adds, what the MLP adds. */
  norms: { input: number; attention: number; mlp: number };
}

/** Views of one position (the selected token): logit lens, one head from inside, one MLP. */
export interface PositionFocus {
  position: number;
  /** (L + 1, C) the selected token's residual vectors after the embedding and every block. */
  residual: number[][];
  lens: LensLayer[];
  attention: AttentionFocus;
  mlp: MlpFocus;
}
