// The residual stream after the embedding and after each layer, projected to 3D in ONE shared
// PCA basis, so each token draws a path through the layers. Each vector is standardised first
// (minus its mean, over its standard deviation: layer norm without the learned scale), because
// that is what the next block reads, and because raw norms grow with depth and would let the
// last layers (and GPT-2's huge first-position vectors) dominate the picture. Gathered from the
// forward pass's onResidual hook chunk by chunk, for a window of at most hiddenWindow tokens.

import type { HiddenProjection } from "./types.js";
import { fitPca, project } from "./pca.js";
import { pad3, round } from "./round.js";

/** LayerNorm's epsilon in GPT-2; keeps a constant vector from dividing by zero. */
const EPS = 1e-5;

/**
 * The tokens the view covers: the whole prompt when `max` tokens allow it, else the `max` tokens
 * ending at the selected one (the first `max` when it is among them).
 */
export function hiddenWindow(T: number, position: number, max: number) {
  const count = Math.min(T, Math.max(1, max));
  const start = Math.max(0, Math.min(position + 1, T) - count);
  return { start, count };
}

export class HiddenCollector {
  private readonly x: Float32Array; // (depths, count, C) standardised vectors
  private readonly norms: number[][]; // (depths, count) L2 norms of the raw vectors

  /** depths: L + 1 (the embedding, then each block); tokens start..start + count - 1. */
  constructor(
    private readonly depths: number,
    private readonly C: number,
    private readonly start: number,
    private readonly count: number,
  ) {
    this.x = new Float32Array(depths * count * C);
    this.norms = Array.from({ length: depths }, () => new Array<number>(count));
  }

  /** Rows pos0..pos0 + Tc - 1 of the residual after `depth` (0 = the embedding): x is (Tc, C). */
  add(depth: number, pos0: number, Tc: number, x: Float32Array): void {
    const { C, start, count } = this;
    const from = Math.max(pos0, start);
    const to = Math.min(pos0 + Tc, start + count);
    for (let q = from; q < to; q++) {
      const row = x.subarray((q - pos0) * C, (q - pos0 + 1) * C);
      let mean = 0;
      let sq = 0;
      let raw = 0;
      for (let j = 0; j < C; j++) mean += row[j];
      mean /= C;
      for (let j = 0; j < C; j++) sq += (row[j] - mean) ** 2;
      for (let j = 0; j < C; j++) raw += row[j] ** 2;
      this.norms[depth][q - start] = round(Math.sqrt(raw), 3);
      const inv = 1 / Math.sqrt(sq / C + EPS);
      const base = (depth * count + q - start) * C;
      for (let j = 0; j < C; j++) this.x[base + j] = (row[j] - mean) * inv;
    }
  }

  /** All depths projected together; `capped` says which tokens were left out ("" when none). */
  projection(capped: string): HiddenProjection {
    const { C, count, depths } = this;
    const pca = fitPca(this.x, depths * count, C, { k: 3 });
    const points = Array.from({ length: depths }, (_, i) =>
      Array.from({ length: count }, (_, t) => pad3(project(pca, this.x, (i * count + t) * C))),
    );
    return {
      layers: Array.from({ length: depths }, (_, i) => i - 1),
      start: this.start,
      points,
      norms: this.norms,
      explained: pca.variance.map((v) => round(pca.total > 0 ? v / pca.total : 0, 4)),
      capped,
    };
  }
}
