// An independent float64 GPT-2 forward pass: the test oracle for the kernels, converter and engine.
// Plain loops over Hugging Face's own layout (Conv1D weights [in][out], y = x·W + b) and no KV
// cache: every call recomputes the whole sequence, because simplicity is what makes it a reference.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readSafetensorsF32, type Tensor64 } from "./safetensors";

export interface RefConfig {
  n_vocab: number; // V
  n_ctx: number; // positions in wpe
  n_embd: number; // C
  n_layer: number; // L
  n_head: number; // NH (HS = C / NH)
  eps: number; // layer_norm_epsilon
  n_inner: number; // F, the MLP width (4C unless config.json says otherwise)
}

/** One transformer block, HF Conv1D layout: every weight matrix is [in][out] row-major. */
export interface RefBlock {
  ln_1_w: Float64Array; // (C)
  ln_1_b: Float64Array; // (C)
  c_attn_w: Float64Array; // (C, 3C); output columns are q | k | v, each head HS wide inside
  c_attn_b: Float64Array; // (3C)
  attn_proj_w: Float64Array; // (C, C)  attn.c_proj
  attn_proj_b: Float64Array; // (C)
  ln_2_w: Float64Array; // (C)
  ln_2_b: Float64Array; // (C)
  c_fc_w: Float64Array; // (C, F)
  c_fc_b: Float64Array; // (F)
  mlp_proj_w: Float64Array; // (F, C)  mlp.c_proj
  mlp_proj_b: Float64Array; // (C)
}

export interface RefModel {
  config: RefConfig;
  wte: Float64Array; // (V, C), also the tied unembedding
  wpe: Float64Array; // (n_ctx, C)
  h: RefBlock[]; // (L)
  ln_f_w: Float64Array; // (C)
  ln_f_b: Float64Array; // (C)
}

export interface RefOutput {
  logits: Float64Array[]; // T rows of V
  attention?: Float64Array[][]; // [layer][head] -> (T, T) row-major probabilities, zero above the diagonal
}

// ---------------------------------------------------------------------------------------------
// Loading

