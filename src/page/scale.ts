// View 7: scale. This model's parameter tally beside GPT-2 124M / 355M / 774M / 1.5B and GPT-3
// 175B, each computed from its configuration per matrix kind, with what it weighs at q4 against
// one Worker isolate's memory budget.

import type { Inspection } from "../inspect/types.js";
import { $, el, fmtCount } from "./dom.js";
import { addView } from "./state.js";

interface Config {
  name: string;
  V: number;
  n_ctx: number;
  C: number;
  L: number;
}

export const FAMILY: Config[] = [
  { name: "GPT-2 124M", V: 50257, n_ctx: 1024, C: 768, L: 12 },
  { name: "GPT-2 355M", V: 50257, n_ctx: 1024, C: 1024, L: 24 },
  { name: "GPT-2 774M", V: 50257, n_ctx: 1024, C: 1280, L: 36 },
  { name: "GPT-2 1.5B", V: 50257, n_ctx: 1024, C: 1600, L: 48 },
  { name: "GPT-3 175B", V: 50257, n_ctx: 2048, C: 12288, L: 96 },
];

/** Parameters per matrix kind, from GPT-2's layout (GPT-3 has the same blocks, only bigger). */
export function tally(c: Config) {
  const { V, n_ctx, C, L } = c;
  const parts = {
    embedding: V * C + n_ctx * C, // wte (also the unembedding) + wpe
    attention: L * (4 * C * C + 4 * C), // c_attn (3C×C) + c_proj (C×C), biases
    mlp: L * (8 * C * C + 5 * C), // c_fc (4C×C) + c_proj (C×4C), biases
    norms: L * 4 * C + 2 * C, // ln_1, ln_2 per block, ln_f
  };
  return { ...parts, total: parts.embedding + parts.attention + parts.mlp + parts.norms };
}

/** One isolate's weight budget (wrangler.toml MEMORY_BUDGET_MB, less KV cache and scratch). */
const BUDGET_MIB = 112;
/** q4 bytes per weight: 4 bits plus one f32 scale per block of 32. */
const Q4_BYTES = 0.625;

function serving(c: Config, total: number): string {
  const mib = (total * Q4_BYTES) / 2 ** 20;
  if (c.name.startsWith("GPT-3"))
    return `no: its weights were never released (${(mib / 1024).toFixed(0)} GiB at q4)`;
  if (mib < BUDGET_MIB * 0.9) return `yes, one isolate as q4 (${mib.toFixed(0)} MiB)`;
  return `not in one ${BUDGET_MIB} MiB isolate (${mib.toFixed(0)} MiB at q4): needs splitting across isolates`;
}

function render(d: Inspection): void {
  const z = d.sizes.dims;
  const here: Config = { name: `${d.model} (this page)`, V: z.V, n_ctx: z.n_ctx, C: z.C, L: z.L };
  const rows = [here, ...FAMILY].map((c, i) => {
    const t = tally(c);
    const cells = [t.embedding, t.attention, t.mlp, t.norms, t.total].map((n) =>
      el("td", { class: "num", text: fmtCount(n) }),
    );
    return el("tr", { class: i === 0 ? "here" : "", "data-total": String(t.total) }, [
      el("th", { scope: "row", text: c.name }),
      el("td", { class: "mono small", text: `${c.L} × ${c.C}, V ${c.V}` }),
      ...cells,
      el("td", {
        class: "small",
        text: i === 0 ? `yes: running now (${d.sizes.dtype})` : serving(c, t.total),
      }),
    ]);
  });
  const head = el(
    "tr",
    {},
    ["model", "L × C, V", "embedding", "attention", "MLP", "norms", "total", "served here?"].map(
      (h, i) => el("th", { scope: "col", class: i >= 2 && i <= 6 ? "num" : "", text: h }),
    ),
  );
  $("scale").replaceChildren(
    el("caption", { class: "sr-only", text: "Parameters by model" }),
    head,
    ...rows,
  );
  const g3wte = FAMILY[4].V * FAMILY[4].C;
  const mine = tally(here).total;
  $("scale-note").textContent =
    `Counted from each configuration: embedding = V·C + n_ctx·C, attention = L(4C² + 4C), MLP = L(8C² + 5C). ` +
    `This model's count matches the ${d.sizes.total_params.toLocaleString("en-US")} parameters in its weight file: ${mine === d.sizes.total_params ? "yes" : "no"}. ` +
    `GPT-3's embedding matrix wte alone has ${fmtCount(g3wte)} parameters, ${Math.round(g3wte / mine).toLocaleString("en-US")}× this whole model.`;
}

export const initScale = () => addView({ section: "s-scale", render });
