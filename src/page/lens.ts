// View 3: how the prediction forms layer by layer (the logit lens). The selected token's residual
// stream after the embedding and after every block, read through ln_f and the unembedding wteᵀ:
// its top guesses at each depth. The last row is the model's actual next-token distribution.

import type { Inspection } from "../inspect/types.js";
import { $, el, pct, vis } from "./dom.js";
import { addView } from "./state.js";

function render(d: Inspection): void {
  const f = d.focus;
  const head = el("tr", {}, [
    el("th", { scope: "col", text: "read after" }),
    ...f.lens[0].top.map((_, i) => el("th", { scope: "col", text: `guess ${i + 1}` })),
    el("th", { scope: "col", class: "num" }, [
      "entropy ",
      el("span", { class: "lens-p muted", text: "nats" }),
    ]),
  ]);
  const rows = f.lens.map((l) =>
    el("tr", { "data-layer": String(l.layer) }, [
      el("th", { scope: "row", text: l.layer < 0 ? "embedding" : `block ${l.layer}` }),
      ...l.top.map((t) => {
        // Token above its probability; a long token is cut with an ellipsis (the title has it).
        const td = el(
          "td",
          {
            class: "lens-cell",
            "data-id": String(t.id),
            "data-p": String(t.prob),
            title: `${JSON.stringify(t.text)} (id ${t.id}): p = ${pct(t.prob)}`,
          },
          [
            el("span", { class: "lens-tok mono", text: vis(t.text) }),
            " ", // the two are blocks: the space only separates them in the text read aloud
            el("span", { class: "lens-p muted", text: pct(t.prob) }),
          ],
        );
        td.style.setProperty("--p", String(t.prob));
        return td;
      }),
      el("td", {
        class: "num",
        text: l.entropy.toFixed(2),
        title: `entropy ${l.entropy.toFixed(2)} nats`,
      }),
    ]),
  );
  // Fixed layout (style.css): row labels and entropy get their width, the 5 guesses share the rest.
  const cols = el("colgroup", {}, [
    el("col", { class: "lens-label" }),
    ...f.lens[0].top.map(() => el("col")),
    el("col", { class: "lens-ent" }),
  ]);
  $("lens").replaceChildren(
    el("caption", { class: "sr-only", text: "Logit lens" }),
    cols,
    head,
    ...rows,
  );
  const t = d.tokens[f.position];
  $("lens-note").textContent =
    `For ${JSON.stringify(t.text)} (token ${f.position + 1}): each row puts the residual stream at that depth through ln_f and wteᵀ ` +
    `and takes the softmax at T = 1. The last row is the model's real output: for the last token, the distribution of panel 2 at T = 1.`;
}

export const initLens = () => addView({ section: "s-lens", render });
