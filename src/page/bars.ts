// View: unembedding and softmax. The final vector times wteᵀ gives V logits; the top ones are
// listed beside their probabilities p = exp(z/T) / Σ exp(z/T) at the live temperature, drawn on a
// log or relative scale (so flattening and sharpening show) after the top-k / top-p / min-p cut.

import type { Inspection } from "../inspect/types.js";
import { apiJson } from "./api.js";
import { cut, type Cut } from "./dist.js";
import { $, el, hex, pct, vis } from "./dom.js";
import { isBytesName, nameBytes } from "./gen.js";
import { runInspect } from "./run.js";
import { addView, S, setStatus } from "./state.js";

const SHOWN = 16; // bars drawn; the page holds the top 200 for the cut-offs
/** The log scale's left edge: p = 10^-LOG_DECADES draws as an empty bar. */
const LOG_DECADES = 5;

export const temp = () => Number($<HTMLInputElement>("temp").value);
export const topK = () => Number($<HTMLInputElement>("topk").value);
export const topP = () => Number($<HTMLInputElement>("topp").value);
export const minP = () => Number($<HTMLInputElement>("minp").value);

export function currentCut(d: Inspection): Cut {
  return cut(d.next, temp(), topK(), topP(), minP());
}

/** Bar length in [0, 1] for probability p on the chosen scale. */
function barLength(p: number, pMax: number, scale: string): number {
  if (p <= 0) return 0;
  if (scale === "relative") return p / pMax;
  if (scale === "linear") return p;
  return Math.max(0, 1 + Math.log10(p) / LOG_DECADES);
}

function render(d: Inspection): void {
  const T = temp();
  $("temp-out").textContent = T.toFixed(2);
  $("topk-out").textContent = topK() > 0 ? String(topK()) : "off";
  $("topp-out").textContent = topP() < 1 ? topP().toFixed(2) : "off";
  $("minp-out").textContent = minP() > 0 ? minP().toFixed(2) : "off";
  $("formula").textContent =
    T > 0
      ? `p_i = exp(z_i / ${T.toFixed(2)}) / Σ_j exp(z_j / ${T.toFixed(2)}) over all ${d.config.n_vocab} tokens`
      : "T = 0: no division; the token with the largest logit z is taken (greedy)";
  const scale = $<HTMLSelectElement>("bar-scale").value;
  const c = currentCut(d);
  const n = Math.min(SHOWN, d.next.top.length);
  const pMax = Math.max(...c.sample.slice(0, n), 1e-12);
  const rows: Node[] = [
    el("div", { class: "bar-row bar-head", "aria-hidden": "true" }, [
      el("span", { class: "rank", text: "#" }),
      el("span", { class: "tok", text: "token" }),
      el("span", { class: "z", text: "logit z" }),
      el("span", { class: "track-h", text: scaleLabel(scale) }),
      el("span", { class: "p", text: "p drawn" }),
    ]),
  ];
  for (let i = 0; i < n; i++) {
    const t = d.next.top[i];
    const drawn = c.sample[i];
    const isCut = i >= c.end;
    const fill = el("div", { class: "fill" });
    fill.style.width = (100 * barLength(drawn, pMax, scale)).toFixed(2) + "%";
    const label =
      `${JSON.stringify(t.text)}: logit ${t.logit.toFixed(2)}, p ${pct(c.probs[i])}` +
      (isCut ? ", cut off" : c.by ? `, ${pct(drawn)} after the cut` : "");
    const cls = "bar-row" + (isCut ? " cut" : "") + (i === S.sampled ? " sampled" : "");
    rows.push(
      el("div", { class: cls, role: "listitem", "aria-label": label, "data-p": String(drawn) }, [
        el("span", { class: "rank", text: String(i + 1) }),
        el("span", { class: "tok", text: vis(t.text), title: `id ${t.id}` }),
        el("span", { class: "z", text: t.logit.toFixed(2) }),
        el("div", { class: "track" }, [fill]),
        el("span", { class: "p", text: isCut ? "cut" : pct(drawn) }),
      ]),
    );
    if (c.by && c.end === i + 1) rows.push(el("div", { class: "cutline", text: cutText(c) }));
  }
  $("bars").replaceChildren(...rows);
  $("bars-note").textContent = note(d, c, n);
}

