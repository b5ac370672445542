// "Inside a block": how big each matrix of the loaded model is (counted from the manifest's
// tensors, next to the textbook formulas), and how long each stage of the forward pass took.

import type { Sizes, Timings } from "./types.js";
import type { Manifest } from "../model/manifest.js";
import { round } from "./round.js";

const GROUPS: { name: string; formula: string; match: RegExp; perLayer: boolean }[] = [
  {
    name: "wte: token embedding (also the unembedding)",
    formula: "V·C",
    match: /^wte$/,
    perLayer: false,
  },
  { name: "wpe: position embedding", formula: "n_ctx·C", match: /^wpe$/, perLayer: false },
  {
    name: "attention: c_attn (q|k|v) + c_proj",
    formula: "4·C² + 4·C",
    match: /^h\.\d+\.attn\./,
    perLayer: true,
  },
  {
    name: "MLP: c_fc (C→4C) + c_proj (4C→C)",
    formula: "8·C² + 5·C",
    match: /^h\.\d+\.mlp\./,
    perLayer: true,
  },
  { name: "layer norms ln_1, ln_2", formula: "4·C", match: /^h\.\d+\.ln_/, perLayer: true },
  { name: "ln_f: final layer norm", formula: "2·C", match: /^ln_f\./, perLayer: false },
];

export function modelSizes(m: Manifest): Sizes {
  const { n_vocab: V, n_embd: C, n_ctx, n_layer: L, n_head: NH } = m.config;
  const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const groups = GROUPS.map((g) => {
    const all = m.tensors.filter((t) => g.match.test(t.name));
    const shown = g.perLayer ? all.filter((t) => t.name.startsWith("h.0.")) : all;
    const per = g.perLayer ? Math.max(1, L) : 1;
    return {
      name: g.name,
      formula: g.formula,
      params: all.reduce((s, t) => s + count(t.shape), 0) / per,
      bytes: all.reduce((s, t) => s + t.bytes, 0) / per,
      tensors: shown.map((t) => ({ name: t.name, shape: t.shape })),
      perLayer: g.perLayer,
    };
  });
  const dtypes = [...new Set(m.tensors.map((t) => t.dtype))];
  return {
    dims: { V, C, n_ctx, L, NH, HS: C / NH },
    groups,
    total_params: m.tensors.reduce((s, t) => s + count(t.shape), 0),
    total_bytes: m.image_bytes,
    dtype: dtypes.join("+"),
  };
}

export function timings(stages: Map<string, number>, wallMs: number): Timings {
  const list = [...stages].map(([name, ms]) => ({ name, ms: round(ms, 3) }));
  const forward = [...stages.values()].reduce((a, b) => a + b, 0);
  return {
    stages: list,
    forward_ms: round(forward, 3),
    wall_ms: round(wallMs, 3),
    clock_advanced: forward > 0,
    resolution_ms: forward > 0 && [...stages.values()].every(Number.isInteger) ? 1 : null,
  };
}
