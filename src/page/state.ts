// The page's shared state (the last inspection, the selected token, layer and head) and the view
// registry: every view renders from the same inspection, and a failed request shows its error
// next to each view it affects and hides the old picture instead of leaving it stale.

import type { Inspection } from "../inspect/types.js";
import { $ } from "./dom.js";

export const S = {
  model: "",
  data: null as Inspection | null,
  /** Selected token index, -1 = the last one. */
  sel: -1,
  layer: 0,
  head: 0,
  /** Rank of the token the last "step" sampled, -1 = none. */
  sampled: -1,
  /** Page-measured round trip of the last inspection, ms (fetch to parsed JSON). */
  roundTripMs: 0,
  /** Time to render every view after the answer arrived, ms. */
  renderMs: 0,
};

/** The token the per-position views describe. */
export function selIndex(): number {
  const T = S.data ? S.data.tokens.length : 0;
  return S.sel >= 0 && S.sel < T ? S.sel : T - 1;
}

export interface View {
  /** The <section> id; its .err paragraph holds this view's error. */
  section: string;
  render(d: Inspection): void;
}

const views: View[] = [];
export const addView = (v: View) => views.push(v);

/** Show (or with null clear) an error on one view; a failed view's picture is hidden. */
export function viewError(section: string, message: string | null): void {
  const card = $(section);
  let p = card.querySelector<HTMLElement>(":scope > .err");
  if (!p) {
    p = document.createElement("p");
    p.className = "err error";
    p.setAttribute("role", "alert");
    card.querySelector("h2")!.after(p);
  }
  p.textContent = message ?? "";
  p.hidden = message === null;
  card.classList.toggle("failed", message !== null);
}

/** Views drawn before the page yields to paint: the spine, the tokens and the next-token bars. */
const FIRST = 3;

/** ms each view took to draw last time, by section: shown to the browser tests in body[data-draw-ms]. */
const drawMs: Record<string, number> = {};

function draw(v: View, d: Inspection): void {
  const t0 = performance.now();
  try {
    v.render(d);
    drawMs[v.section] = Math.round(performance.now() - t0);
    viewError(v.section, null);
  } catch (e) {
    console.warn(e);
    viewError(v.section, `This view failed to draw: ${(e as Error).message}`);
  }
}

/**
 * Render every view from S.data; one view's bug shows on that view and spares the others. The
 * first views are painted before the heavier ones are drawn; resolves when all are drawn.
 */
export async function renderAll(): Promise<void> {
  const d = S.data;
  if (!d) return;
  views.slice(0, FIRST).forEach((v) => draw(v, d));
  // The frame that shows them: its time since navigation, for the browser tests.
  await new Promise((r) =>
    requestAnimationFrame(() => {
      document.body.dataset.firstDrawnAt ??= String(Math.round(performance.now()));
      setTimeout(r, 0);
    }),
  );
  if (S.data !== d) return; // a newer answer arrived and draws itself
  views.slice(FIRST).forEach((v) => draw(v, d));
  document.body.dataset.drawMs = JSON.stringify(drawMs);
}

/** An inspection failed: every view says why and hides its old picture. */
export function failAll(message: string): void {
  for (const v of views) viewError(v.section, message);
}

export function setStatus(msg: string, isError = false): void {
  const s = $("status");
  s.textContent = msg;
  s.className = isError ? "error" : "";
}
