// The GPT-2 forward pass over WASM memory: embed (wte + wpe) -> L x [ln_1, attention, residual,
// ln_2, MLP with GELU, residual] -> ln_f -> logits = h · wteᵀ. One call processes a batch of
// segments (a prefill chunk or one decode token of each running sequence) as one set of rows,
// so every weight matrix is read once per call for all of them. A pipeline stage (stages.ts) runs
// the same code over its own layers: forwardLayers in every stage, logitsFrom in the first.

import { DTYPE_CODE, type Kernels, type MatmulSizes, type Ptr } from "../kernels/types.js";
import { stageLayers, type DType, type Manifest, type ModelConfig } from "./manifest.js";
import { kvAddress, type MemoryPlan } from "./plan.js";
import { logitRows, segmentRows, type Segment } from "./segments.js";

export type { Segment };

export interface ForwardHooks {
  /** Called after each layer's attention for each segment; att is [NH][T][pos0+T] (a view, valid only inside the call). Layers are numbered in the whole model. */
  onAttention?(layer: number, seg: number, att: Float32Array): void;
  /** Called with the residual stream after the embedding (layer -1, in the stage that embeds) and after each layer, all rows [rows][C]. */
  onResidual?(layer: number, x: Float32Array): void;
  /**
   * Wall time of each stage, ms (performance.now(); the clock is read only when this hook is
   * set). Names: "embed", "h.<l>.<stage>" for ln_1 c_attn attention attn.c_proj ln_2 c_fc gelu
   * mlp.c_proj, then "ln_f" and "lm_head". "h.<l>.attention" (KV append + attention) repeats once
   * per segment, the final two once per group of logit rows: sum repeats. Time spent in the
   * other hooks is not counted.
   */
  onStage?(name: string, ms: number): void;
}

/** A weight matrix [d][n]: f32 at q, or q8/q4 quants at q and block scales at s (manifest.ts). */
interface Weight {
  dtype: DType;
  q: Ptr;
  s: Ptr;
}

/** A layernorm's weight (gain) and bias, both (C). */
interface Norm {
  w: Ptr;
  b: Ptr;
}

/** A linear layer: weight [out][in] and bias (out). */
interface Linear {
  w: Weight;
  b: Ptr;
}

/** One layer's tensors; attn_proj is attn.c_proj, mlp_proj is mlp.c_proj. */
interface LayerPtrs {
  ln_1: Norm; // (C)
  c_attn: Linear; // (3C, C)
  attn_proj: Linear; // (C, C)
  ln_2: Norm; // (C)
  c_fc: Linear; // (4C, C)
  mlp_proj: Linear; // (C, 4C)
}

/** Runs one named step of the forward pass; timed only when there is an onStage hook. */
type Step = (name: string, run: () => void) => void;

const untimed: Step = (_name, run) => run();

function timed(onStage: (name: string, ms: number) => void): Step {
  return (name, run) => {
    const t0 = performance.now();
    run();
    onStage(name, performance.now() - t0);
  };
}

/** The tensors of the stage that embeds and unembeds (the whole model, or the first stage). */
interface HeadPtrs {
  wte: Weight; // (V, C)
  wpe: Ptr; // (n_ctx, C)
  ln_f: Norm; // (C)
  lm_head: Linear; // (V, C): wte itself (tied), no bias
}

export class GPT2 {
  readonly config: ModelConfig;
  /** The layers this model runs, first..end-1: all of them, or its stage's. */
  readonly layerRange: [first: number, end: number];
  private readonly head?: HeadPtrs; // only where the manifest has wte (wpe and ln_f with it)
  private readonly layers: LayerPtrs[]; // layers[i] is layer first + i

