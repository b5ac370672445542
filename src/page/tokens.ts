// View: the prompt as token chips (id under each), coloured alternately or by how expected each
// token was; hover or focus shows its bytes, the BPE merges that built it and the model's guesses.

import type { Inspection, PromptLogprob, TokenInfo } from "../inspect/types.js";
import { $, el, hex, pct, vis } from "./dom.js";
import { runInspect } from "./run.js";
import { addView, S, selIndex } from "./state.js";

const CHIP_COLOURS = ["#dbeafe", "#fde68a", "#bbf7d0", "#fbcfe8", "#ddd6fe", "#fed7aa", "#a5f3fc"];

/** Red (surprising) → green (expected) on a log scale: log p from -8 (p ≈ 0.0003) to 0. */
function probColour(lp: number | null): string {
  if (lp === null) return "#e5e7eb";
  const x = Math.max(0, Math.min(1, 1 + lp / 8));
  return `hsl(${Math.round(120 * x)}, 70%, 80%)`;
}

function render(d: Inspection): void {
  const box = $("chips");
  const byProb = $<HTMLSelectElement>("chip-colour").value === "prob";
  const cur = selIndex();
  const frag = document.createDocumentFragment();
  d.tokens.forEach((t, i) => {
    const b = el(
      "button",
      {
        type: "button",
        class: "chip",
        "data-i": String(i),
        "aria-pressed": String(i === cur),
        "aria-label": `token ${i + 1}: ${JSON.stringify(t.text)}, id ${t.id}`,
      },
      [
        el("span", { class: "t", text: vis(t.text) }),
        el("span", { class: "id", text: String(t.id) }),
      ],
    );
    b.style.background = byProb ? probColour(t.logprob) : CHIP_COLOURS[i % CHIP_COLOURS.length];
    frag.append(b);
  });
  box.replaceChildren(frag);
  const n = $<HTMLTextAreaElement>("prompt").value.length;
  $("token-count").textContent =
    `${d.tokens.length} of ${d.limits.max_prompt_tokens} tokens, ${n} characters · ` +
    `selected: token ${cur + 1} ${JSON.stringify(d.tokens[cur].text)}`;
}

function tipContent(t: TokenInfo & PromptLogprob, i: number, T: number): Node[] {
  const kids: Node[] = [
    el("div", {}, [
      el("b", { class: "mono", text: JSON.stringify(t.text) }),
      ` · id ${t.id} · token ${i + 1} of ${T}`,
    ]),
    el("div", {}, ["bytes: ", el("code", { text: hex(t.bytes) })]),
  ];
  if (t.merges === null)
    kids.push(
      el("div", { class: "muted", text: "merges: not traced (special token or long word)" }),
    );
  else if (t.merges.length === 0) kids.push(el("div", { text: "a single byte: no merges" }));
  else {
    const n = t.merges.length;
    kids.push(
      el("div", { text: `built by ${n} BPE merge${n > 1 ? "s" : ""} (Ġ = space, Ċ = newline):` }),
    );
    kids.push(
      el(
        "ol",
        { class: "merges mono" },
        t.merges.map((m) => el("li", { text: `${m[0]} + ${m[1]} → ${m[0]}${m[1]}` })),
      ),
    );
  }
  if (t.logprob !== null && t.top) {
    kids.push(
      el("div", {
        text: `p = ${pct(Math.exp(t.logprob))} given the text before it (rank ${t.rank})`,
      }),
    );
    const rows = t.top.map((a) =>
      el("tr", {}, [
        el("td", { class: "mono", text: JSON.stringify(a.text) }),
        el("td", { text: pct(Math.exp(a.logprob)) }),
      ]),
    );
    kids.push(el("div", { class: "muted", text: "the model expected:" }), el("table", {}, rows));
  } else
    kids.push(el("div", { class: "muted", text: "first token: nothing before it predicts it" }));
  return kids;
}

function showTip(btn: HTMLElement): void {
  const d = S.data;
  if (!d) return;
  const i = Number(btn.dataset.i);
  const tip = $("tip");
  tip.replaceChildren(...tipContent(d.tokens[i], i, d.tokens.length));
  tip.hidden = false;
  btn.setAttribute("aria-describedby", "tip");
  const r = btn.getBoundingClientRect();
  const maxLeft = window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8;
  tip.style.left = Math.max(8, Math.min(r.left + window.scrollX, maxLeft)) + "px";
  tip.style.top = r.bottom + window.scrollY + 6 + "px";
}

function hideTip(): void {
  $("tip").hidden = true;
  document
    .querySelectorAll(".chip[aria-describedby]")
    .forEach((b) => b.removeAttribute("aria-describedby"));
}

/** Select token i (or -1 for the last) and run the per-position views for it. */
export async function selectToken(i: number): Promise<void> {
  S.sel = i;
  if (S.data) render(S.data);
  await runInspect();
}

export function initTokens(): void {
  const chips = $("chips");
  const chipOf = (e: Event) => (e.target as HTMLElement).closest<HTMLElement>(".chip");
  chips.addEventListener("mouseover", (e) => {
    const b = chipOf(e);
    if (b) showTip(b);
  });
  chips.addEventListener("mouseleave", hideTip);
  chips.addEventListener("focusin", (e) => {
    const b = chipOf(e);
    if (b) showTip(b);
  });
  chips.addEventListener("focusout", hideTip);
  chips.addEventListener("click", (e) => {
    const b = chipOf(e);
    if (!b) return;
    const i = Number(b.dataset.i);
    void selectToken(S.sel === i ? -1 : i).then(() => {
      chips.querySelector<HTMLElement>(`[data-i="${i}"]`)?.focus();
    });
  });
  $("chip-colour").addEventListener("change", () => S.data && render(S.data));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") hideTip();
  });
  addView({ section: "s-tokens", render });
}
