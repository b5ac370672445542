// The selected token seen from inside, recomputed in plain TypeScript from the residual stream the
// forward pass's onResidual hook copied out (no extra hooks in the model): the logit lens (every
// layer's residual through ln_f and wteᵀ), one head's q, k, scores, softmax and output, and one
// block's MLP (GELU activations, the neurons' output directions read through the unembedding).
// It needs the selected token at every depth and one block's input up to that token, no more.

import { topIds } from "../sampler/select.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { round } from "./round.js";
import type { AttentionFocus, LensLayer, MlpFocus, PositionFocus } from "./types.js";
import {
  dots,
  gelu,
  layerNorm,
  matvec,
  norm,
  rowsOf,
  type Matrix,
  type Weights,
} from "./weights.js";

/** Tokens listed per lens layer and per neuron. */
const LENS_TOP = 5;
/** Neurons listed with the tokens they push up. */
const TOP_NEURONS = 6;
/** Keys listed with their k vectors. */
const TOP_KEYS = 3;

export interface FocusInput {
  w: Weights;
  tok: Tokenizer;
  cfg: { n_embd: number; n_head: number; n_layer: number; eps: number };
  /** (L + 1, C) the selected token's residual after the embedding (row 0) and after each block. */
  at: Float32Array;
  /** (position + 1, C) block `layer`'s input (the residual after block layer − 1), tokens 0..position. */
  input: Float32Array;
  position: number;
  layer: number;
  head: number;
}

const r4 = (x: ArrayLike<number>) => Array.from(x, (v) => round(v, 4));

/** Bytes of input and at for a model of C wide with `depths` (L + 1) depths, at `position`. */
export const focusInputBytes = (C: number, depths: number, position: number) =>
  (position + 1 + depths) * C * 4;

/** Row i of `at`: the selected token after the embedding (0) or after block i − 1. */
const depth = (f: FocusInput, i: number) => f.at.subarray(i * f.cfg.n_embd, (i + 1) * f.cfg.n_embd);

export function positionFocus(f: FocusInput): PositionFocus {
  const block = blockAt(f);
  return {
    position: f.position,
    residual: Array.from({ length: f.cfg.n_layer + 1 }, (_, i) => r4(depth(f, i))),
    lens: logitLens(f),
    attention: block.attention,
    mlp: block.mlp,
  };
}

/** wte · h for every token: the unembedding of one vector (V logits). */
export function unembed(wte: Matrix, h: ArrayLike<number>): Float32Array {
  const out = new Float32Array(wte.rows);
  for (let i = 0; i < wte.rows; i++) {
    const r = wte.row(i);
    let s = 0;
    for (let j = 0; j < r.length; j++) s += r[j] * h[j];
    out[i] = s;
  }
  return out;
}

function logitLens(f: FocusInput): LensLayer[] {
  const { w, tok, cfg } = f;
  const wte = w.matrix("wte");
  const g = w.vec("ln_f.weight");
  const b = w.vec("ln_f.bias");
  return Array.from({ length: cfg.n_layer + 1 }, (_, i) => {
    const logits = unembed(wte, layerNorm(depth(f, i), g, b, cfg.eps));
    let max = -Infinity;
    for (const z of logits) max = Math.max(max, z);
    let sum = 0;
    for (const z of logits) sum += Math.exp(z - max);
    const lz = Math.log(sum);
    let entropy = 0;
    for (const z of logits) {
      const lp = z - max - lz;
      entropy -= Math.exp(lp) * lp;
    }
    const top = topIds(logits, logits.length, LENS_TOP).map((id) => ({
      id,
      text: tok.tokenString(id),
      logit: round(logits[id], 4),
      prob: round(Math.exp(logits[id] - max - lz), 5),
    }));
    return { layer: i - 1, top, entropy: round(entropy, 4) };
  });
}

/**
 * Recompute block `layer` at the selected position: attention (all heads) then the MLP. Head by
 * head, each key and value row is dequantized once and every token's k and v is computed when it
 * is used (ln_1 recomputed into one buffer), so nothing (t + 1) × C is held beside the input.
 */
