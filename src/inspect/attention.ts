// Attention weights gathered from the forward pass's onAttention hook, chunk by chunk: the full
// causal matrices of the heads that fit the answer (params.ts attentionPlan), and for every layer and head a summary that tells
// what kind of head it is (previous-token, first-token "sink", self, or spread out).

import type { AttentionLayer, HeadSummary } from "./types.js";
import { round } from "./round.js";

/** Query 0 can only see itself, so every summary averages over queries 1..T-1. */
export class AttentionCollector {
  private readonly sums: Float64Array; // (L, NH, 5): prev, first, self, distance, entropy
  private readonly full = new Map<number, (Float32Array[] | null)[]>(); // layer -> [NH][T] rows

  constructor(
    private readonly L: number,
    private readonly NH: number,
    private readonly T: number,
    keep: Map<number, number[]>,
  ) {
    this.sums = new Float64Array(L * NH * 5);
    for (const [l, heads] of keep) {
      this.full.set(
        l,
        Array.from({ length: NH }, (_, h) => (heads.includes(h) ? new Array(T) : null)),
      );
    }
  }

  /** One chunk's weights from onAttention: att is [NH][Tc][pos0 + Tc] (row t ends at pos0 + t). */
  add(layer: number, pos0: number, Tc: number, att: Float32Array): void {
    const { NH } = this;
    const width = pos0 + Tc;
    const keep = this.full.get(layer);
    for (let h = 0; h < NH; h++) {
      const s = (layer * NH + h) * 5;
      for (let t = 0; t < Tc; t++) {
        const q = pos0 + t;
        const base = (h * Tc + t) * width;
        const rows = keep?.[h];
        if (rows) rows[q] = att.slice(base, base + q + 1);
        if (q === 0) continue;
        let distance = 0;
        let entropy = 0;
        for (let j = 0; j <= q; j++) {
          const a = att[base + j];
          distance += a * (q - j);
          if (a > 0) entropy -= a * Math.log(a);
        }
        this.sums[s] += att[base + q - 1];
        this.sums[s + 1] += att[base];
        this.sums[s + 2] += att[base + q];
        this.sums[s + 3] += distance;
        this.sums[s + 4] += entropy;
      }
    }
  }

  summary(): HeadSummary[] {
    const n = Math.max(1, this.T - 1);
    const out: HeadSummary[] = [];
    for (let layer = 0; layer < this.L; layer++) {
      for (let head = 0; head < this.NH; head++) {
        const s = (layer * this.NH + head) * 5;
        const v = (k: number) => round(this.sums[s + k] / n, 4);
        out.push({
          layer,
          head,
          prev: v(0),
          first: v(1),
          self: v(2),
          distance: v(3),
          entropy: v(4),
        });
      }
    }
    return out;
  }

  /** The kept layers' matrices, weights rounded to 3 decimals (a heatmap needs no more). */
  layers(): AttentionLayer[] {
    return [...this.full]
      .sort((a, b) => a[0] - b[0])
      .map(([layer, heads]) => ({
        layer,
        heads: heads.map((rows) => rows && rows.map((r) => Array.from(r, (a) => round(a, 3)))),
      }));
  }
}