  /**
   * `textless`: ids below n_vocab the model's tokenizer has no text for (a fine-tune's padded or
   * added rows, e.g. nanoGPT's 50,304 or a pad token at 50,257): their logits are −∞, so nothing
   * samples, ranks or scores a token that could not be written out.
   */
  constructor(
    manifest: Manifest,
    readonly plan: MemoryPlan,
    private readonly kernels: Kernels,
    private readonly textless: ArrayLike<number> = [],
  ) {
    this.config = manifest.config;
    const entries = new Map(manifest.tensors.map((t) => [t.name, t]));
    const entry = (name: string) => {
      const t = entries.get(name);
      if (t === undefined) throw new Error(`manifest has no tensor '${name}'`);
      return t;
    };
    const ptr = (name: string) => plan.weights + entry(name).offset;
    const weight = (name: string): Weight => {
      const t = entry(name);
      return {
        dtype: t.dtype,
        q: plan.weights + t.offset,
        s: plan.weights + (t.scales_offset ?? 0),
      };
    };
    const norm = (name: string): Norm => ({ w: ptr(name + ".weight"), b: ptr(name + ".bias") });
    const linear = (name: string): Linear => ({
      w: weight(name + ".weight"),
      b: ptr(name + ".bias"),
    });
    if (entries.has("wte")) {
      const wte = weight("wte");
      this.head = { wte, wpe: ptr("wpe"), ln_f: norm("ln_f"), lm_head: { w: wte, b: 0 } };
    }
    this.layerRange = stageLayers(manifest);
    this.layers = [];
    for (let l = this.layerRange[0]; l < this.layerRange[1]; l++) {
      const h = `h.${l}.`;
      this.layers.push({
        ln_1: norm(h + "ln_1"),
        c_attn: linear(h + "attn.c_attn"),
        attn_proj: linear(h + "attn.c_proj"),
        ln_2: norm(h + "ln_2"),
        c_fc: linear(h + "mlp.c_fc"),
        mlp_proj: linear(h + "mlp.c_proj"),
      });
    }
  }

  /**
   * Run the segments through the model. For every row that needs logits, onLogits(seg, t, logits)
   * is called with a (V) view that is only valid during the call (the buffer is reused).
   */
  forward(
    segs: Segment[],
    onLogits: (seg: number, t: number, logits: Float32Array) => void,
    hooks: ForwardHooks = {},
  ): void {
    if (segmentRows(segs, this.plan) === 0) return;
    this.forwardLayers(segs, undefined, hooks);
    this.logitsFrom(segs, undefined, onLogits, hooks);
  }

  /**
   * This model's layers over the segments' rows, appending their keys and values to the KV cache
   * at each segment's slot and positions. The stage that embeds embeds the segments' ids (input
   * undefined); any other takes the previous stage's output rows, input [B][C] in segment order.
   * Returns x [B][C], a view valid until the next call.
   */
  forwardLayers(segs: Segment[], input?: Float32Array, hooks: ForwardHooks = {}): Float32Array {
    const { kernels, plan } = this;
    const { n_embd: C, n_head: NH, eps } = this.config;
    const B = segmentRows(segs, this.plan); // rows in this call
    if (B === 0) return this.f32(plan.x, 0);
    const step = hooks.onStage ? timed(hooks.onStage) : untimed;
    if (input === undefined) {
      // ---- embedding: x[row] = wte[id] + wpe[pos] ----
      step("embed", () => this.embed(segs, B));
      hooks.onResidual?.(-1, this.f32(plan.x, B * C));
    } else this.copyIn("forwardLayers", input, B);

    for (let i = 0; i < this.layers.length; i++) {
      const w = this.layers[i];
      const l = this.layerRange[0] + i; // the layer's number in the whole model
      const h = `h.${l}.`;
      // ---- attention: x += c_proj(attention(ln_1(x))) ----
      step(h + "ln_1", () => kernels.layernorm(plan.xn, plan.x, w.ln_1.w, w.ln_1.b, B, C, eps));
      step(h + "c_attn", () => this.qkv(w, B)); // (B, 3C) = q | k | v
      let row = 0;
      segs.forEach((s, si) => {
        const T = s.ids.length;
        step(h + "attention", () => this.attend(i, s, row)); // y = softmax(q·kᵀ/√HS, causal)·v
        hooks.onAttention?.(l, si, this.f32(plan.att, NH * T * (s.pos0 + T)));
        row += T;
      });
      step(h + "attn.c_proj", () => this.addLinear(plan.y, w.attn_proj, B, C));

      // ---- MLP: x += c_proj(gelu(c_fc(ln_2(x)))) ----
      step(h + "ln_2", () => kernels.layernorm(plan.xn, plan.x, w.ln_2.w, w.ln_2.b, B, C, eps));
      step(h + "c_fc", () => this.linear(plan.fc, plan.xn, w.c_fc, B, C, 4 * C));
      step(h + "gelu", () => kernels.gelu(plan.fc, plan.fc, B * 4 * C));
      step(h + "mlp.c_proj", () => this.addLinear(plan.fc, w.mlp_proj, B, 4 * C));
      hooks.onResidual?.(l, this.f32(plan.x, B * C));
    }
    return this.f32(plan.x, B * C);
  }