/** Loads an HF GPT-2 directory (config.json + model.safetensors or a sharded index) as float64. */
export function loadReference(dir: string): RefModel {
  const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  const act = cfg.activation_function ?? "gelu_new";
  if (act !== "gelu_new" && act !== "gelu_pytorch_tanh") {
    throw new Error(`${dir}: activation_function "${act}"; the reference implements gelu_new only`);
  }
  const C: number = cfg.n_embd;
  const config: RefConfig = {
    n_vocab: cfg.vocab_size,
    n_ctx: cfg.n_positions ?? cfg.n_ctx,
    n_embd: C,
    n_layer: cfg.n_layer,
    n_head: cfg.n_head,
    eps: cfg.layer_norm_epsilon ?? 1e-5, // HF's GPT2Config default
    n_inner: cfg.n_inner ?? 4 * C, // null in config.json means GPT-2's 4C
  };
  if (C % config.n_head !== 0) throw new Error(`${dir}: n_embd ${C} not divisible by n_head`);

  const tensors = readTensors(dir);
  const take = (name: string, shape: number[]): Float64Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${dir}: tensor ${name} missing — is this a GPT-2 checkpoint?`);
    if (t.shape.join() !== shape.join()) {
      throw new Error(
        `${dir}: tensor ${name} is [${t.shape}], expected [${shape}] from config.json`,
      );
    }
    return t.data;
  };
  const { n_vocab: V, n_ctx, n_layer: L, n_inner: F } = config;
  const h: RefBlock[] = [];
  for (let l = 0; l < L; l++) {
    const p = `h.${l}.`;
    h.push({
      ln_1_w: take(p + "ln_1.weight", [C]),
      ln_1_b: take(p + "ln_1.bias", [C]),
      c_attn_w: take(p + "attn.c_attn.weight", [C, 3 * C]),
      c_attn_b: take(p + "attn.c_attn.bias", [3 * C]),
      attn_proj_w: take(p + "attn.c_proj.weight", [C, C]),
      attn_proj_b: take(p + "attn.c_proj.bias", [C]),
      ln_2_w: take(p + "ln_2.weight", [C]),
      ln_2_b: take(p + "ln_2.bias", [C]),
      c_fc_w: take(p + "mlp.c_fc.weight", [C, F]),
      c_fc_b: take(p + "mlp.c_fc.bias", [F]),
      mlp_proj_w: take(p + "mlp.c_proj.weight", [F, C]),
      mlp_proj_b: take(p + "mlp.c_proj.bias", [C]),
    });
  }
  return {
    config,
    wte: take("wte.weight", [V, C]),
    wpe: take("wpe.weight", [n_ctx, C]),
    h,
    ln_f_w: take("ln_f.weight", [C]),
    ln_f_b: take("ln_f.bias", [C]),
  };
}

/** All tensors of the checkpoint, names without the `transformer.` prefix of GPT2LMHeadModel. */
function readTensors(dir: string): Map<string, Tensor64> {
  const single = join(dir, "model.safetensors");
  const index = join(dir, "model.safetensors.index.json");
  let files: string[];
  if (existsSync(single)) files = [single];
  else if (existsSync(index)) {
    const map: Record<string, string> = JSON.parse(readFileSync(index, "utf8")).weight_map;
    files = [...new Set(Object.values(map))].map((f) => join(dir, f));
  } else {
    throw new Error(
      `${dir}: no model.safetensors (or .index.json) — download the safetensors files`,
    );
  }
  const out = new Map<string, Tensor64>();
  for (const f of files) {
    for (const [name, t] of readSafetensorsF32(f)) out.set(name.replace(/^transformer\./, ""), t);
  }
  return out; // h.{i}.attn.bias / masked_bias (mask buffers) and lm_head (tied) are simply unused
}

// ---------------------------------------------------------------------------------------------
// Layers, named after the modules they compute. x and out are (T, n) / (T, d) row-major.

/** out = (x - mean) / sqrt(var + eps) * w + b per row; biased variance (divide by C), like torch. */
function layernorm(
  out: Float64Array,
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  T: number,
  C: number,
  eps: number,
): void {
  for (let t = 0; t < T; t++) {
    const o = t * C;
    let mean = 0;
    for (let i = 0; i < C; i++) mean += x[o + i];
    mean /= C;
    let v = 0;
    for (let i = 0; i < C; i++) v += (x[o + i] - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / C + eps);
    for (let i = 0; i < C; i++) out[o + i] = (x[o + i] - mean) * rstd * w[i] + b[i];
  }
}

/** Conv1D: out[T][d] = x[T][n] · w[n][d] + b[d]. HF stores w as [in][out], used as-is here. */
function matmul(
  out: Float64Array,
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  T: number,
  n: number,
  d: number,
): void {
  for (let t = 0; t < T; t++) {
    const o = t * d;
    for (let j = 0; j < d; j++) out[o + j] = b[j];
    for (let i = 0; i < n; i++) {
      const xi = x[t * n + i];
      const row = i * d; // row i of w: the contributions of input i to every output, contiguous
      for (let j = 0; j < d; j++) out[o + j] += xi * w[row + j];
    }
  }
}

/** GPT-2's gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the tanh approximation. */
export function geluNew(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/**
 * Causal self-attention. qkv is (T, 3C) = q | k | v; head h uses columns h·HS..(h+1)·HS of each.
 * out is (T, C), heads side by side. probs[h], if given, receives the (T, T) softmax rows.
 */
function attention(
  out: Float64Array,
  qkv: Float64Array,
  T: number,
  C: number,
  NH: number,
  probs?: Float64Array[],
): void {
  const HS = C / NH;
  const scale = 1 / Math.sqrt(HS); // keeps q·k at unit variance for unit-variance q, k
  const row = new Float64Array(T); // (T) scores, then probabilities, of one query
  for (let h = 0; h < NH; h++) {
    for (let t = 0; t < T; t++) {
      const q = t * 3 * C + h * HS;
      // The causal mask: query t sees keys 0..t only; later keys get probability exactly 0.
      let max = -Infinity;
      for (let j = 0; j <= t; j++) {
        const k = j * 3 * C + C + h * HS;
        let s = 0;
        for (let i = 0; i < HS; i++) s += qkv[q + i] * qkv[k + i];
        row[j] = s * scale;
        if (row[j] > max) max = row[j];
      }
      let sum = 0;
      for (let j = 0; j <= t; j++) sum += row[j] = Math.exp(row[j] - max); // max-subtract: no overflow
      for (let j = 0; j <= t; j++) row[j] /= sum;
      const o = t * C + h * HS;
      for (let i = 0; i < HS; i++) out[o + i] = 0;
      for (let j = 0; j <= t; j++) {
        const v = j * 3 * C + 2 * C + h * HS;
        for (let i = 0; i < HS; i++) out[o + i] += row[j] * qkv[v + i];
      }
      if (probs) probs[h].set(row.subarray(0, t + 1), t * T);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The forward pass

function checkTokens(m: RefModel, tokens: number[]): void {
  const { n_vocab, n_ctx } = m.config;
  if (tokens.length < 1 || tokens.length > n_ctx) {
    throw new RangeError(`${tokens.length} tokens; the model takes 1..${n_ctx}`);
  }
  for (const id of tokens) {
    if (!Number.isInteger(id) || id < 0 || id >= n_vocab) {
      throw new RangeError(`token id ${id} outside the vocabulary [0, ${n_vocab})`);
    }
  }
}

/** The final hidden states ln_f(x), (T, C); fills attention[l][h] when given. */
function hiddenStates(m: RefModel, tokens: number[], attn?: Float64Array[][]): Float64Array {
  checkTokens(m, tokens);
  const { n_embd: C, n_head: NH, n_inner: F, eps } = m.config;
  const T = tokens.length;
  const x = new Float64Array(T * C); // (T, C) the residual stream
  const ln = new Float64Array(T * C); // (T, C) layernorm output
  const qkv = new Float64Array(T * 3 * C); // (T, 3C)
  const y = new Float64Array(T * C); // (T, C) attention output, then each branch's projection
  const fc = new Float64Array(T * F); // (T, F) MLP hidden

  // Embedding: token row of wte plus position row of wpe.
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < C; i++) x[t * C + i] = m.wte[tokens[t] * C + i] + m.wpe[t * C + i];
  }
  m.h.forEach((b) => {
    // x += c_proj(attn(ln_1(x)))
    layernorm(ln, x, b.ln_1_w, b.ln_1_b, T, C, eps);
    matmul(qkv, ln, b.c_attn_w, b.c_attn_b, T, C, 3 * C);
    let probs: Float64Array[] | undefined;
    if (attn) attn.push((probs = Array.from({ length: NH }, () => new Float64Array(T * T))));
    attention(y, qkv, T, C, NH, probs);
    matmul(ln, y, b.attn_proj_w, b.attn_proj_b, T, C, C);
    for (let i = 0; i < T * C; i++) x[i] += ln[i];
    // x += c_proj(gelu_new(c_fc(ln_2(x))))
    layernorm(ln, x, b.ln_2_w, b.ln_2_b, T, C, eps);
    matmul(fc, ln, b.c_fc_w, b.c_fc_b, T, C, F);
    for (let i = 0; i < T * F; i++) fc[i] = geluNew(fc[i]);
    matmul(y, fc, b.mlp_proj_w, b.mlp_proj_b, T, F, C);
    for (let i = 0; i < T * C; i++) x[i] += y[i];
  });
  layernorm(ln, x, m.ln_f_w, m.ln_f_b, T, C, eps);
  return ln;
}

/** logits[v] = h[t] · wte[v] (the tied unembedding), (V). */
function unembed(m: RefModel, h: Float64Array, t: number): Float64Array {
  const { n_vocab: V, n_embd: C } = m.config;
  const logits = new Float64Array(V);
  for (let v = 0; v < V; v++) {
    let s = 0;
    for (let i = 0; i < C; i++) s += h[t * C + i] * m.wte[v * C + i];
    logits[v] = s;
  }
  return logits;
}

/** Logits for every position; attention probabilities too when opts.attention (T² per head). */
export function referenceForward(
  m: RefModel,
  tokens: number[],
  opts: { attention?: boolean } = {},
): RefOutput {
  const attention: Float64Array[][] | undefined = opts.attention ? [] : undefined;
  const h = hiddenStates(m, tokens, attention);
  const logits = tokens.map((_, t) => unembed(m, h, t));
  return attention ? { logits, attention } : { logits };
}

/** Logits of the last position only (what decoding needs), (V). */
export function referenceNextLogits(m: RefModel, tokens: number[]): Float64Array {
  return unembed(m, hiddenStates(m, tokens), tokens.length - 1);
}

/** Mean next-token cross-entropy in nats: mean over t of logsumexp(logits[t]) - logits[t][tokens[t+1]]. */
export function referenceLoss(m: RefModel, tokens: number[]): number {
  if (tokens.length < 2) throw new RangeError("the loss needs at least 2 tokens");
  const h = hiddenStates(m, tokens);
  let total = 0;
  for (let t = 0; t + 1 < tokens.length; t++) {
    const logits = unembed(m, h, t);
    let max = -Infinity;
    for (const z of logits) if (z > max) max = z;
    let sum = 0;
    for (const z of logits) sum += Math.exp(z - max); // max-subtract: exp never overflows
    total += max + Math.log(sum) - logits[tokens[t + 1]];
  }
  return total / (tokens.length - 1);
}
