// What one inspection holds in the isolate's JS heap, planned from the model's shapes and the
// request before the forward pass runs (as src/model/plan.ts plans WASM memory), and refused past
// INSPECT_HEAP_BYTES with a 400 that gives the numbers and the fix. Typed arrays are counted
// exactly; the per-token answers (JS objects) by an upper estimate measured in Node.

import { focusInputBytes } from "./focus.js";
import { hiddenWindow } from "./hidden.js";
import {
  attentionPlan,
  InspectParamError,
  MAX_ATTENTION_VALUES,
  type InspectParams,
} from "./params.js";
import { pcaBytes } from "./pca.js";

const MiB = 2 ** 20;

/**
 * JS heap one inspection may hold at once: half of the 16 MiB the isolate leaves beside the
 * default 112 MiB WASM budget, so the bundle, the tokenizers and the requests in flight beside
 * it have the rest. Without a plan, GPT-2 124M at 1024 tokens held ~122 MiB (every layer's
 * residual stream in f32, then again in f64 for the hidden view's PCA, then its 4.5 MiB
 * covariance).
 */
export const INSPECT_HEAP_BYTES = 8 * MiB;

/**
 * Residual values (f32) the hidden view keeps, 1.5 MiB: every token of the default model at its
 * whole context (5 depths × 256 tokens × 256 = 327,680), 39 tokens of GPT-2 124M (13 × 768 each).
 */
export const MAX_HIDDEN_VALUES = 393_216;

/**
 * Heap one prompt token's answers hold: its chip (bytes, merges), its logprob with the model's top
 * 5, the focus's score and weight for it. Measured in Node (the answers rebuilt 20 times by
 * JSON.parse, heap before and after): ~820 B a token, the default model at 256 tokens and GPT-2
 * 124M at 1024 alike; 1024 leaves a margin for long tokens' merges.
 */
const TOKEN_BYTES = 1024;
/** One hidden-view point as the answer holds it: [x, y, z] (an array of 3 numbers) and a norm. */
const POINT_BYTES = 96;
/** One kept attention weight: its f32 copied out of the hook, then its rounded JS number. */
const ATTENTION_VALUE_BYTES = 12;
/** One kept attention row: its Float32Array, then its JS array (headers). */
const ATTENTION_ROW_BYTES = 160;

export interface Shapes {
  n_vocab: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
}

export type PlanRequest = Pick<InspectParams, "hidden" | "embeddings" | "neighbours">;

export interface InspectPlan {
  /** The tokens the hidden view covers: start..start + count - 1 (count 0: not asked for). */
  hidden: { start: number; count: number };
  bytes: {
    /** The focus block's input up to the selected token, and that token at every depth. */
    residual: number;
    /** The hidden view's standardised vectors (f32), its points, and its PCA. */
    hidden: number;
    /** The full attention matrices kept (attentionPlan), and every head's summary sums. */
    attention: number;
    /** The per-token answers (TOKEN_BYTES each). */
    tokens: number;
    /** V-long arrays: a logit-lens row, the neighbours' similarities, wte's norms and ids. */
    vocabulary: number;
    /**
     * The wte PCA's blocks, one head's key and value rows (dequantized), the logit lens's inputs
     * (one per depth), the block's and the MLP's vectors.
     */
    scratch: number;
    total: number;
  };
}

/**
 * The plan of one inspection of T tokens at `position` (0-based), with `keptHeads` full
 * attention matrices (attentionPlan's keep, over all layers).
 */
