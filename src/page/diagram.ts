// View 1, the page's spine: the model as a diagram, tokens → wte + wpe → L × [ln_1 → attention →
// + → ln_2 → MLP → +] → ln_f → unembedding → softmax → sample, each box with its live shape for
// this model and prompt; a box is a button that opens (scrolls to and focuses) its view.

import type { Inspection } from "../inspect/types.js";
import { $, el, fmtInt } from "./dom.js";
import { addView } from "./state.js";

interface Box {
  name: string;
  shape: string;
  view: string;
  kind?: string;
}

function boxes(d: Inspection): { before: Box[]; block: Box[]; after: Box[] } {
  const { n_embd: C, n_head: NH, n_vocab: V } = d.config;
  const T = d.tokens.length;
  return {
    before: [
      { name: "tokens", shape: `${T} ids`, view: "s-tokens" },
      { name: "wte + wpe", shape: `${T} × ${C}`, view: "s-emb" },
    ],
    block: [
      { name: "ln_1", shape: `${T} × ${C}`, view: "s-block", kind: "norm" },
      { name: "attention", shape: `${NH} heads × ${T} × ${T}`, view: "s-att" },
      { name: "q·k / √d, softmax", shape: `${C / NH} per head`, view: "s-inside" },
      { name: "+", shape: `${T} × ${C}`, view: "s-mlp", kind: "add" },
      { name: "ln_2", shape: `${T} × ${C}`, view: "s-block", kind: "norm" },
      { name: "MLP", shape: `${T} × ${4 * C} → ${C}`, view: "s-mlp" },
      { name: "+", shape: `${T} × ${C}`, view: "s-lens", kind: "add" },
    ],
    after: [
      { name: "ln_f", shape: `${T} × ${C}`, view: "s-lens", kind: "norm" },
      { name: "unembedding h·wteᵀ", shape: `${C} → ${fmtInt(V)} logits`, view: "s-next" },
      { name: "softmax ÷ T", shape: `${fmtInt(V)} probabilities`, view: "s-next" },
      { name: "sample, append, repeat", shape: "1 token", view: "s-temps" },
      {
        name: "how big is this?",
        shape: `${fmtInt(d.sizes.total_params)} parameters`,
        view: "s-scale",
      },
    ],
  };
}

function button(b: Box): HTMLButtonElement {
  const e = el(
    "button",
    {
      type: "button",
      class: "box" + (b.kind ? " " + b.kind : ""),
      "data-view": b.view,
      "aria-label": `${b.name}, ${b.shape}: open its view`,
    },
    [
      el("span", { class: "box-name", text: b.name }),
      el("span", { class: "box-shape", text: b.shape }),
    ],
  );
  e.addEventListener("click", () => {
    const target = $(b.view);
    target.scrollIntoView({ behavior: "smooth", block: "start" });
    target.querySelector<HTMLElement>("h2")?.focus({ preventScroll: true });
  });
  return e;
}

function render(d: Inspection): void {
  const b = boxes(d);
  const n = d.sizes.total_params;
  $("model-line").textContent =
    `This one, ${d.model}: ${d.config.n_layer} blocks, ${d.config.n_embd} wide, ${fmtInt(d.config.n_vocab)} tokens, ` +
    `${fmtInt(n)} parameters; GPT-2 124M is ${Math.round(124.4e6 / n)}× bigger and GPT-3 175B ${fmtInt(174.6e9 / n)}× (panel 7).`;
  const arrow = () => el("span", { class: "arrow", "aria-hidden": "true", text: "↓" });
  const list = (xs: Box[]) => xs.flatMap((x, i) => (i ? [arrow(), button(x)] : [button(x)]));
  $("diagram").replaceChildren(
    ...list(b.before),
    arrow(),
    el("div", { class: "block-group" }, [
      el("span", { class: "repeat", text: `× ${d.config.n_layer} blocks` }),
      ...list(b.block),
    ]),
    arrow(),
    ...list(b.after),
  );
}

export const initDiagram = () => addView({ section: "s-diagram", render });