  /**
   * ln_f and the tied unembedding of the rows that want logits, calling onLogits(seg, t, logits)
   * as forward does. x: the last stage's output rows [B][C] (copied in), or undefined for this
   * model's own x (the whole model, after forwardLayers). Only the stage that embeds has wte.
   */
  logitsFrom(
    segs: Segment[],
    x: Float32Array | undefined,
    onLogits: (seg: number, t: number, logits: Float32Array) => void,
    hooks: ForwardHooks = {},
  ): void {
    const { plan, head } = this;
    const { n_embd: C, n_vocab: V } = this.config;
    if (!head) throw new Error(`logitsFrom: only the first stage has wte; call it there`);
    if (x !== undefined) this.copyIn("logitsFrom", x, segmentRows(segs, plan));
    const step = hooks.onStage ? timed(hooks.onStage) : untimed;
    // ---- ln_f and the tied unembedding, only for rows whose logits are wanted ----
    const want = logitRows(segs);
    for (let i = 0; i < want.length; i += plan.logitRows) {
      const group = want.slice(i, i + plan.logitRows);
      const [G, rows] = [group.length, group.map(([, , r]) => r)];
      step("ln_f", () => this.lnF(head.ln_f, rows));
      // logits = ln_f(x) · wteᵀ: the unembedding is the embedding (V, C), tied
      step("lm_head", () => this.linear(plan.logits, plan.lnf, head.lm_head, G, C, V));
      group.forEach(([si, t], g) => {
        const logits = this.f32(plan.logits + g * V * 4, V);
        for (let j = 0; j < this.textless.length; j++) logits[this.textless[j]] = -Infinity;
        onLogits(si, t, logits);
      });
    }
  }

  /** x[B][C] = rows, the output of another stage (in another memory). */
  private copyIn(caller: string, rows: Float32Array, B: number): void {
    const C = this.config.n_embd;
    if (rows.length !== B * C)
      throw new Error(`${caller}: got ${rows.length} floats, but ${B} rows need ${B * C}`);
    this.f32(this.plan.x, B * C).set(rows);
  }

  /** A (n) view of WASM memory at byte offset at; valid until the memory next grows. */
  private f32(at: Ptr, n: number): Float32Array {
    return new Float32Array(this.kernels.memory.buffer, at, n);
  }

  /** x = wte[id] + wpe[pos] for every row of every segment, in wte's dtype. */
  private embed(segs: Segment[], B: number): void {
    const { kernels, plan, head } = this;
    const C = this.config.n_embd;
    if (!head) throw new Error(`forwardLayers: only the first stage embeds; pass the input rows`);
    const { wte, wpe } = head;
    new Int32Array(kernels.memory.buffer, plan.ids, B).set(segs.flatMap((s) => Array.from(s.ids)));
    let row = 0;
    for (const s of segs) {
      const [out, ids, T] = [plan.x + row * C * 4, plan.ids + row * 4, s.ids.length];
      kernels.embed(out, wte.q, wte.s, wpe, ids, s.pos0, T, C, DTYPE_CODE[wte.dtype]);
      row += T;
    }
  }

  /**
   * out[T][d] = x[T][n] · wᵀ + b in w's dtype (q8: x goes to int8 blocks in xq/xs first; q4: the
   * kernel quantizes it into its scratch q4x).
   */
  private linear(out: Ptr, x: Ptr, { w, b }: Linear, ...[T, n, d]: MatmulSizes): void {
    const { kernels, plan } = this;
    if (w.dtype === "f32") return kernels.matmul(out, x, w.q, b, T, n, d);
    if (w.dtype === "q8") kernels.quantize(plan.xq, plan.xs, x, T, n);
    const xq = w.dtype === "q8" ? plan.xq : plan.q4x;
    kernels.matmulQuant(out, x, xq, plan.xs, w.q, w.s, b, T, n, d, DTYPE_CODE[w.dtype]);
  }

