// The selected token seen from inside, recomputed in plain TypeScript from the residual stream the
// forward pass's onResidual hook copied out (no extra hooks in the model): the logit lens (every
// layer's residual through ln_f and wteᵀ), one head's q, k, scores, softmax and output, and one
// block's MLP (GELU activations, the neurons' output directions read through the unembedding).
// It needs the selected token at every depth and one block's input up to that token, no more.

import type { Tokenizer } from "../tokenizer/index.js";
import { round } from "./round.js";
import type { AttentionFocus, LensLayer, MlpFocus, PositionFocus } from "./types.js";
import { gelu, layerNorm, matvec, norm, type Matrix, type Weights } from "./weights.js";

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

/** What the views read of one vector's logits (wte · h): its k best and softmax's statistics. */
export interface LogitSummary {
  /** The k best ids, best first (ties → lower id), and their logits (f32 values). */
  ids: number[];
  logits: number[];
  max: number;
  /** log Σ exp(z − max) */
  lz: number;
  /** −Σ p log p of softmax(z) */
  entropy: number;
}

/**
 * wte · h for several vectors h in one pass over wte, keeping only what the views read: every row
 * is read (a q8 / q4 row dequantized) once for all of them, no V-long array is held, and each
 * logit is the f32 of its float64 dot product (row · h, summed in order). Softmax's statistics are
 * accumulated online: max, Σ e^(z−max) and Σ e^(z−max)·z, rescaled when the max moves. A −∞
 * logit is left out (its weight is 0), a NaN too, but it makes lz and the entropy NaN. Rows
 * `keep` refuses (ids without text, whose logits the model makes −∞) are left out the same way.
 */
export function unembedSummaries(
  wte: Matrix,
  hs: ArrayLike<number>[],
  k: number,
  keep: (id: number) => boolean = () => true,
): LogitSummary[] {
  const n = hs.length;
  const C = wte.cols;
  const H = new Float64Array(C * n); // H[j·n + v] = hs[v][j]: every vector's entry j side by side
  hs.forEach((h, v) => {
    for (let j = 0; j < C; j++) H[j * n + v] = h[j];
  });
  const z = new Float64Array(n);
  const max = new Float64Array(n).fill(-Infinity);
  const sum = new Float64Array(n);
  const sz = new Float64Array(n);
  const nan = new Uint8Array(n);
  const ids = hs.map(() => new Array<number>());
  const vals = hs.map(() => new Array<number>());
  for (let i = 0; i < wte.rows; i++) {
    if (!keep(i)) continue;
    const r = wte.read(i);
    z.fill(0);
    for (let j = 0; j < C; j++) {
      const rj = r[j];
      const o = j * n;
      for (let v = 0; v < n; v++) z[v] += rj * H[o + v];
    }
    for (let v = 0; v < n; v++) {
      const x = Math.fround(z[v]);
      if (!(x > -Infinity)) {
        // −∞ weighs nothing; a NaN (a fault upstream) spoils the normaliser, as in the full row.
        if (x !== x) nan[v] = 1;
        continue;
      }
      if (x > max[v]) {
        const scale = Math.exp(max[v] - x); // 0 for the first row
        sum[v] = sum[v] * scale + 1;
        sz[v] = sz[v] * scale + x;
        max[v] = x;
      } else {
        const e = Math.exp(x - max[v]);
        sum[v] += e;
        sz[v] += e * x;
      }
      // The k best so far, best first; a tie keeps the earlier (lower) id.
      const vs = vals[v];
      if (vs.length < k || x > vs[vs.length - 1]) {
        let at = vs.length < k ? vs.length : k - 1;
        while (at > 0 && x > vs[at - 1]) at--;
        vs.splice(at, 0, x);
        ids[v].splice(at, 0, i);
        if (vs.length > k) {
          vs.pop();
          ids[v].pop();
        }
      }
    }
  }
  return hs.map((_, v) => {
    const lz = nan[v] ? NaN : Math.log(sum[v]);
    // −Σ p (z − max − lz) = max + lz − Σ p z
    return { ids: ids[v], logits: vals[v], max: max[v], lz, entropy: max[v] + lz - sz[v] / sum[v] };
  });
}

