// The GPT-2 forward pass over WASM memory: embed (wte + wpe) -> L x [ln_1, attention, residual,
// ln_2, MLP with GELU, residual] -> ln_f -> logits = h · wteᵀ. One call processes a batch of
// segments (a prefill chunk or one decode token of each running sequence) as one set of rows,
// so every weight matrix is read once per call for all of them.

import type { Kernels, Ptr } from "../kernels/types.js";
import type { Manifest, ModelConfig } from "./manifest.js";
import type { MemoryPlan } from "./plan.js";

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
}

/** Pointers to one layer's tensors. Linear weights are [out][in]. */
interface LayerPtrs {
  ln_1_w: Ptr; // (C)
  ln_1_b: Ptr; // (C)
  c_attn_w: Ptr; // (3C, C)
  c_attn_b: Ptr; // (3C)
  attn_proj_w: Ptr; // (C, C)
  attn_proj_b: Ptr; // (C)
  ln_2_w: Ptr; // (C)
  ln_2_b: Ptr; // (C)
  c_fc_w: Ptr; // (4C, C)
  c_fc_b: Ptr; // (4C)
  mlp_proj_w: Ptr; // (C, 4C)
  mlp_proj_b: Ptr; // (C)
}

export class GPT2 {
  readonly config: ModelConfig;
  private readonly wte: Ptr; // (V, C)
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
    const at = new Map(manifest.tensors.map((t) => [t.name, plan.weights + t.offset]));
    const ptr = (name: string) => {
      const p = at.get(name);
      if (p === undefined) throw new Error(`manifest has no tensor '${name}'`);
      return p;
    };
    this.wte = ptr("wte");
    this.wpe = ptr("wpe");
    this.ln_f_w = ptr("ln_f.weight");
    this.ln_f_b = ptr("ln_f.bias");
    this.layers = [];
    for (let l = 0; l < this.config.n_layer; l++) {
      const p = `h.${l}.`;
      this.layers.push({
        ln_1_w: ptr(p + "ln_1.weight"),
        ln_1_b: ptr(p + "ln_1.bias"),
        c_attn_w: ptr(p + "attn.c_attn.weight"),
        c_attn_b: ptr(p + "attn.c_attn.bias"),
        attn_proj_w: ptr(p + "attn.c_proj.weight"),
        attn_proj_b: ptr(p + "attn.c_proj.bias"),
        ln_2_w: ptr(p + "ln_2.weight"),
        ln_2_b: ptr(p + "ln_2.bias"),
        c_fc_w: ptr(p + "mlp.c_fc.weight"),
        c_fc_b: ptr(p + "mlp.c_fc.bias"),
        mlp_proj_w: ptr(p + "mlp.c_proj.weight"),
        mlp_proj_b: ptr(p + "mlp.c_proj.bias"),
      });
    }
  }

  /** Byte address of the key (or value) cache of one layer of one slot: (n_ctx, C). */
  kvCache(slot: number, layer: number, which: 0 | 1): Ptr {
    const { n_ctx, n_embd: C } = this.config;
    const layerBytes = 2 * n_ctx * C * 4;
    return this.plan.kv + slot * this.plan.kvSlotBytes + layer * layerBytes + which * n_ctx * C * 4;
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
    const { n_embd: C, n_head: NH, n_ctx, eps, n_vocab: V } = this.config;
    const B = segs.reduce((n, s) => n + s.ids.length, 0); // rows in this call
    if (B === 0) return;
    if (B > plan.rows) throw new Error(`forward: ${B} rows exceed the planned ${plan.rows}`);
    for (const s of segs) {
      if (s.pos0 + s.ids.length > n_ctx) throw new Error(`forward: positions past n_ctx ${n_ctx}`);
    }
    const mem = () => k.memory.buffer;
    const f32 = (p: Ptr, n: number) => new Float32Array(mem(), p, n);

    // ---- embedding: x[row] = wte[id] + wpe[pos] ----
    new Int32Array(mem(), plan.ids, B).set(segs.flatMap((s) => Array.from(s.ids)));
    let row = 0;
    for (const s of segs) {
      const T = s.ids.length;
      k.embed(plan.x + row * C * 4, this.wte, this.wpe, plan.ids + row * 4, s.pos0, T, C);
      row += T;
    }
    hooks.onResidual?.(-1, f32(plan.x, B * C));

    for (let l = 0; l < this.layers.length; l++) {
      const w = this.layers[l];
      // ---- attention: x += c_proj(attention(ln_1(x))) ----
      k.layernorm(plan.xn, plan.x, w.ln_1_w, w.ln_1_b, B, C, eps);
      k.matmul(plan.qkv, plan.xn, w.c_attn_w, w.c_attn_b, B, C, 3 * C); // (B, 3C) = q | k | v
      row = 0;
      for (let si = 0; si < segs.length; si++) {
        const s = segs[si];
        const T = s.ids.length;
        const kc = this.kvCache(s.slot, l, 0);
        const vc = this.kvCache(s.slot, l, 1);
        // Append this segment's keys and values to its slot's cache at pos0..pos0+T-1.
        const all = new Float32Array(mem());
        for (let t = 0; t < T; t++) {
          const src = (plan.qkv >> 2) + (row + t) * 3 * C;
          all.copyWithin((kc >> 2) + (s.pos0 + t) * C, src + C, src + 2 * C);
          all.copyWithin((vc >> 2) + (s.pos0 + t) * C, src + 2 * C, src + 3 * C);
        }
        const y = plan.y + row * C * 4;
        k.attention(y, plan.att, plan.qkv + row * 3 * C * 4, kc, vc, T, s.pos0, C, NH, 3 * C);
        hooks.onAttention?.(l, si, f32(plan.att, NH * T * (s.pos0 + T)));
        row += T;
      }
      k.matmul(plan.tmp, plan.y, w.attn_proj_w, w.attn_proj_b, B, C, C);
      k.add(plan.x, plan.x, plan.tmp, B * C);

      // ---- MLP: x += c_proj(gelu(c_fc(ln_2(x)))) ----
      k.layernorm(plan.xn, plan.x, w.ln_2_w, w.ln_2_b, B, C, eps);
      k.matmul(plan.fc, plan.xn, w.c_fc_w, w.c_fc_b, B, C, 4 * C);
      k.gelu(plan.fc, plan.fc, B * 4 * C);
      k.matmul(plan.tmp, plan.fc, w.mlp_proj_w, w.mlp_proj_b, B, 4 * C, C);
      k.add(plan.x, plan.x, plan.tmp, B * C);
      hooks.onResidual?.(l, f32(plan.x, B * C));
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
        all.copyWithin((plan.lnf >> 2) + g * C, (plan.x >> 2) + r * C, (plan.x >> 2) + (r + 1) * C);
      });
      k.layernorm(plan.lnf, plan.lnf, this.ln_f_w, this.ln_f_b, group.length, C, eps);
      k.matmul(plan.logits, plan.lnf, this.wte, 0, group.length, C, V); // wte is (V, C): tied
      group.forEach(([si, t], g) => onLogits(si, t, f32(plan.logits + g * V * 4, V)));
    }
  }
}
