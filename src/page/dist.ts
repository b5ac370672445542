// The next-token distribution re-tempered in the browser: p_i(T) = exp((z_i − z_max)/T − log Z(T))
// from the top logits and the server's exact normalisers, then the sampler's cut-offs in its
// order (top-k, top-p, min-p; src/sampler/sample.ts) and the renormalised probabilities drawn from.

import type { NextTokens } from "../inspect/types.js";

export interface Cut {
  /** p_i(T) over the whole vocabulary, for the listed tokens (best first). */
  probs: number[];
  /** The probability each listed token is drawn with after the cut-offs (0 when cut). */
  sample: number[];
  /** Tokens [0, end) survive. */
  end: number;
  /** Which rule set `end`, if any. */
  by: "top-k" | "top-p" | "min-p" | null;
  greedy: boolean;
  /** False when a cut-off reaches past the listed tokens (the page then says so). */
  exact: boolean;
}

const sum = (a: number[], n = a.length) => a.slice(0, n).reduce((x, y) => x + y, 0);

/** Probabilities at temperature T of the listed tokens (T = 0: all mass on the top one). */
export function tempered(next: NextTokens, T: number): number[] {
  if (T <= 0) return next.top.map((_, i) => (i === 0 ? 1 : 0));
  const step = next.temperatures[0];
  const at = Math.max(0, Math.min(next.log_z.length - 1, Math.round(T / step) - 1));
  const lz = next.log_z[at];
  return next.top.map((t) => Math.exp((t.logit - next.max_logit) / T - lz));
}

export function cut(next: NextTokens, T: number, k: number, p: number, minP: number): Cut {
  const probs = tempered(next, T);
  const N = probs.length;
  if (T <= 0) {
    const sample = probs.slice();
    return { probs, sample, end: 1, by: null, greedy: true, exact: true };
  }
  let end = N;
  let by: Cut["by"] = null;
  let exact = true;
  let mass = 1; // what the candidates hold before top-p measures against it
  if (k > 0) {
    if (k >= N) exact = k === N;
    else {
      end = k;
      by = "top-k";
      mass = sum(probs, k);
    }
  }
  if (p < 1) {
    let c = 0;
    let endP = -1;
    for (let i = 0; i < end; i++) {
      c += probs[i] / mass;
      if (c >= p - 1e-12) {
        endP = i + 1;
        break;
      }
    }
    if (endP < 0) exact = false;
    else if (endP < end) [end, by] = [endP, "top-p"];
  }
  if (minP > 0) {
    const floor = minP * probs[0];
    let endM = 0;
    while (endM < end && probs[endM] >= floor) endM++;
    if (endM === N) exact = false; // tokens past the listed ones may pass the floor too
    if (endM < end) [end, by] = [Math.max(1, endM), "min-p"];
  }
  const kept = by === null ? 1 : sum(probs, end);
  const sample = probs.map((x, i) => (i < end ? x / kept : 0));
  return { probs, sample, end, by, greedy: false, exact };
}