export function planInspect(
  cfg: Shapes,
  T: number,
  position: number,
  p: PlanRequest,
  keptHeads: number,
): InspectPlan {
  const { n_vocab: V, n_embd: C, n_layer: L, n_head: NH } = cfg;
  const depths = L + 1;
  // The wte PCA, norms and ids (wteInfo): read by the embeddings and by the neighbours, built by
  // whichever asks first.
  const wte = p.embeddings || p.neighbours > 0;
  const window = p.hidden
    ? hiddenWindow(T, position, Math.floor(MAX_HIDDEN_VALUES / (depths * C)))
    : { start: 0, count: 0 };
  const points = depths * window.count;
  const bytes = {
    residual: focusInputBytes(C, depths, position),
    hidden: p.hidden ? points * (C * 4 + POINT_BYTES) + pcaBytes(C) : 0,
    attention:
      keptHeads * ((T * (T + 1)) / 2) * ATTENTION_VALUE_BYTES +
      keptHeads * T * ATTENTION_ROW_BYTES +
      L * NH * 5 * 8,
    tokens: T * TOKEN_BYTES,
    vocabulary: V * 4 + (p.neighbours > 0 ? V * 9 : 0) + (wte ? V * 12 : 0),
    scratch: (wte ? pcaBytes(C) : 0) + 2 * (C / NH) * C * 4 + (depths + 16) * C * 8,
    total: 0,
  };
  bytes.total = Object.values(bytes).reduce((a, b) => a + b, 0);
  return { hidden: window, bytes };
}

const mb = (n: number) => (n / MiB).toFixed(1) + " MiB";

type AttentionPlan = ReturnType<typeof attentionPlan>;
type Request = PlanRequest & Pick<InspectParams, "position" | "layer" | "head">;

/**
 * The plan for T tokens: what every other view holds first, then as many full attention matrices
 * (attentionPlan's order, at most MAX_ATTENTION_VALUES weights) as the bytes left allow, so what
 * is refused grows with T and the attention cap, not a refusal, absorbs the rest.
 */
function planAt(cfg: Shapes, T: number, p: Request, layers: number[]) {
  const position = positionAt(p, T);
  const rest = restBytes(cfg, T, p);
  const perHead = (T * (T + 1)) / 2;
  const headBytes = perHead * ATTENTION_VALUE_BYTES + T * ATTENTION_ROW_BYTES;
  const fit = Math.max(0, Math.floor((INSPECT_HEAP_BYTES - rest) / headBytes));
  const attention = attentionPlan(
    layers,
    p,
    cfg.n_head,
    T,
    Math.min(MAX_ATTENTION_VALUES, fit * perHead),
  );
  const heads = [...attention.keep.values()].reduce((n, h) => n + h.length, 0);
  return { attention, plan: planInspect(cfg, T, position, p, heads), rest };
}

const positionAt = (p: Request, T: number) => (p.position < 0 ? T - 1 : p.position);

/** What every view but the full attention matrices holds at T tokens: it grows with T. */
const restBytes = (cfg: Shapes, T: number, p: Request) =>
  planInspect(cfg, T, positionAt(p, T), p, 0).bytes.total;

/**
 * The plan of an inspection of T tokens and its attention plan; when the other views alone pass
 * INSPECT_HEAP_BYTES, a 400 (InspectParamError) with the numbers and the longest prompt these
 * options fit.
 */
export function planChecked(
  cfg: Shapes,
  T: number,
  p: Request,
  layers: number[],
): { attention: AttentionPlan; plan: InspectPlan } {
  const at = planAt(cfg, T, p, layers);
  const b = at.plan.bytes;
  if (at.rest <= INSPECT_HEAP_BYTES) return at;
  // Shorter prompts, longest first: without attention every view's bytes grow with T.
  const shortest = Math.max(0, p.position) + 1;
  let longest = T - 1;
  while (longest >= shortest && restBytes(cfg, longest, p) > INSPECT_HEAP_BYTES) longest--;
  const shorter = longest >= shortest ? `a prompt of at most ${longest} tokens, ` : "";
  throw new InspectParamError(
    "prompt",
    `Inspecting ${T} tokens of this model would hold ${mb(b.total)} of JS heap (residual rows ` +
      `${mb(b.residual)}, hidden view ${mb(b.hidden)}, attention ${mb(b.attention)}, per-token ` +
      `answers ${mb(b.tokens)}, vocabulary-long arrays ${mb(b.vocabulary)}, scratch ` +
      `${mb(b.scratch)}), over the ${mb(INSPECT_HEAP_BYTES)} one inspection may use. Fix: ` +
      `${shorter}an earlier 'position', or 'hidden': false, 'embeddings': false, 'neighbours': 0.`,
    "inspect_over_memory_budget",
  );
}
