// View 4: attention from the inside, for the chosen layer and head and the selected token: its
// query q, the keys it matches best, the scores q·k/√d with the causal mask, the softmax row and
// the weighted sum of values. Then context changes meaning: the same word in two prompts, its
// vectors compared layer by layer (cosine) and which tokens it reads from in each.

import type { Inspection } from "../inspect/types.js";
import { apiJson } from "./api.js";
import { bars, strip } from "./draw.js";
import { $, el, vis } from "./dom.js";
import { addView, S, viewError } from "./state.js";

let compared = false;
function render(d: Inspection): void {
  if (!compared) {
    compared = true; // the two-context comparison fills in once on its own; "Compare" reruns it
    void compare();
  }
  const a = d.focus.attention;
  const t = d.focus.position;
  const HS = a.q.length;
  $("in-title").textContent =
    `Layer ${a.layer}, head ${a.head}, token ${t + 1} ${JSON.stringify(d.tokens[t].text)}`;
  strip($<HTMLCanvasElement>("in-q"), a.q);
  const k0 = a.keys[0];
  strip($<HTMLCanvasElement>("in-k"), k0.k);
  $("in-k-label").textContent =
    `k of ${JSON.stringify(d.tokens[k0.index].text)} (token ${k0.index + 1}), the key it matches best`;
  // The scores of every position, future ones masked: a token cannot read what comes after it.
  const T = d.tokens.length;
  const scores = Array.from({ length: T }, (_, j) => (j <= t ? a.scores[j] : null));
  bars($<HTMLCanvasElement>("in-scores"), scores, 90);
  bars(
    $<HTMLCanvasElement>("in-weights"),
    Array.from({ length: T }, (_, j) => (j <= t ? a.weights[j] : null)),
    90,
  );
  strip($<HTMLCanvasElement>("in-out"), a.out);
  const maxS = Math.max(...a.scores);
  $("in-note").textContent =
    `q and k have d = ${HS} numbers each. Score_j = q·k_j / √${HS}; the largest is ${maxS.toFixed(2)}. ` +
    `Positions after token ${t + 1} are masked (grey, −∞ before the softmax, so weight 0). ` +
    `Softmax turns the ${t + 1} scores into weights that sum to 1; the head's output is Σ weight_j · v_j. Top weights: ` +
    a.keys
      .map((k) => `${JSON.stringify(d.tokens[k.index].text)} ${k.weight.toFixed(3)}`)
      .join(", ") +
    ".";
}

/** Index of the first token whose text, trimmed, is `word`; -1 if none. */
const findWord = (d: Inspection, word: string) =>
  d.tokens.findIndex((t) => t.text.trim() === word.trim());

function cosine(a: number[], b: number[]): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  a.forEach((x, i) => {
    ab += x * b[i];
    aa += x * x;
    bb += b[i] * b[i];
  });
  return ab / Math.sqrt(aa * bb || 1);
}

/** Inspect the word in both prompts (same layer and head) and compare its vectors layer by layer. */
async function compare(): Promise<void> {
  const word = $<HTMLInputElement>("cmp-word").value;
  const prompts = [$<HTMLInputElement>("cmp-a").value, $<HTMLInputElement>("cmp-b").value];
  const out = $("cmp-out");
  try {
    const run = async (prompt: string) => {
      // The lightest inspection: no views but the tokens, then the focus at the word.
      const light = {
        model: S.model,
        prompt,
        top_n: 1,
        neighbours: 0,
        hidden: false,
        embeddings: false,
        prompt_logprobs: false,
        layers: [],
      };
      const probe = await apiJson<Inspection>("/v1/inspect", light);
      const i = findWord(probe, word);
      if (i < 0)
        throw new Error(`${JSON.stringify(word)} is not one token of ${JSON.stringify(prompt)}`);
      return apiJson<Inspection>("/v1/inspect", {
        ...light,
        position: i,
        layer: S.layer,
        head: S.head,
      });
    };
    const [A, B] = await Promise.all(prompts.map(run));
    const rows = A.focus.residual.map((v, l) =>
      el("tr", {}, [
        el("th", { scope: "row", text: l === 0 ? "embedding" : `block ${l - 1}` }),
        el("td", {
          class: "num",
          "data-cos": String(cosine(v, B.focus.residual[l])),
          text: cosine(v, B.focus.residual[l]).toFixed(3),
        }),
      ]),
    );
    const reads = (d: Inspection) =>
      d.focus.attention.keys
        .map((k) => `${vis(d.tokens[k.index].text)} ${k.weight.toFixed(2)}`)
        .join(", ");
    out.replaceChildren(
      el("table", { class: "cmp" }, [
        el("tr", {}, [el("th", { text: "after" }), el("th", { class: "num", text: "cosine A·B" })]),
        ...rows,
      ]),
      el("p", {
        class: "small muted",
        text: "After the embedding the two vectors differ only by position (wpe); each block then mixes in what the word reads from its context.",
      }),
      el("p", {
        class: "small",
        text: `A: in layer ${S.layer} head ${S.head} it reads ${reads(A)}`,
      }),
      el("p", {
        class: "small",
        text: `B: in layer ${S.layer} head ${S.head} it reads ${reads(B)}`,
      }),
    );
    viewError("s-inside", null);
  } catch (e) {
    out.replaceChildren();
    viewError("s-inside", `Comparison failed: ${(e as Error).message}`);
  }
}

export function initInside(): void {
  $("cmp-run").addEventListener("click", () => void compare());
  addView({ section: "s-inside", render });
}