function blockAt(f: FocusInput): { attention: AttentionFocus; mlp: MlpFocus } {
  const { w, cfg, position: t, layer: l, head: h } = f;
  const { n_embd: C, n_head: NH } = cfg;
  const HS = C / NH;
  const p = `h.${l}.`;
  const g1 = w.vec(p + "ln_1.weight");
  const b1 = w.vec(p + "ln_1.bias");
  const attn = w.matrix(p + "attn.c_attn.weight"); // (3C, C): rows q | k | v
  const attnB = w.vec(p + "attn.c_attn.bias");
  const xt = depth(f, l); // the block's input at the selected token
  const q = matvec(attn, layerNorm(xt, g1, b1, cfg.eps), attnB, 0, C);
  const xn = new Float64Array(C); // ln_1 of one token's input
  const ln = (j: number) => layerNorm(f.input.subarray(j * C, (j + 1) * C), g1, b1, cfg.eps, xn);
  const k = new Float64Array(HS);
  const v = new Float64Array(HS);
  const y = new Float64Array(C); // every head's weighted sum of values, side by side
  let focus: AttentionFocus | null = null;
  const scale = 1 / Math.sqrt(HS);
  for (let hh = 0; hh < NH; hh++) {
    const o = hh * HS;
    const keyRows = rowsOf(attn, C + o, HS); // (HS, C)
    const valueRows = rowsOf(attn, 2 * C + o, HS); // (HS, C)
    const scores = Array.from({ length: t + 1 }, (_, j) => {
      dots(k, keyRows, attnB, C + o, ln(j));
      let s = 0;
      for (let i = 0; i < HS; i++) s += q[o + i] * k[i];
      return s * scale;
    });
    let max = -Infinity;
    for (const s of scores) max = Math.max(max, s);
    const e = scores.map((s) => Math.exp(s - max)); // max subtracted: exp never overflows
    const z = e.reduce((a, b) => a + b, 0);
    const weights = e.map((a) => a / z);
    weights.forEach((a, j) => {
      dots(v, valueRows, attnB, 2 * C + o, ln(j));
      for (let i = 0; i < HS; i++) y[o + i] += a * v[i];
    });
    if (hh === h) {
      const best = weights
        .map((a, j) => [a, j])
        .sort((a, b) => b[0] - a[0])
        .slice(0, TOP_KEYS);
      focus = {
        layer: l,
        head: h,
        q: r4(q.subarray(o, o + HS)),
        scores: scores.map((s) => round(s, 4)),
        weights: weights.map((a) => round(a, 5)),
        keys: best.map(([a, j]) => ({
          index: j,
          weight: round(a, 5),
          k: r4(dots(k, keyRows, attnB, C + o, ln(j))),
          v_norm: round(norm(dots(v, valueRows, attnB, 2 * C + o, ln(j))), 4),
        })),
        out: r4(y.subarray(o, o + HS)),
      };
    }
  }
  const attnOut = matvec(
    w.matrix(p + "attn.c_proj.weight"),
    y,
    w.vec(p + "attn.c_proj.bias"),
    0,
    C,
  );
  const mid = Float64Array.from(xt, (v, i) => v + attnOut[i]);
  const fc = matvec(
    w.matrix(p + "mlp.c_fc.weight"),
    layerNorm(mid, w.vec(p + "ln_2.weight"), w.vec(p + "ln_2.bias"), cfg.eps),
    w.vec(p + "mlp.c_fc.bias"),
    0,
    4 * C,
  );
  const act = fc.map(gelu);
  const proj = w.matrix(p + "mlp.c_proj.weight"); // (C, 4C)
  const mlpOut = matvec(proj, act, w.vec(p + "mlp.c_proj.bias"), 0, C);
  return {
    attention: focus!,
    mlp: {
      layer: l,
      gelu: Array.from(act, (v) => round(v, 3)),
      neurons: topNeurons(f, act, proj),
      norms: {
        input: round(norm(xt), 4),
        attention: round(norm(attnOut), 4),
        mlp: round(norm(mlpOut), 4),
      },
    },
  };
}

/** The most active neurons, and the tokens whose wte rows best align with each one's output. */
function topNeurons(f: FocusInput, act: Float64Array, proj: Matrix): MlpFocus["neurons"] {
  const C = f.cfg.n_embd;
  const wte = f.w.matrix("wte");
  const order = Array.from(act.keys()).sort((a, b) => Math.abs(act[b]) - Math.abs(act[a]));
  return order.slice(0, TOP_NEURONS).map((n) => {
    // Neuron n adds act[n] · proj[:, n] to the residual stream: column n of the [out][in] matrix.
    const dir = new Float64Array(C);
    for (let i = 0; i < C; i++) dir[i] = act[n] * proj.row(i)[n];
    const scores = unembed(wte, dir);
    const ids = topIds(scores, scores.length, LENS_TOP);
    return {
      index: n,
      act: round(act[n], 4),
      pushes: ids.map((id) => ({ id, text: f.tok.tokenString(id), score: round(scores[id], 4) })),
    };
  });
}
