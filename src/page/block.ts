// View 10 and the block's matrices: the loaded model's matrix sizes (counted from its manifest,
// beside the formulas), the page-measured round trip, and the server's per-stage times only where
// its clock advanced during the forward pass (deployed Workers freeze it; workerd ticks in ms).

import type { Inspection, Timings } from "../inspect/types.js";
import { $, el, fmtBytes, fmtInt, pct } from "./dom.js";
import { addView, S } from "./state.js";

const STAGES: [string, string][] = [
  ["embed", "embed wte+wpe"],
  ["ln_1", "ln_1"],
  ["c_attn", "c_attn (q,k,v)"],
  ["attention", "attention"],
  ["attn.c_proj", "attn c_proj, add"],
  ["ln_2", "ln_2"],
  ["c_fc", "c_fc (C→4C)"],
  ["gelu", "GELU"],
  ["mlp.c_proj", "mlp c_proj, add"],
  ["ln_f", "ln_f"],
  ["lm_head", "unembed h·wteᵀ"],
];

function renderSizes(d: Inspection): void {
  const z = d.sizes;
  const m = z.dims;
  $("dims").textContent =
    `V = ${fmtInt(m.V)} tokens · C = ${m.C} · n_ctx = ${m.n_ctx} · L = ${m.L} blocks · NH = ${m.NH} heads of HS = ${m.HS} · ` +
    `${fmtInt(z.total_params)} parameters · ${fmtBytes(z.total_bytes)} (${z.dtype})`;
  const head = el(
    "tr",
    {},
    ["Matrix", "Formula", "Shape", "Parameters"].map((h, i) =>
      el("th", { scope: "col", class: i === 3 ? "num" : i === 2 ? "shape" : "", text: h }),
    ),
  );
  const rows = z.groups.map((g) => {
    const all = g.params * (g.perLayer ? m.L : 1);
    const share = el("div", { class: "share" });
    share.style.width = ((100 * all) / z.total_params).toFixed(1) + "%";
    const shapes = g.tensors.filter((x) => x.shape.length > 1).map((x) => x.shape.join("×"));
    return el("tr", {}, [
      el("td", { text: g.name + (g.perLayer ? " (per block)" : "") }),
      el("td", { class: "mono", text: g.formula }),
      el("td", { class: "mono shape", text: shapes.join(", ") || "vectors" }),
      el("td", { class: "num" }, [
        fmtInt(g.params) + (g.perLayer ? ` × ${m.L}` : ""),
        el("div", { class: "muted small", text: pct(all / z.total_params) }),
        share,
      ]),
    ]);
  });
  $("sizes").replaceChildren(
    el("caption", { class: "sr-only", text: "Parameters per matrix" }),
    head,
    ...rows,
  );
}

function renderTimes(tm: Timings): void {
  const box = $("times");
  const trip = `Round trip measured by this page: ${Math.round(S.roundTripMs)} ms (request, server, JSON parse).`;
  // A whole-ms clock cannot time stages that take a fraction of a millisecond: show only the total.
  if (!tm.clock_advanced || tm.resolution_ms === 1) {
    box.replaceChildren();
    $("times-note").textContent =
      trip +
      (tm.clock_advanced
        ? ` The server's clock ticks in whole milliseconds here, too coarse for stages of a fraction of one; the forward pass took about ${Math.round(tm.forward_ms)} ms of the ${Math.round(tm.wall_ms)} ms inspection.`
        : " The server's clock does not advance during compute (deployed Workers freeze it), so it cannot time the forward pass: no stage times are shown.");
    return;
  }
  const sums = new Map<string, number>();
  for (const s of tm.stages) {
    const kind = /^h\.\d+\.(.+)$/.exec(s.name)?.[1] ?? s.name;
    sums.set(kind, (sums.get(kind) ?? 0) + s.ms);
  }
  const max = Math.max(...sums.values(), 1e-9);
  box.replaceChildren(
    ...STAGES.filter(([k]) => sums.has(k)).map(([k, label]) => {
      const fill = el("div", { class: "fill" });
      fill.style.width = ((100 * sums.get(k)!) / max).toFixed(1) + "%";
      return el(
        "div",
        {
          class: "bar-row",
          role: "listitem",
          "aria-label": `${label}: ${sums.get(k)!.toFixed(2)} ms`,
        },
        [
          el("span", { class: "tok", text: label }),
          el("div", { class: "track" }, [fill]),
          el("span", { class: "p", text: sums.get(k)!.toFixed(2) + " ms" }),
        ],
      );
    }),
  );
  $("times-note").textContent =
    `${trip} Server: forward pass ${tm.forward_ms.toFixed(1)} ms of a ${tm.wall_ms.toFixed(1)} ms inspection; per-block stages summed over the blocks.`;
}

function render(d: Inspection): void {
  renderSizes(d);
  renderTimes(d.timings);
}

export const initBlock = () => addView({ section: "s-block", render });