function logitLens(f: FocusInput): LensLayer[] {
  const { w, tok, cfg } = f;
  const g = w.vec("ln_f.weight");
  const b = w.vec("ln_f.bias");
  const hs = Array.from({ length: cfg.n_layer + 1 }, (_, i) =>
    layerNorm(depth(f, i), g, b, cfg.eps),
  );
  const keep = (id: number) => tok.isValidId(id); // as the model: an id without text is −∞
  return unembedSummaries(w.matrix("wte"), hs, LENS_TOP, keep).map((u, i) => ({
    layer: i - 1,
    top: u.ids.map((id, j) => ({
      id,
      text: tok.tokenString(id),
      logit: round(u.logits[j], 4),
      prob: round(Math.exp(u.logits[j] - u.max - u.lz), 5),
    })),
    entropy: round(u.entropy, 4),
  }));
}

/**
 * Recompute block `layer` at the selected position: attention (all heads) then the MLP. Head by
 * head, the scores are q's image under the keys' weights dotted with each token's ln_1
 * (recomputed into one buffer), and the output the values' weights times the weighted mean of
 * those: O(t · C) a head, and nothing (t + 1) × C beside the input. Only the few keys listed get
 * their own k and v.
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
  const u = new Float64Array(C); // one head's Wkᵀ q
  const mix = new Float64Array(C); // Σ_j a_j ln_1(x_j): what the head's values are taken of
  const y = new Float64Array(C); // every head's weighted sum of values, side by side
  let focus: AttentionFocus | null = null;
  const scale = 1 / Math.sqrt(HS);
  for (let hh = 0; hh < NH; hh++) {
    const o = hh * HS;
    // q · k_j = q · (Wk x_j + bk) = (Wkᵀ q) · x_j + q · bk: C multiplies a token, not HS × C.
    u.fill(0);
    let qb = 0;
    for (let i = 0; i < HS; i++) {
      const qi = q[o + i];
      const r = attn.read(C + o + i);
      qb += qi * attnB[C + o + i];
      for (let c = 0; c < C; c++) u[c] += qi * r[c];
    }
    const scores = Array.from({ length: t + 1 }, (_, j) => {
      const x = ln(j);
      let s = qb;
      for (let c = 0; c < C; c++) s += u[c] * x[c];
      return s * scale;
    });
    let max = -Infinity;
    for (const s of scores) max = Math.max(max, s);
    const e = scores.map((s) => Math.exp(s - max)); // max subtracted: exp never overflows
    const z = e.reduce((a, b) => a + b, 0);
    const weights = e.map((a) => a / z);
    // Σ_j a_j v_j = Wv (Σ_j a_j x_j) + bv, as the weights sum to 1.
    mix.fill(0);
    weights.forEach((a, j) => {
      const x = ln(j);
      for (let c = 0; c < C; c++) mix[c] += a * x[c];
    });
    y.set(matvec(attn, mix, attnB, 2 * C + o, HS), o);
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
          k: r4(matvec(attn, ln(j), attnB, C + o, HS)),
          v_norm: round(norm(matvec(attn, ln(j), attnB, 2 * C + o, HS)), 4),
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
  const top = order.slice(0, TOP_NEURONS);
  // Neuron n adds act[n] · proj[:, n] to the residual stream: column n of the [out][in] matrix.
  const dirs = top.map((n) => {
    const dir = new Float64Array(C);
    for (let i = 0; i < C; i++) dir[i] = act[n] * proj.read(i)[n];
    return dir;
  });
  const keep = (id: number) => f.tok.isValidId(id);
  return unembedSummaries(wte, dirs, LENS_TOP, keep).map((u, k) => ({
    index: top[k],
    act: round(act[top[k]], 4),
    pushes: u.ids.map((id, j) => ({
      id,
      text: f.tok.tokenString(id),
      score: round(u.logits[j], 4),
    })),
  }));
}
