// The GPT-2 forward pass over WASM memory: embed (wte + wpe) -> L x [ln_1, attention, residual,
// ln_2, MLP with GELU, residual] -> ln_f -> logits = h · wteᵀ. One call processes a batch of
// segments (a prefill chunk or one decode token of each running sequence) as one set of rows,
// so every weight matrix is read once per call for all of them.

import type { Kernels, Ptr } from "../kernels/types.js";
import type { DType, Manifest, ModelConfig } from "./manifest.js";
import { kvAddress, type MemoryPlan } from "./plan.js";

/** One sequence's contribution to a forward call: `ids` appended at positions pos0.. in `slot`. */
export interface Segment {
  slot: number;
  pos0: number;
  ids: ArrayLike<number>;
  /** Which of this segment's rows need logits: "last", "all", or "none". */
  logits: "last" | "all" | "none";
}

export interface ForwardHooks {
  /** Called after each layer's attention for each segment; att is [NH][T][pos0+T] (a view, valid only inside the call). */
  onAttention?(layer: number, seg: number, att: Float32Array): void;
  /** Called with the residual stream after the embedding (layer -1) and after each layer, all rows [rows][C]. */
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

/** Pointers to one layer's tensors. Linear weights are [out][in]. */
interface LayerPtrs {
  ln_1_w: Ptr; // (C)
  ln_1_b: Ptr; // (C)
  c_attn_w: Weight; // (3C, C)
  c_attn_b: Ptr; // (3C)
  attn_proj_w: Weight; // (C, C)
  attn_proj_b: Ptr; // (C)
  ln_2_w: Ptr; // (C)
  ln_2_b: Ptr; // (C)
  c_fc_w: Weight; // (4C, C)
  c_fc_b: Ptr; // (4C)
  mlp_proj_w: Weight; // (C, 4C)
  mlp_proj_b: Ptr; // (C)
}

export class GPT2 {
  readonly config: ModelConfig;
  private readonly wte: Weight; // (V, C)
  private readonly wpe: Ptr; // (n_ctx, C)
  private readonly ln_f_w: Ptr; // (C)
  private readonly ln_f_b: Ptr; // (C)
  private readonly layers: LayerPtrs[];

  constructor(
    manifest: Manifest,
    readonly plan: MemoryPlan,
    readonly k: Kernels,
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
    this.wte = weight("wte");
    this.wpe = ptr("wpe");
    this.ln_f_w = ptr("ln_f.weight");
    this.ln_f_b = ptr("ln_f.bias");
    this.layers = [];
    for (let l = 0; l < this.config.n_layer; l++) {
      const p = `h.${l}.`;
      this.layers.push({
        ln_1_w: ptr(p + "ln_1.weight"),
        ln_1_b: ptr(p + "ln_1.bias"),
        c_attn_w: weight(p + "attn.c_attn.weight"),
        c_attn_b: ptr(p + "attn.c_attn.bias"),
        attn_proj_w: weight(p + "attn.c_proj.weight"),
        attn_proj_b: ptr(p + "attn.c_proj.bias"),
        ln_2_w: ptr(p + "ln_2.weight"),
        ln_2_b: ptr(p + "ln_2.bias"),
        c_fc_w: weight(p + "mlp.c_fc.weight"),
        c_fc_b: ptr(p + "mlp.c_fc.bias"),
        mlp_proj_w: weight(p + "mlp.c_proj.weight"),
        mlp_proj_b: ptr(p + "mlp.c_proj.bias"),
      });
    }
  }

  /** out[T][d] = x[T][n] · wᵀ + b in w's dtype (q8: x goes to int8 blocks in xq first). */
  private linear(out: Ptr, x: Ptr, w: Weight, b: Ptr, T: number, n: number, d: number): void {
    const { k, plan } = this;
    if (w.dtype === "f32") return k.matmul(out, x, w.q, b, T, n, d);
    if (w.dtype === "q4") return k.matmulQ4(out, x, plan.q4x, w.q, w.s, b, T, n, d);
    k.quantize(plan.xq, plan.xs, x, T, n);
    k.matmulQ8(out, plan.xq, plan.xs, w.q, w.s, b, T, n, d);
  }

