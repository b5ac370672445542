// The residual stream after the embedding and after each layer, projected to 3D in ONE shared
// PCA basis, so each token draws a path through the layers. Each vector is standardised first
// (minus its mean, over its standard deviation: layer norm without the learned scale), because
// that is what the next block reads, and because raw norms grow with depth and would let the
// last layers (and GPT-2's huge first-position vectors) dominate the picture.

import type { HiddenProjection } from "./types.js";
import { fitPca, project } from "./pca.js";
import { pad3, round } from "./round.js";

/** LayerNorm's epsilon in GPT-2; keeps a constant vector from dividing by zero. */
const EPS = 1e-5;

/** residual[i] is (T, C) after layers[i]; all are projected together. */
export function projectHidden(residual: Float32Array[], T: number, C: number): HiddenProjection {
  const n = residual.length * T;
  const all = new Float64Array(n * C);
  const norms = residual.map(() => new Array<number>(T));
  residual.forEach((x, i) => {
    for (let t = 0; t < T; t++) {
      let mean = 0;
      let sq = 0;
      for (let j = 0; j < C; j++) mean += x[t * C + j];
      mean /= C;
      for (let j = 0; j < C; j++) sq += (x[t * C + j] - mean) ** 2;
      let raw = 0;
      for (let j = 0; j < C; j++) raw += x[t * C + j] ** 2;
      norms[i][t] = round(Math.sqrt(raw), 3);
      const inv = 1 / Math.sqrt(sq / C + EPS);
      const base = (i * T + t) * C;
      for (let j = 0; j < C; j++) all[base + j] = (x[t * C + j] - mean) * inv;
    }
  });
  const pca = fitPca(all, n, C, { k: 3 });
  const points = residual.map((_, i) =>
    Array.from({ length: T }, (_, t) => pad3(project(pca, all, (i * T + t) * C))),
  );
  return {
    layers: residual.map((_, i) => i - 1),
    points,
    norms,
    explained: pca.variance.map((v) => round(pca.total > 0 ? v / pca.total : 0, 4)),
  };
}
