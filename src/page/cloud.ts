// View 6: directions in embedding space. An analogy box (a − b + c → nearest tokens by cosine over
// wte), nearest neighbours of the selected token, and a 2D projection of wte on its two main axes
// with robust scaling (a clump of outliers is pinned to the border instead of squeezing the rest)
// and labels placed only where they do not overlap.

import type { Inspection, NeighbourAnswer } from "../inspect/types.js";
import { apiJson } from "./api.js";
import { $, accent, clamp, dark, el, fitCanvas, ink, mutedInk, pct, vis } from "./dom.js";
import { addView, S, selIndex, viewError } from "./state.js";

/** Tukey's fences: an axis spans the quartiles widened by this many interquartile ranges. */
const FENCE = 2;

function quantile(sorted: number[], q: number): number {
  return sorted[clamp(Math.round(q * (sorted.length - 1)), 0, sorted.length - 1)];
}

/** A robust axis: the quartiles widened by FENCE × IQR, clipped to the data's own range. */
function axis(v: number[]): [number, number] {
  const s = v.slice().sort((a, b) => a - b);
  const q1 = quantile(s, 0.25);
  const q3 = quantile(s, 0.75);
  const iqr = q3 - q1 || 1;
  const lo = Math.max(s[0], q1 - FENCE * iqr);
  const hi = Math.min(s[s.length - 1], q3 + FENCE * iqr);
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

type Box = [number, number, number, number];
const overlaps = (a: Box, b: Box) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];

function renderCloud(d: Inspection): void {
  const e = d.embeddings!;
  const canvas = $<HTMLCanvasElement>("cloud");
  const W = canvas.clientWidth || 560;
  const H = Math.round(W * (W < 500 ? 0.9 : 0.62));
  canvas.style.height = H + "px";
  const g = fitCanvas(canvas, W, H);
  const all = [...e.cloud.map((c) => c.xyz), ...e.prompt];
  const [x0, x1] = axis(all.map((p) => p[0]));
  const [y0, y1] = axis(all.map((p) => p[1]));
  const M = 6;
  let pinned = 0;
  const at = (p: number[]) => {
    const x = M + ((p[0] - x0) / (x1 - x0)) * (W - 2 * M);
    const y = H - M - ((p[1] - y0) / (y1 - y0)) * (H - 2 * M);
    const out = x < M || x > W - M || y < M || y > H - M;
    return { x: clamp(x, M, W - M), y: clamp(y, M, H - M), out };
  };
  const placed: Box[] = [];
  g.font = "12px ui-monospace, Menlo, Consolas, monospace";
  const label = (s: string, x: number, y: number, colour: string, plate: boolean) => {
    const w = g.measureText(s).width + 4;
    const bx: Box = [x + 5, y - 9, x + 5 + w, y + 6];
    if (bx[2] > W) [bx[0], bx[2]] = [x - 5 - w, x - 5];
    if (bx[0] < 0 || bx[1] < 0 || bx[3] > H || placed.some((b) => overlaps(b, bx))) return;
    placed.push(bx);
    if (plate) {
      g.fillStyle = dark ? "rgba(13,17,23,.85)" : "rgba(255,255,255,.9)";
      g.fillRect(bx[0], bx[1], w, 15);
    }
    g.fillStyle = colour;
    g.fillText(s, bx[0] + 2, y + 3);
  };
  const cloud = e.cloud.map((c) => ({ c, s: at(c.xyz) }));
  for (const { s } of cloud) {
    pinned += s.out ? 1 : 0;
    g.fillStyle = dark ? "#6e7681" : "#9aa4ae";
    g.beginPath();
    g.arc(s.x, s.y, s.out ? 1.2 : 2, 0, 2 * Math.PI);
    g.fill();
  }
  const sel = selIndex();
  const prompt = e.prompt.map((p, i) => ({ i, s: at(p) }));
  // The selected token first, then the other prompt tokens, then vocabulary labels where there is room.
  prompt.sort((a, b) => (a.i === sel ? -1 : b.i === sel ? 1 : 0));
  for (const { i, s } of prompt) {
    g.fillStyle = i === sel ? "#d1242f" : accent();
    g.beginPath();
    g.arc(s.x, s.y, i === sel ? 5.5 : 4, 0, 2 * Math.PI);
    g.fill();
  }
  for (const { i, s } of prompt) label(vis(d.tokens[i].text), s.x, s.y, ink(), true);
  for (const { c, s } of cloud) if (!s.out) label(vis(c.text), s.x, s.y, mutedInk(), false);
  $("cloud-read").textContent =
    `wte projected on its two main directions (PC1 ${pct(e.explained[0])}, PC2 ${pct(e.explained[1])} of the variance): ` +
    `${e.cloud.length} vocabulary tokens (grey) and the prompt's tokens (blue, selected red). Each axis spans the quartiles ` +
    `widened by ${FENCE}× their range; ${pinned} outliers sit on the border (small dots), so a clump of rare tokens cannot squeeze the rest. ` +
    `A label is drawn only where it overlaps no other.`;
}