  /** T rows at out = wte[ids] + wpe[pos0..], in wte's dtype. */
  private embed(out: Ptr, ids: Ptr, pos0: number, T: number): void {
    const { k, wte, wpe } = this;
    const C = this.config.n_embd;
    if (wte.dtype === "f32") k.embed(out, wte.q, wpe, ids, pos0, T, C);
    else if (wte.dtype === "q8") k.embedQ8(out, wte.q, wte.s, wpe, ids, pos0, T, C);
    else k.embedQ4(out, wte.q, wte.s, wpe, ids, pos0, T, C);
  }

  /**
   * Appends a segment's keys and values (its rows of qkv, from `row`) to its slot's cache at
   * pos0..pos0+T-1, then writes its attention output to y. An int8 cache takes them from xq/xs,
   * where forward quantized all qkv rows: bytes and scales are copied, q is read there too.
   */
  private attend(l: number, s: Segment, row: number): void {
    const { k, plan, config } = this;
    const { n_embd: C, n_head: NH } = config;
    const T = s.ids.length;
    const kc = kvAddress(plan, config, s.slot, l, 0);
    const vc = kvAddress(plan, config, s.slot, l, 1);
    const y = plan.y + row * C * 4;
    if (plan.kvDtype === "f32") {
      // float indices: byte offset / 4, not >> 2, which is negative past 2 GiB (copyWithin then
      // counts from the end of memory)
      const all = new Float32Array(k.memory.buffer);
      for (let t = 0; t < T; t++) {
        const src = plan.qkv / 4 + (row + t) * 3 * C;
        all.copyWithin(kc.data / 4 + (s.pos0 + t) * C, src + C, src + 2 * C);
        all.copyWithin(vc.data / 4 + (s.pos0 + t) * C, src + 2 * C, src + 3 * C);
      }
      const q = plan.qkv + row * 3 * C * 4;
      return k.attention(y, plan.att, q, kc.data, vc.data, T, s.pos0, C, NH, 3 * C);
    }
    const u8 = new Uint8Array(k.memory.buffer);
    const sb = (C / 32) * 4; // scale bytes per C values
    for (let t = 0; t < T; t++) {
      const [q, qs, p] = [plan.xq + (row + t) * 3 * C, plan.xs + (row + t) * 3 * sb, s.pos0 + t];
      u8.copyWithin(kc.data + p * C, q + C, q + 2 * C);
      u8.copyWithin(vc.data + p * C, q + 2 * C, q + 3 * C);
      u8.copyWithin(kc.scales + p * sb, qs + sb, qs + 2 * sb);
      u8.copyWithin(vc.scales + p * sb, qs + 2 * sb, qs + 3 * sb);
    }
    const [q, qs] = [plan.xq + row * 3 * C, plan.xs + row * 3 * sb];
    const [kd, ks, vd, vs] = [kc.data, kc.scales, vc.data, vc.scales];
    k.attentionQ8(y, plan.att, q, qs, kd, ks, vd, vs, T, s.pos0, C, NH, 3 * C);
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
    const { k, plan } = this;
    const { n_embd: C, n_head: NH, eps, n_vocab: V } = this.config;
    const B = segs.reduce((n, s) => n + s.ids.length, 0); // rows in this call
    if (B === 0) return;
    if (B > plan.rows) throw new Error(`forward: ${B} rows exceed the planned ${plan.rows}`);
    for (const s of segs) {
      if (s.pos0 + s.ids.length > plan.context)
        throw new Error(`forward: positions past the served context ${plan.context}`);
    }
    const mem = () => k.memory.buffer;
    const f32 = (p: Ptr, n: number) => new Float32Array(mem(), p, n);
    const onStage = hooks.onStage;
    let lap = onStage ? performance.now() : 0;
    /** Report the time since the last lap as `name`; a no-op without an onStage hook. */
    const stage = (name: string) => {
      if (!onStage) return;
      onStage(name, performance.now() - lap);
      lap = performance.now(); // restart after the hook, so its own time is not counted
    };
    /** Restart the clock after another hook ran. */
    const resume = () => {
      if (onStage) lap = performance.now();
    };

    // ---- embedding: x[row] = wte[id] + wpe[pos] ----
    new Int32Array(mem(), plan.ids, B).set(segs.flatMap((s) => Array.from(s.ids)));
    let row = 0;
    for (const s of segs) {
      const T = s.ids.length;
      this.embed(plan.x + row * C * 4, plan.ids + row * 4, s.pos0, T);
      row += T;
    }
    stage("embed");
    hooks.onResidual?.(-1, f32(plan.x, B * C));
    resume();

    for (let l = 0; l < this.layers.length; l++) {
      const w = this.layers[l];
      const h = `h.${l}.`;
      // ---- attention: x += c_proj(attention(ln_1(x))) ----
      k.layernorm(plan.xn, plan.x, w.ln_1_w, w.ln_1_b, B, C, eps);
      stage(h + "ln_1");
      this.linear(plan.qkv, plan.xn, w.c_attn_w, w.c_attn_b, B, C, 3 * C); // (B, 3C) = q | k | v
      if (plan.kvDtype === "q8") k.quantize(plan.xq, plan.xs, plan.qkv, B, 3 * C); // for attend
      stage(h + "c_attn");
      row = 0;
      for (let si = 0; si < segs.length; si++) {
        const s = segs[si];
        const T = s.ids.length;
        this.attend(l, s, row);
        stage(h + "attention");
        hooks.onAttention?.(l, si, f32(plan.att, NH * T * (s.pos0 + T)));
        resume();
        row += T;
      }
      this.linear(plan.tmp, plan.y, w.attn_proj_w, w.attn_proj_b, B, C, C);
      k.add(plan.x, plan.x, plan.tmp, B * C);
      stage(h + "attn.c_proj");

      // ---- MLP: x += c_proj(gelu(c_fc(ln_2(x)))) ----
      k.layernorm(plan.xn, plan.x, w.ln_2_w, w.ln_2_b, B, C, eps);
      stage(h + "ln_2");
      this.linear(plan.fc, plan.xn, w.c_fc_w, w.c_fc_b, B, C, 4 * C);
      stage(h + "c_fc");
      k.gelu(plan.fc, plan.fc, B * 4 * C);
      stage(h + "gelu");
      this.linear(plan.tmp, plan.fc, w.mlp_proj_w, w.mlp_proj_b, B, 4 * C, C);
      k.add(plan.x, plan.x, plan.tmp, B * C);
      stage(h + "mlp.c_proj");
      hooks.onResidual?.(l, f32(plan.x, B * C));
      resume();
    }

    // ---- ln_f and the tied unembedding, only for rows whose logits are wanted ----
    const want: [seg: number, t: number, row: number][] = [];
    row = 0;
    segs.forEach((s, si) => {
      const T = s.ids.length;
      for (let t = 0; t < T; t++) {
        if (s.logits === "all" || (s.logits === "last" && t === T - 1)) want.push([si, t, row + t]);
      }
      row += T;
    });
    for (let i = 0; i < want.length; i += plan.logitRows) {
      const group = want.slice(i, i + plan.logitRows);
      const all = new Float32Array(mem());
      group.forEach(([, , r], g) => {
        all.copyWithin(plan.lnf / 4 + g * C, plan.x / 4 + r * C, plan.x / 4 + (r + 1) * C);
      });
      k.layernorm(plan.lnf, plan.lnf, this.ln_f_w, this.ln_f_b, group.length, C, eps);
      stage("ln_f");
      this.linear(plan.logits, plan.lnf, this.wte, 0, group.length, C, V); // wte is (V, C): tied
      stage("lm_head");
      group.forEach(([si, t], g) => onLogits(si, t, f32(plan.logits + g * V * 4, V)));
      resume();
    }
  }
}