function scaleLabel(scale: string): string {
  if (scale === "log") return `log scale: 10^-${LOG_DECADES} … 1`;
  if (scale === "relative") return "relative to the top token";
  return "linear: 0 … 100%";
}

function cutText(c: Cut): string {
  const rule =
    c.by === "top-k"
      ? `top-k = ${topK()}`
      : c.by === "top-p"
        ? `top-p = ${topP().toFixed(2)}`
        : `min-p = ${minP().toFixed(2)}`;
  return `${rule}: only the ${c.end} above can be drawn; their probabilities are renormalised to sum to 1`;
}

function note(d: Inspection, c: Cut, n: number): string {
  const notes: string[] = [];
  if (c.greedy)
    notes.push("Temperature 0 is greedy: the top token every time; the cut-offs do nothing.");
  else {
    const held = c.probs.slice(0, n).reduce((a, b) => a + b, 0);
    notes.push(
      `Before the cut these ${n} hold ${pct(held)} of the probability over all ${d.config.n_vocab} tokens; entropy at T = 1 is ${d.next.entropy.toFixed(2)} nats.`,
    );
  }
  if (!c.exact)
    notes.push(
      `Approximate: a cut-off reaches past the ${d.next.top.length} tokens the page holds.`,
    );
  notes.push(
    "Sliding needs no new forward pass: the server sent the normaliser Σ exp(z/T) over the whole vocabulary for every slider step.",
  );
  return notes.join(" ");
}

/** Sample one token with the current settings via /v1/completions, then append it. */
async function step(): Promise<void> {
  const d = S.data;
  if (!d) return;
  const btn = $<HTMLButtonElement>("step");
  btn.disabled = true;
  const c = currentCut(d);
  const body: Record<string, unknown> = {
    model: S.model,
    prompt: $<HTMLTextAreaElement>("prompt").value,
    max_tokens: 1,
    temperature: temp(),
    top_p: topP(),
    logprobs: 5,
  };
  if (topK() > 0) body.top_k = topK();
  if (minP() > 0) body.min_p = minP();
  const seed = $<HTMLInputElement>("seed").value.trim();
  if (seed !== "") body.seed = Number(seed);
  try {
    const r = await apiJson<{
      choices: { text: string; finish_reason: string; logprobs: { tokens: string[] } | null }[];
    }>("/v1/completions", body);
    const ch = r.choices[0];
    const tok = ch.logprobs?.tokens.length ? ch.logprobs.tokens[0] : ch.text;
    // A token that is part of a character is named by its bytes ("bytes:\xNN"), and the top
    // list names every such token U+FFFD: it has no one bar to point at.
    const part = isBytesName(tok);
    const i = part ? -1 : d.next.top.findIndex((t) => t.text === tok);
    S.sampled = i;
    render(d);
    const bytes = hex(Array.from(nameBytes(tok)));
    const what =
      ch.text === "" && ch.finish_reason === "stop"
        ? "the end-of-text token"
        : part
          ? `a token that is part of a character (bytes ${bytes})`
          : JSON.stringify(tok);
    const where = i >= 0 ? ` — rank ${i + 1}, drawn with p = ${pct(c.sample[i])}` : "";
    $("steps").append(el("li", { text: `sampled ${what}${where}` }));
    if (ch.text !== "") {
      $<HTMLTextAreaElement>("prompt").value += ch.text;
      await runInspect();
    }
  } catch (e) {
    setStatus("Step failed: " + (e as Error).message, true);
  } finally {
    btn.disabled = false;
  }
}

export function initBars(): void {
  for (const id of ["temp", "topk", "topp", "minp", "bar-scale"]) {
    $(id).addEventListener("input", () => {
      S.sampled = -1;
      if (S.data) render(S.data);
    });
  }
  $("step").addEventListener("click", () => void step());
  addView({ section: "s-next", render });
}