/** The token the list shows the neighbours of (-1: none yet); the latest render asking for one. */
let neighbourFor = -1;
let neighbourAsk = 0;
async function renderNeighbours(d: Inspection): Promise<void> {
  const t = d.tokens[selIndex()];
  const list = $("neigh");
  if (neighbourFor === t.id && list.childElementCount) return;
  const mine = ++neighbourAsk;
  let items = d.neighbours && d.neighbours.id === t.id ? d.neighbours.items : null;
  if (!items) {
    // Nothing of another token's stays up while this one's are fetched, or if that fails.
    neighbourFor = -1;
    list.replaceChildren();
    $("neigh-title").textContent = `Nearest to ${JSON.stringify(t.text)}`;
    const got = await apiJson<NeighbourAnswer>("/v1/neighbours", {
      model: S.model,
      token_id: t.id,
      k: 12,
    }).catch((e: unknown) => {
      if (mine === neighbourAsk) throw e;
      return null;
    });
    if (!got || mine !== neighbourAsk) return; // a newer selection asked meanwhile: it draws
    items = got.items;
  }
  neighbourFor = t.id;
  $("neigh-title").textContent = `Nearest to ${JSON.stringify(t.text)}`;
  list.replaceChildren(
    ...items.map((n) =>
      el("li", {}, [
        el("span", { class: "mono", text: vis(n.text) }),
        el("span", { class: "muted", text: n.cosine.toFixed(3) }),
      ]),
    ),
  );
}

export async function runAnalogy(): Promise<void> {
  // A word inside a sentence is a token with its leading space (" king"), as the prompt has it.
  const [a, b, c] = ["an-a", "an-b", "an-c"].map(
    (id) => " " + $<HTMLInputElement>(id).value.trim(),
  );
  const list = $("an-out");
  try {
    const r = await apiJson<NeighbourAnswer>("/v1/neighbours", {
      model: S.model,
      plus: [a, c],
      minus: [b],
      k: 8,
    });
    list.replaceChildren(
      ...r.items.map((n) =>
        el("li", { "data-id": String(n.id) }, [
          el("span", { class: "mono", text: vis(n.text) }),
          el("span", { class: "muted", text: n.cosine.toFixed(3) }),
        ]),
      ),
    );
    $("an-note").textContent =
      `${r.text}: the nearest tokens by cosine to wte[a] − wte[b] + wte[c] (each word with its leading space, as in a sentence), the three inputs left out.`;
    viewError("s-emb", null);
  } catch (e) {
    list.replaceChildren();
    viewError("s-emb", `Analogy: ${(e as Error).message}`);
  }
}

let analogyRan = false;
function render(d: Inspection): void {
  if (!d.embeddings) throw new Error("this model's embeddings cannot be projected");
  if (!analogyRan) {
    analogyRan = true;
    void runAnalogy();
  }
  renderCloud(d);
  void renderNeighbours(d).catch((e) => viewError("s-emb", `Neighbours: ${(e as Error).message}`));
}

export function initCloud(): void {
  $("an-run").addEventListener("click", () => void runAnalogy());
  for (const id of ["an-a", "an-b", "an-c"]) {
    $(id).addEventListener("keydown", (e) => {
      if (e.key === "Enter") void runAnalogy();
    });
  }
  addView({ section: "s-emb", render });
}