  /** The residual connection after a block's output projection: x[B][C] += in[B][n] · wᵀ + b. */
  private addLinear(input: Ptr, proj: Linear, B: number, n: number): void {
    const { kernels, plan } = this;
    const C = this.config.n_embd;
    this.linear(plan.tmp, input, proj, B, n, C);
    kernels.add(plan.x, plan.x, plan.tmp, B * C);
  }

  /** qkv[B][3C] = xn · c_attnᵀ + b; an int8 KV cache also gets them as int8 blocks in xq/xs. */
  private qkv(w: LayerPtrs, B: number): void {
    const { kernels, plan } = this;
    const C = this.config.n_embd;
    this.linear(plan.qkv, plan.xn, w.c_attn, B, C, 3 * C);
    if (plan.kvDtype === "q8") kernels.quantize(plan.xq, plan.xs, plan.qkv, B, 3 * C);
  }

  /**
   * Appends a segment's keys and values (its rows of qkv, from `row`) to its slot's cache of
   * this model's layer l (counted from its first) at pos0..pos0+T-1, then writes its attention
   * output to y. An int8 cache takes them from xq/xs,
   * where qkv quantized all rows: bytes and scales are copied, q is read there too.
   */
  private attend(l: number, s: Segment, row: number): void {
    const { kernels, plan, config } = this;
    const { n_embd: C, n_head: NH } = config;
    const T = s.ids.length;
    const kCache = kvAddress(plan, config, s.slot, l, 0);
    const vCache = kvAddress(plan, config, s.slot, l, 1);
    const y = plan.y + row * C * 4;
    const code = DTYPE_CODE[plan.kvDtype];
    if (plan.kvDtype === "f32") {
      // float indices: byte offset / 4, not >> 2, which is negative past 2 GiB (copyWithin then
      // counts from the end of memory)
      const all = new Float32Array(kernels.memory.buffer);
      for (let t = 0; t < T; t++) {
        const qkv = plan.qkv / 4 + (row + t) * 3 * C; // float index of this row's q | k | v
        const pos = s.pos0 + t;
        all.copyWithin(kCache.data / 4 + pos * C, qkv + C, qkv + 2 * C);
        all.copyWithin(vCache.data / 4 + pos * C, qkv + 2 * C, qkv + 3 * C);
      }
      const q = plan.qkv + row * 3 * C * 4;
      const [k, v] = [kCache.data, vCache.data];
      return kernels.attention(y, plan.att, q, 0, k, 0, v, 0, T, s.pos0, C, NH, 3 * C, code);
    }
    const u8 = new Uint8Array(kernels.memory.buffer);
    const scaleBytes = (C / 32) * 4; // f32 scales of C values in blocks of 32
    for (let t = 0; t < T; t++) {
      const qkv = plan.xq + (row + t) * 3 * C; // this row's int8 q | k | v
      const scales = plan.xs + (row + t) * 3 * scaleBytes;
      const pos = s.pos0 + t;
      u8.copyWithin(kCache.data + pos * C, qkv + C, qkv + 2 * C);
      u8.copyWithin(vCache.data + pos * C, qkv + 2 * C, qkv + 3 * C);
      u8.copyWithin(kCache.scales + pos * scaleBytes, scales + scaleBytes, scales + 2 * scaleBytes);
      u8.copyWithin(
        vCache.scales + pos * scaleBytes,
        scales + 2 * scaleBytes,
        scales + 3 * scaleBytes,
      );
    }
    const [q, qs] = [plan.xq + row * 3 * C, plan.xs + row * 3 * scaleBytes];
    const [kd, ks, vd, vs] = [kCache.data, kCache.scales, vCache.data, vCache.scales];
    kernels.attention(y, plan.att, q, qs, kd, ks, vd, vs, T, s.pos0, C, NH, 3 * C, code);
  }

  /** ln_f of the given rows of x, gathered into lnf[rows.length][C]. */
  private lnF(ln_f: Norm, rows: number[]): void {
    const { kernels, plan } = this;
    const { n_embd: C, eps } = this.config;
    const all = new Float32Array(kernels.memory.buffer);
    rows.forEach((r, g) => {
      all.copyWithin(plan.lnf / 4 + g * C, plan.x / 4 + r * C, plan.x / 4 + (r + 1) * C);
    });
    kernels.layernorm(plan.lnf, plan.lnf, ln_f.w, ln_f.b, rows.length, C, eps);
  }
}
