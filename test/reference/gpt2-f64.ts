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

/** A module's weight and bias: a LayerNorm's (C) and (C), or a Conv1D's (in, out) and (out). */
export interface RefParams {
  w: Float64Array;
  b: Float64Array;
}

/** One transformer block, HF Conv1D layout: every weight matrix is [in][out] row-major. */
export interface RefBlock {
  ln_1: RefParams; // (C)
  c_attn: RefParams; // (C, 3C); output columns are q | k | v, each head HS wide inside
  attn_proj: RefParams; // (C, C)  attn.c_proj
  ln_2: RefParams; // (C)
  c_fc: RefParams; // (C, F)
  mlp_proj: RefParams; // (F, C)  mlp.c_proj
}

export interface RefModel {
  config: RefConfig;
  wte: Float64Array; // (V, C), also the tied unembedding
  wpe: Float64Array; // (n_ctx, C)
  h: RefBlock[]; // (L)
  ln_f: RefParams; // (C)
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
  const ln = (name: string) => ({ w: take(name + ".weight", [C]), b: take(name + ".bias", [C]) });
  const conv1d = (name: string, n: number, d: number) => ({
    w: take(name + ".weight", [n, d]),
    b: take(name + ".bias", [d]),
  });
  const h: RefBlock[] = [];
  for (let l = 0; l < L; l++) {
    const p = `h.${l}.`;
    h.push({
      ln_1: ln(p + "ln_1"),
      c_attn: conv1d(p + "attn.c_attn", C, 3 * C),
      attn_proj: conv1d(p + "attn.c_proj", C, C),
      ln_2: ln(p + "ln_2"),
      c_fc: conv1d(p + "mlp.c_fc", C, F),
      mlp_proj: conv1d(p + "mlp.c_proj", F, C),
    });
  }
  return {
    config,
    wte: take("wte.weight", [V, C]),
    wpe: take("wpe.weight", [n_ctx, C]),
    h,
    ln_f: ln("ln_f"),
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
// Layers, named after the modules they compute. Each returns a new (T, d) row-major array for x
// (T, n); the sizes follow from the parameters' lengths.

const sum = (a: Float64Array) => a.reduce((s, v) => s + v, 0);

/** (x - mean) / sqrt(var + eps) * w + b per row; biased variance (divide by C), like torch. */
function layernorm(x: Float64Array, { w, b }: RefParams, eps: number): Float64Array {
  const C = w.length;
  const out = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += C) {
    const row = x.subarray(o, o + C);
    const mean = sum(row) / C;
    const rstd = 1 / Math.sqrt(sum(row.map((v) => (v - mean) ** 2)) / C + eps);
    row.forEach((v, i) => (out[o + i] = (v - mean) * rstd * w[i] + b[i]));
  }
  return out;
}

/** Conv1D: x[T][n] · w[n][d] + b[d]. HF stores w as [in][out], used as-is here. */
function conv1d(x: Float64Array, { w, b }: RefParams): Float64Array {
  const d = b.length;
  const n = w.length / d;
  const out = new Float64Array((x.length / n) * d);
  for (let t = 0; t < x.length / n; t++) {
    out.set(b, t * d);
    for (let i = 0; i < n; i++) {
      const xi = x[t * n + i];
      const row = i * d; // row i of w: the contributions of input i to every output, contiguous
      for (let j = 0; j < d; j++) out[t * d + j] += xi * w[row + j];
    }
  }
  return out;
}

/** GPT-2's gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the tanh approximation. */
export function geluNew(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/**
 * Causal self-attention. qkv is (T, 3C) = q | k | v; head h uses columns h·HS..(h+1)·HS of each.
 * out is (T, C), heads side by side. probs[h], if given, receives the (T, T) softmax rows.
 */
function attention(qkv: Float64Array, T: number, C: number, NH: number, probs?: Float64Array[]) {
  const out = new Float64Array(T * C);
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
      for (let j = 0; j <= t; j++) {
        const v = j * 3 * C + 2 * C + h * HS;
        for (let i = 0; i < HS; i++) out[o + i] += row[j] * qkv[v + i];
      }
      if (probs) probs[h].set(row.subarray(0, t + 1), t * T);
    }
  }
  return out;
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
  const { n_embd: C, n_head: NH, eps } = m.config;
  const T = tokens.length;
  const x = new Float64Array(T * C); // (T, C) the residual stream
  const add = (y: Float64Array) => y.forEach((v, i) => (x[i] += v));

  // Embedding: token row of wte plus position row of wpe.
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < C; i++) x[t * C + i] = m.wte[tokens[t] * C + i] + m.wpe[t * C + i];
  }
  for (const b of m.h) {
    // x += c_proj(attn(ln_1(x)))
    const qkv = conv1d(layernorm(x, b.ln_1, eps), b.c_attn); // (T, 3C)
    let probs: Float64Array[] | undefined;
    if (attn) attn.push((probs = Array.from({ length: NH }, () => new Float64Array(T * T))));
    add(conv1d(attention(qkv, T, C, NH, probs), b.attn_proj));
    // x += c_proj(gelu_new(c_fc(ln_2(x))))
    const fc = conv1d(layernorm(x, b.ln_2, eps), b.c_fc).map(geluNew); // (T, F)
    add(conv1d(fc, b.mlp_proj));
  }
  return layernorm(x, m.ln_f, eps);
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
