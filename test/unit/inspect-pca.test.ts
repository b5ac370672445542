// The PCA behind the demo's 3D views, against data with known principal axes, plus the
// degenerate inputs a prompt can produce (one token, points on a line, C < 3).

import { describe, expect, it } from "vitest";
import { fitPca, project } from "../../src/inspect/pca.js";

/** Deterministic uniform numbers in [-0.5, 0.5). */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** Roughly normal (sum of 12 uniforms: mean 0, variance 1). */
const normal = (r: () => number) => Array.from({ length: 12 }, r).reduce((a, b) => a + b, 0);

function orthonormalBasis(d: number, k: number, r: () => number): Float64Array[] {
  const out: Float64Array[] = [];
  while (out.length < k) {
    const v = Float64Array.from({ length: d }, r);
    for (const u of out) {
      const p = dot(u, v);
      for (let i = 0; i < d; i++) v[i] -= p * u[i];
    }
    const n = Math.sqrt(dot(v, v));
    out.push(v.map((x) => x / n));
  }
  return out;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** n points = centre + Σ_i σ_i z_i u_i + noise, in d dimensions. */
function synthetic(n: number, d: number, sigmas: number[], noise: number, seed = 1) {
  const r = rng(seed);
  const axes = orthonormalBasis(d, sigmas.length, r);
  const centre = Float64Array.from({ length: d }, () => 10 * r());
  const x = new Float64Array(n * d);
  for (let p = 0; p < n; p++) {
    const zs = sigmas.map((s) => s * normal(r));
    for (let j = 0; j < d; j++) {
      let v = centre[j] + noise * normal(r);
      zs.forEach((z, i) => (v += z * axes[i][j]));
      x[p * d + j] = v;
    }
  }
  return { x, axes, centre };
}

describe("fitPca", () => {
  it("Should recover three known axes, in order of variance", () => {
    const { x, axes } = synthetic(600, 12, [5, 3, 1.5], 0.01);
    const p = fitPca(x, 600, 12);
    expect(p.components).toHaveLength(3);
    // Not exactly the generating axes: 600 draws correlate a little by chance (~1/√600), which
    // tilts the sample's own axes by a few hundredths of a radian. The next test is the exact one.
    p.components.forEach((c, i) => expect(Math.abs(dot(c, axes[i]))).toBeGreaterThan(0.995));
    expect(p.variance[0]).toBeGreaterThan(p.variance[1]);
    expect(p.variance[1]).toBeGreaterThan(p.variance[2]);
    // The three axes hold all but the noise: 12 × 0.01² of a total of about 25 + 9 + 2.25.
    expect(p.variance.reduce((a, b) => a + b, 0) / p.total).toBeGreaterThan(0.999);
  });

  it("Should return orthonormal components that are eigenvectors of the covariance", () => {
    const d = 16;
    const n = 300;
    const { x } = synthetic(n, d, [4, 2, 1, 0.5], 0.2, 7);
    const p = fitPca(x, n, d);
    // Covariance by brute force, then check Σ v = λ v for each component.
    const cov = new Float64Array(d * d);
    for (let r = 0; r < n; r++) {
      for (let a = 0; a < d; a++) {
        for (let b = 0; b < d; b++) {
          cov[a * d + b] += ((x[r * d + a] - p.mean[a]) * (x[r * d + b] - p.mean[b])) / n;
        }
      }
    }
    p.components.forEach((c, i) => {
      expect(dot(c, c)).toBeCloseTo(1, 12);
      for (let j = 0; j < i; j++) expect(Math.abs(dot(c, p.components[j]))).toBeLessThan(1e-12);
      for (let a = 0; a < d; a++) {
        let s = 0;
        for (let b = 0; b < d; b++) s += cov[a * d + b] * c[b];
        expect(Math.abs(s - p.variance[i] * c[a])).toBeLessThan(1e-5 * p.variance[0]);
      }
    });
  });

  it("Should project the data to coordinates with zero mean and the components' variances", () => {
    const { x } = synthetic(400, 8, [3, 2, 1], 0.1, 3);
    const p = fitPca(x, 400, 8);
    const pts = Array.from({ length: 400 }, (_, i) => project(p, x, i * 8));
    for (let k = 0; k < 3; k++) {
      const mean = pts.reduce((s, v) => s + v[k], 0) / 400;
      const variance = pts.reduce((s, v) => s + (v[k] - mean) ** 2, 0) / 400;
      expect(Math.abs(mean)).toBeLessThan(1e-9);
      expect(variance).toBeCloseTo(p.variance[k], 6);
    }
    expect(project(p, p.mean)).toEqual([0, 0, 0]);
  });

  it("Should give identical results on every run, with each component's largest entry positive", () => {
    const { x } = synthetic(200, 10, [2, 1, 0.5], 0.05, 5);
    const a = fitPca(x, 200, 10);
    const b = fitPca(x, 200, 10);
    expect(b.components.map((c) => Array.from(c))).toEqual(a.components.map((c) => Array.from(c)));
    for (const c of a.components) {
      const big = Array.from(c).reduce((m, v) => (Math.abs(v) > Math.abs(m) ? v : m), 0);
      expect(big).toBeGreaterThan(0);
    }
  });

  it("Should fit only the given rows when a row list is passed", () => {
    const { x } = synthetic(100, 6, [3, 1, 0.5], 0.01, 9);
    const rows = Array.from({ length: 50 }, (_, i) => 2 * i);
    const even = new Float64Array(50 * 6);
    rows.forEach((r, i) => even.set(x.subarray(r * 6, r * 6 + 6), i * 6));
    const a = fitPca(x, rows.length, 6, {}, rows);
    const b = fitPca(even, 50, 6);
    a.variance.forEach((v, i) => expect(v).toBeCloseTo(b.variance[i], 10));
  });

  it("Should handle one point: zero variance, orthonormal components, projections at the origin", () => {
    const x = Float64Array.from({ length: 5 }, (_, i) => i);
    const p = fitPca(x, 1, 5);
    expect(p.total).toBe(0);
    expect(p.variance).toEqual([0, 0, 0]);
    p.components.forEach((c) => expect(dot(c, c)).toBeCloseTo(1, 12));
    expect(project(p, x).map(Math.abs)).toEqual([0, 0, 0]);
  });

  it("Should handle points on a line: one axis with all the variance, the rest zero", () => {
    const d = 6;
    const dir = [1, 2, 0, -1, 0, 3].map((v) => v / Math.sqrt(15));
    const x = new Float64Array(20 * d);
    for (let i = 0; i < 20; i++) for (let j = 0; j < d; j++) x[i * d + j] = (i - 7) * dir[j] + 1;
    const p = fitPca(x, 20, d);
    expect(Math.abs(dot(p.components[0], dir))).toBeCloseTo(1, 9);
    expect(p.variance[1]).toBeLessThan(1e-9);
    expect(p.variance[2]).toBeLessThan(1e-9);
    expect(Math.abs(dot(p.components[1], p.components[2]))).toBeLessThan(1e-9);
  });

  it("Should return only d components when d < 3", () => {
    const { x } = synthetic(50, 2, [2, 1], 0, 11);
    const p = fitPca(x, 50, 2);
    expect(p.components).toHaveLength(2);
    expect(p.variance[0] + p.variance[1]).toBeCloseTo(p.total, 9);
  });
});
