// View 9: attention heads. Every head as a small multiple, named only when it clearly does one
// thing (≥ 50% of its weight, averaged over the prompt, on the previous / first / own token), and
// the chosen head's matrix as a heatmap on a square-root colour scale with the selected row drawn
// large below it, so long prompts stay readable.

import type { HeadSummary, Inspection } from "../inspect/types.js";
import { $, clamp, dark, el, fitCanvas, ink, mutedInk, pct, vis } from "./dom.js";
import { runInspect } from "./run.js";
import { addView, S, selIndex } from "./state.js";
import { selectToken } from "./tokens.js";

/** A head gets a name only when at least this share of its weight goes to one kind of position. */
export const CLEAR = 0.5;

export function headKind(s: HeadSummary): string {
  const best = (
    [
      ["previous token", s.prev],
      ["first token", s.first],
      ["itself", s.self],
    ] as [string, number][]
  ).sort((a, b) => b[1] - a[1])[0];
  return best[1] >= CLEAR ? best[0] : "no single pattern";
}

/** Blues ramp on √weight, so the small weights of long prompts still show. */
function heatRGB(v: number): [number, number, number] {
  const a = dark ? [22, 27, 34] : [247, 251, 255];
  const b = dark ? [158, 220, 255] : [8, 48, 107];
  const x = Math.sqrt(clamp(v, 0, 1));
  return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * x)) as [number, number, number];
}

/** Past this many tokens each row is coloured relative to its own largest weight. */
const PER_ROW_FROM = 48;

/**
 * One pixel per cell. Long prompts spread each row thin, so past PER_ROW_FROM tokens a cell's
 * colour is √(weight ÷ its row's largest): where each token looks stays visible.
 */
function drawMatrix(canvas: HTMLCanvasElement, rows: number[][]): void {
  const T = rows.length;
  const perRow = T > PER_ROW_FROM;
  canvas.width = T;
  canvas.height = T;
  const g = canvas.getContext("2d")!;
  const img = g.createImageData(T, T);
  const empty = dark ? [13, 17, 23] : [238, 240, 243];
  for (let q = 0; q < T; q++) {
    const scale = perRow ? 1 / Math.max(...rows[q], 1e-9) : 1;
    for (let k = 0; k < T; k++) {
      const c = k <= q ? heatRGB(rows[q][k] * scale) : empty;
      img.data.set([c[0], c[1], c[2], 255], 4 * (q * T + k));
    }
  }
  g.putImageData(img, 0, 0);
}

function headRows(d: Inspection, layer: number, head: number): number[][] | null {
  return d.attention.layers.find((l) => l.layer === layer)?.heads[head] ?? null;
}

function renderHeads(d: Inspection): void {
  const box = $("heads");
  box.style.gridTemplateColumns = `auto repeat(${d.config.n_head}, minmax(0, 1fr))`;
  const kids: Node[] = [];
  for (const s of d.attention.summary) {
    if (s.head === 0) kids.push(el("span", { class: "layer-label", text: `L${s.layer}` }));
    const on = s.layer === S.layer && s.head === S.head;
    const kind = headKind(s);
    const b = el(
      "button",
      {
        type: "button",
        class: "head",
        "aria-pressed": String(on),
        "data-kind": kind,
        "aria-label": `layer ${s.layer} head ${s.head}: ${kind}; previous token ${pct(s.prev)}, first ${pct(s.first)}, itself ${pct(s.self)}`,
      },
      [el("span", { class: "name", text: `H${s.head}` })],
    );
    const rows = headRows(d, s.layer, s.head);
    if (rows) {
      const c = el("canvas", { "aria-hidden": "true" });
      drawMatrix(c, rows);
      b.append(c);
    }
    b.append(
      el("span", { class: "kind", text: kind }),
      el("span", {
        class: "muted nums",
        text: `prev ${s.prev.toFixed(2)} · 1st ${s.first.toFixed(2)}`,
      }),
    );
    b.addEventListener("click", () => chooseHead(s.layer, s.head));
    kids.push(b);
  }
  box.replaceChildren(...kids);
}

export function chooseHead(layer: number, head: number): void {
  S.layer = layer;
  S.head = head;
  void runInspect(); // the focus views (4, 5) follow the chosen head and block
}

function fillSelect(id: string, n: number, value: number, label: string): void {
  const sel = $<HTMLSelectElement>(id);
  if (sel.options.length !== n)
    sel.replaceChildren(
      ...Array.from({ length: n }, (_, i) => new Option(`${label} ${i}`, String(i))),
    );
  sel.value = String(value);
}

