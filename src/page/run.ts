// Running the model for the page: the model list, then POST /v1/inspect for the prompt and the
// selected token / layer / head (debounced while typing, paced so typing on and on stays well
// under the API's request limit, stale answers dropped), timed by the page itself so the round
// trip can be shown next to the server's own figures.

import type { Inspection } from "../inspect/types.js";
import { ApiCallError, apiJson, getJson } from "./api.js";
import { $ } from "./dom.js";
import { failAll, renderAll, S, setStatus } from "./state.js";

/** Typing pause before the model runs: short, since an inspection takes tens of ms. */
const DEBOUNCE_MS = 80;
/**
 * Inspections the page may start in a burst, and the pace the allowance refills at: a short
 * burst of typing updates at every keystroke, typing on and on settles at one inspection a
 * second, half the API's 120 requests a minute per client (REQUEST_LIMITER), leaving the other
 * half to the panels that run after an inspection.
 */
const BURST = 20;
const REFILL_MS = 1000;
let allowance = BURST;
let refilled = performance.now();
let timer = 0;
let seq = 0;
let inflight: AbortController | null = null;
const listeners: (() => void)[] = [];

/** Called after every successful inspection, once the views are drawn (e.g. temperature runs). */
export const onInspected = (f: () => void) => listeners.push(f);

/** Milliseconds until the allowance holds a whole inspection again. */
function untilAllowed(): number {
  const now = performance.now();
  allowance = Math.min(BURST, allowance + (now - refilled) / REFILL_MS);
  refilled = now;
  return allowance >= 1 ? 0 : (1 - allowance) * REFILL_MS;
}

export function scheduleInspect(): void {
  clearTimeout(timer);
  timer = window.setTimeout(() => void runInspect(), Math.max(DEBOUNCE_MS, untilAllowed()));
}

/** The model last used on this browser, so a returning visit inspects before the list arrives. */
const LAST_MODEL = "gpt-edge.model";

export async function loadModels(): Promise<void> {
  const last = localStorage.getItem(LAST_MODEL);
  if (last) {
    S.model = last;
    void runInspect();
  }
  try {
    const j = await getJson<{ data?: { id: string; context_length: number }[] }>("/v1/models");
    const sel = $<HTMLSelectElement>("model");
    sel.textContent = "";
    for (const m of j.data ?? []) sel.append(new Option(`${m.id} (${m.context_length} ctx)`, m.id));
    if (!j.data?.length) throw new Error("no models in the weight store");
    if (last && j.data.some((m) => m.id === last)) {
      sel.value = last;
      return;
    }
    S.model = sel.value;
    await runInspect();
  } catch (e) {
    setStatus("Could not list models: " + (e as Error).message, true);
  }
}

/** The prompt S.data answers. */
let inspected = "";

/**
 * Whether token `i` of the inspection of `before` is likely still token i of `now`: the text
 * up to the end of the second token after it is unchanged (an edit can re-split the word it is
 * in and the whitespace before that). Where this guesses wrong, the 400 for a position past
 * the end selects the last token (runInspect).
 */
function kept(d: Inspection, before: string, now: string, i: number): boolean {
  const next = d.tokens[i + 2];
  if (!next) return false;
  let same = 0;
  while (same < before.length && same < now.length && before[same] === now[same]) same++;
  return next.offset[1] <= same;
}

export async function runInspect(): Promise<void> {
  if (!S.model) return;
  clearTimeout(timer);
  untilAllowed();
  allowance--; // clicks run at once but count too: the typing after them waits longer
  const mine = ++seq;
  inflight?.abort();
  inflight = new AbortController();
  const prompt = $<HTMLTextAreaElement>("prompt").value;
  // A selected token the edit reached (it may be gone, or another) gives way to the last one.
  if (S.sel >= 0 && !(S.data && kept(S.data, inspected, prompt, S.sel))) S.sel = -1;
  const body = {
    model: S.model,
    prompt,
    top_n: 200,
    neighbours: 12,
    hidden: false,
    layers: "all",
    position: S.sel,
    layer: S.layer,
    head: S.head,
  };
  setStatus("Running the model…");
  const t0 = performance.now();
  let d: Inspection;
  try {
    d = await apiJson<Inspection>("/v1/inspect", body, inflight.signal);
  } catch (e) {
    if (mine !== seq || (e as Error).name === "AbortError") return;
    if (e instanceof ApiCallError && e.param === "position" && S.sel !== -1) {
      // the selected token is past the end of a shortened prompt: select the last one instead
      S.sel = -1;
      return runInspect();
    }
    setStatus((e as Error).message, true);
    failAll(`Not updated for this prompt: ${(e as Error).message}`);
    return;
  }
  if (mine !== seq) return;
  inspected = prompt;
  S.roundTripMs = performance.now() - t0;
  document.body.dataset.fetchMs = String(Math.round(S.roundTripMs));
  localStorage.setItem(LAST_MODEL, S.model);
  S.data = d;
  S.sampled = -1;
  if (S.sel >= d.tokens.length) S.sel = -1;
  const t1 = performance.now();
  await renderAll();
  if (mine !== seq) return;
  S.renderMs = performance.now() - t1;
  setStatus(
    `${d.tokens.length} tokens · round trip ${Math.round(S.roundTripMs)} ms, drawn in ` +
      `${Math.round(S.renderMs)} ms`,
  );
  document.body.dataset.inspected = String(mine); // for tests: every view is drawn
  for (const f of listeners) f();
}
