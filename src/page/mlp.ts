// View 5: the MLP block for the selected token: its 4C GELU activations as a strip, the most
// active neurons with the tokens each one's output direction pushes up (read through the
// unembedding), and how much the MLP changes the residual stream next to attention.

import type { Inspection } from "../inspect/types.js";
import { strip } from "./draw.js";
import { $, el, vis } from "./dom.js";
import { addView } from "./state.js";

function render(d: Inspection): void {
  const m = d.focus.mlp;
  const C = d.config.n_embd;
  $("mlp-title").textContent =
    `Block ${m.layer}, token ${d.focus.position + 1} ${JSON.stringify(d.tokens[d.focus.position].text)}`;
  const max = strip($<HTMLCanvasElement>("mlp-strip"), m.gelu, 28);
  const active = m.gelu.filter((v) => v > 0.1 * max).length;
  $("mlp-strip-note").textContent =
    `${m.gelu.length} = 4 × ${C} neurons: c_fc widens ln_2(x) from ${C} to ${4 * C} numbers, GELU keeps positives and squashes ` +
    `negatives towards 0 (red positive, blue negative, scale ±${max.toFixed(2)}); ${active} are above 10% of the largest.`;
  $("mlp-neurons").replaceChildren(
    ...m.neurons.map((n) =>
      el("li", {}, [
        el("span", { class: "mono", text: `#${n.index}` }),
        ` ${n.act >= 0 ? "+" : ""}${n.act.toFixed(2)} → pushes up `,
        el("span", { class: "mono", text: n.pushes.map((p) => vis(p.text)).join("  ") }),
      ]),
    ),
  );
  const z = m.norms;
  const big = Math.max(z.input, z.attention, z.mlp, 1e-9);
  const row = (label: string, v: number) => {
    const fill = el("div", { class: "fill" });
    fill.style.width = ((100 * v) / big).toFixed(1) + "%";
    return el(
      "div",
      { class: "bar-row", role: "listitem", "aria-label": `${label}: ${v.toFixed(2)}` },
      [
        el("span", { class: "tok", text: label }),
        el("div", { class: "track" }, [fill]),
        el("span", { class: "p", text: v.toFixed(2) }),
      ],
    );
  };
  $("mlp-norms").replaceChildren(
    row("‖x‖ entering", z.input),
    row("‖attention adds‖", z.attention),
    row("‖MLP adds‖", z.mlp),
  );
}

export const initMlp = () => addView({ section: "s-mlp", render });