function render(d: Inspection): void {
  fillSelect("layer", d.config.n_layer, S.layer, "layer");
  fillSelect("head", d.config.n_head, S.head, "head");
  renderHeads(d);
  const rows = headRows(d, S.layer, S.head);
  $("att-note").textContent = d.attention.capped;
  const heat = $<HTMLCanvasElement>("heat");
  if (!rows) {
    heat.hidden = true;
    $("heat-read").textContent = "This head's matrix was left out by the size cap (see above).";
    return;
  }
  heat.hidden = false;
  drawMatrix(heat, rows);
  // The selected token's row, tinted (the canvas is one pixel per cell, scaled up by CSS).
  const g = heat.getContext("2d")!;
  g.fillStyle = "rgba(209, 36, 47, 0.45)";
  g.fillRect(0, selIndex(), selIndex() + 1, 1);
  drawRow(d, rows[selIndex()]);
}

/** The selected token's row, large: one bar per visible token, the strongest labelled. */
function drawRow(d: Inspection, row: number[]): void {
  const canvas = $<HTMLCanvasElement>("att-row");
  const W = canvas.clientWidth || 600;
  const H = 150;
  const g = fitCanvas(canvas, W, H);
  const n = row.length;
  const bw = (W - 8) / n;
  const base = H - 22;
  const top = Math.max(...row, 1e-9); // bars relative to the row's largest weight
  const hgt = (a: number) => (a / top) * (base - 18);
  g.fillStyle = dark ? "#58a6ff" : "#0a5dc2";
  row.forEach((a, j) => g.fillRect(4 + j * bw, base - hgt(a), Math.max(1, bw - 1), hgt(a)));
  g.font = "12px ui-monospace, Menlo, Consolas, monospace";
  g.textAlign = "center";
  const best = row
    .map((a, j) => [a, j])
    .sort((a, b) => b[0] - a[0])
    .slice(0, 4);
  for (const [a, j] of best) {
    if (a < 0.05) continue;
    const x = clamp(4 + (j + 0.5) * bw, 40, W - 40);
    g.fillStyle = ink();
    g.fillText(
      `${vis(d.tokens[j].text).slice(0, 8)} ${a.toFixed(2)}`,
      x,
      Math.max(12, base - hgt(a) - 4),
    );
  }
  g.fillStyle = mutedInk();
  g.textAlign = "left";
  g.fillText("token 1", 4, H - 6);
  g.textAlign = "right";
  g.fillText(`token ${n} (selected)`, W - 4, H - 6);
  const t = selIndex();
  $("heat-read").textContent =
    `Layer ${S.layer}, head ${S.head}: the row of ${JSON.stringify(d.tokens[t].text)} (token ${t + 1}) ` +
    `spreads its weight over the ${n} tokens it can see (bars relative to the largest, ${top.toFixed(3)}). ` +
    (n > PER_ROW_FROM
      ? `In the matrix (over ${PER_ROW_FROM} tokens) colour is √(weight ÷ the row's largest), so each row shows where it looks.`
      : "In the matrix, colour is √weight so small weights still show.");
}

export function initHeads(): void {
  $("layer").addEventListener("change", () =>
    chooseHead(Number($<HTMLSelectElement>("layer").value), S.head),
  );
  $("head").addEventListener("change", () =>
    chooseHead(S.layer, Number($<HTMLSelectElement>("head").value)),
  );
  const heat = $<HTMLCanvasElement>("heat");
  const rowAt = (e: MouseEvent) => {
    const r = heat.getBoundingClientRect();
    const T = S.data?.tokens.length ?? 0;
    return clamp(Math.floor(((e.clientY - r.top) / r.height) * T), 0, T - 1);
  };
  heat.addEventListener("click", (e) => void selectToken(rowAt(e)));
  heat.addEventListener("keydown", (e) => {
    const T = S.data?.tokens.length ?? 0;
    const t = selIndex();
    if (e.key === "ArrowUp" || e.key === "ArrowDown") {
      e.preventDefault();
      void selectToken(clamp(t + (e.key === "ArrowUp" ? -1 : 1), 0, T - 1));
    }
  });
  $("clear-note").textContent =
    `Names appear only when a head puts at least ${CLEAR * 100}% of its weight, averaged over the prompt's tokens, on one kind of position; otherwise "no single pattern".`;
  addView({ section: "s-att", render });
}
