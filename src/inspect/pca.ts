// Principal component analysis to a few dimensions, in plain TypeScript (no Workers or Node
// APIs), for the demo's 3D views: subspace iteration on the covariance and a Rayleigh–Ritz step,
// so no full eigendecomposition is ever needed. The covariance is applied straight from the
// rows (C q = Σ c (cᵀ q) / n), never formed: a d × d float64 matrix is 4.5 MiB at GPT-2's
// d = 768, and this needs only a few d × m blocks (pcaBytes).

export interface Pca {
  d: number;
  /** (d) the mean row, subtracted before projecting. */
  mean: Float64Array;
  /** k unit vectors (d each), orthonormal, by decreasing variance; sign: largest |entry| > 0. */
  components: Float64Array[];
  /** Variance along each component (the covariance eigenvalues), same order. */
  variance: number[];
  /** Total variance (trace of the covariance), so variance[i] / total is the explained share. */
  total: number;
}

export interface PcaOptions {
  /** Components wanted (default 3); fewer if d is smaller. */
  k?: number;
  /** Subspace iterations at most (default 200); it usually stops far earlier. */
  maxIter?: number;
}

/** Extra vectors iterated alongside the k wanted: the error shrinks like (λ[k+extra+1] / λ[k])^iter. */
const OVERSAMPLE = 4;
/**
 * Stop when each wanted Ritz pair has ‖Aq − θq‖ ≤ this × θ₁. The vector's angle error is about
 * that residual over the eigengap; 1e-7 puts plotted points well below a pixel from exact.
 */
const TOLERANCE = 1e-7;
/**
 * Or stop when the variance the k components capture changed by less than this (relative)
 * between checks: with near-equal eigenvalues the vectors wander inside an almost-degenerate
 * subspace for a long time, yet every such basis shows the same spread, so the picture is done.
 */
const SETTLED = 1e-10;
/** Rayleigh–Ritz (and the convergence check) every this many steps: it costs an m × m eigensolve. */
const RR_EVERY = 4;

/** Row i of the data (d values), read when needed: a view, or a copy made for the call. */
export type RowAt = (i: number) => ArrayLike<number>;

/**
 * Fit a PCA on n rows of d values: x[n][d] row-major (rows may be a subset via `rows`), or a
 * RowAt that reads them in place (e.g. wte rows from WASM memory), each row read once per step.
 */
export function fitPca(
  x: ArrayLike<number> | RowAt,
  n: number,
  d: number,
  opts: PcaOptions = {},
  rows?: ArrayLike<number>,
): Pca {
  if (typeof x !== "function" && x.length < (rows ? 0 : n * d))
    throw new RangeError(`fitPca: ${x.length} values < ${n}×${d}`);
  const row = typeof x === "function" ? x : copier(x, d, rows);
  const k = Math.min(opts.k ?? 3, d);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const r = row(i);
    for (let j = 0; j < d; j++) mean[j] += r[j];
  }
  for (let j = 0; j < d; j++) mean[j] /= Math.max(1, n);
  let total = 0; // trace of the covariance: the mean squared distance from the mean
  for (let i = 0; i < n; i++) {
    const r = row(i);
    for (let j = 0; j < d; j++) total += (r[j] - mean[j]) ** 2;
  }
  total /= Math.max(1, n);
  const m = Math.min(d, k + OVERSAMPLE);
  const times = (q: Float64Array) => covarianceTimes(row, n, d, mean, q, m);
  const { vectors, values } = topEigen(times, d, m, k, opts.maxIter ?? 200);
  const components = vectors.slice(0, k).map(fixSign);
  const variance = values.slice(0, k).map((v) => Math.max(0, v));
  return { d, mean, components, variance, total };
}

/**
 * Bytes of float64 fitPca holds besides its input, for k components of d values: the mean, a
 * copied row and covarianceTimes's two centred rows (d each), and at most seven d × m blocks at
 * once (the basis, its product, their rotations, an orthonormalised copy, and covarianceTimes's
 * transposed pair). The m × m eigensolve is negligible.
 */
export function pcaBytes(d: number, k = 3): number {
  const m = Math.min(d, Math.min(k, d) + OVERSAMPLE);
  return (4 * d + 7 * d * m + m) * 8;
}

/** Coordinates of one row (d values at `offset`) in the first k components. */
export function project(p: Pca, x: ArrayLike<number>, offset = 0): number[] {
  return p.components.map((c) => {
    let s = 0;
    for (let j = 0; j < p.d; j++) s += (x[offset + j] - p.mean[j]) * c[j];
    return s;
  });
}

/** Rows of a row-major x (or of its `rows` subset), each copied into one reused float64 row. */
function copier(x: ArrayLike<number>, d: number, rows?: ArrayLike<number>): RowAt {
  const out = new Float64Array(d);
  return (i) => {
    const r = (rows ? rows[i] : i) * d;
    for (let j = 0; j < d; j++) out[j] = x[r + j];
    return out;
  };
}

/**
 * out (d × m) = C q for the sample covariance C = Σ_i c_i c_iᵀ / n (c_i = row i − mean), one
 * pass over the rows: y = c_iᵀ q (m dot products), then out += c_i yᵀ (m axpys). Float64
 * throughout; q and out are transposed to m vectors of d for the pass, so every inner loop runs
 * over d (at m ≈ 7 a loop over m costs the JIT more than the multiplies).
 */
function covarianceTimes(
  row: RowAt,
  n: number,
  d: number,
  mean: Float64Array,
  q: Float64Array,
  m: number,
): Float64Array {
  const qt = new Float64Array(m * d); // q's vectors, one after another
  for (let a = 0; a < d; a++) for (let j = 0; j < m; j++) qt[j * d + a] = q[a * m + j];
  const ot = new Float64Array(m * d);
  const c = new Float64Array(d); // a centred row
  const e = new Float64Array(d); // the next one: rows go in pairs, each load of q and out serves two
  for (let i = 0; i < n; i += 2) {
    const r = row(i);
    for (let a = 0; a < d; a++) c[a] = r[a] - mean[a];
    if (i + 1 < n) {
      const s = row(i + 1);
      for (let a = 0; a < d; a++) e[a] = s[a] - mean[a];
    } else e.fill(0); // adds nothing
    for (let j = 0; j < m; j++) {
      const o = j * d;
      let y0 = 0; // two sums per row: one would wait on each add's latency
      let y1 = 0;
      let z0 = 0;
      let z1 = 0;
      let a = 0;
      for (; a + 2 <= d; a += 2) {
        const q0 = qt[o + a];
        const q1 = qt[o + a + 1];
        y0 += c[a] * q0;
        y1 += c[a + 1] * q1;
        z0 += e[a] * q0;
        z1 += e[a + 1] * q1;
      }
      if (a < d) {
        y0 += c[a] * qt[o + a];
        z0 += e[a] * qt[o + a];
      }
      const y = y0 + y1;
      const z = z0 + z1;
      for (a = 0; a < d; a++) ot[o + a] += c[a] * y + e[a] * z;
    }
  }
  const inv = 1 / Math.max(1, n);
  const out = new Float64Array(d * m);
  for (let a = 0; a < d; a++) for (let j = 0; j < m; j++) out[a * m + j] = ot[j * d + a] * inv;
  return out;
}

/**
 * The m leading eigenpairs of a symmetric d × d matrix A, given as `times` (q ↦ A q), by
 * subspace iteration from a fixed pseudo-random start (reproducible results): Z = A Q; every few
 * steps a Rayleigh–Ritz step (diagonalise QᵀZ = QᵀAQ, m × m, and rotate Q and Z by its
 * eigenvectors) gives the current eigenpair estimates, and it stops when the wanted k have
 * residual ‖Aq − θq‖ ≤ TOLERANCE · θ₁ or their captured variance has SETTLED; otherwise
 * Q = orth(Z). Q and Z are d × m, interleaved (row i holds entry i of every vector). Returned
 * by decreasing eigenvalue.
 */
function topEigen(
  times: (q: Float64Array) => Float64Array,
  d: number,
  m: number,
  k: number,
  maxIter: number,
) {
  let q = startBasis(d, m);
  let values: number[] = [];
  let captured = NaN; // Σ of the k wanted Ritz values at the previous check
  for (let it = 0; ; it++) {
    const z = times(q);
    const last = it + 1 >= maxIter;
    if (it % RR_EVERY === RR_EVERY - 1 || last) {
      const rr = rayleighRitz(q, z, d, m);
      q = rr.q;
      values = rr.values;
      const now = values.slice(0, k).reduce((x, y) => x + y, 0);
      const settled = Math.abs(now - captured) <= SETTLED * Math.abs(now);
      captured = now;
      if (
        last ||
        settled ||
        rr.residual.slice(0, k).every((r) => r <= TOLERANCE * Math.abs(values[0]))
      )
        break;
      q = orthonormalise(rr.z, d, m);
    } else {
      q = orthonormalise(z, d, m);
    }
  }
  const vectors = Array.from({ length: m }, (_, j) => {
    const v = new Float64Array(d);
    for (let i = 0; i < d; i++) v[i] = q[i * m + j];
    return v;
  });
  return { vectors, values };
}

/** Rotate the basis q (with z = A q) to the eigenvectors of qᵀz, sorted by decreasing value. */
function rayleighRitz(q: Float64Array, z: Float64Array, d: number, m: number) {
  const s = new Float64Array(m * m);
  for (let i = 0; i < d; i++) {
    for (let a = 0; a < m; a++)
      for (let b = 0; b < m; b++) s[a * m + b] += q[i * m + a] * z[i * m + b];
  }
  for (let a = 0; a < m; a++) {
    for (let b = a + 1; b < m; b++) s[a * m + b] = s[b * m + a] = (s[a * m + b] + s[b * m + a]) / 2;
  }
  const eig = jacobiEigen(s, m);
  const order = eig.values.map((_, i) => i).sort((i, j) => eig.values[j] - eig.values[i]);
  const rq = new Float64Array(d * m);
  const rz = new Float64Array(d * m);
  for (let i = 0; i < d; i++) {
    for (let c = 0; c < m; c++) {
      const w = order[c];
      let sq = 0;
      let sz = 0;
      for (let r = 0; r < m; r++) {
        sq += q[i * m + r] * eig.vectors[r * m + w];
        sz += z[i * m + r] * eig.vectors[r * m + w];
      }
      rq[i * m + c] = sq;
      rz[i * m + c] = sz;
    }
  }
  const values = order.map((i) => eig.values[i]);
  const residual = values.map((theta, c) => {
    let r = 0;
    for (let i = 0; i < d; i++) r += (rz[i * m + c] - theta * rq[i * m + c]) ** 2;
    return Math.sqrt(r);
  });
  return { q: rq, z: rz, values, residual };
}

/** m vectors from a fixed LCG (Numerical Recipes' constants), orthonormalised; d × m. */
function startBasis(d: number, m: number): Float64Array {
  let s = 0x2545f491;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  return orthonormalise(Float64Array.from({ length: d * m }, next), d, m);
}

/**
 * Modified Gram–Schmidt on the m columns of v (d × m), run twice per column because one pass
 * loses orthogonality in floating point. A column that collapses (A has rank < m: it lay in the
 * span of the others) is replaced by a unit axis, then orthogonalised like the others.
 */
function orthonormalise(v0: Float64Array, d: number, m: number): Float64Array {
  const v = v0.slice();
  const col = (j: number, f: (i: number) => void) => {
    for (let i = 0; i < d; i++) f(i * m + j);
  };
  const norm = (j: number) => {
    let s = 0;
    col(j, (x) => (s += v[x] * v[x]));
    return Math.sqrt(s);
  };
  for (let j = 0; j < m; j++) {
    for (let attempt = 0; attempt <= d; attempt++) {
      const before = norm(j);
      for (let pass = 0; pass < 2; pass++) {
        for (let p = 0; p < j; p++) {
          let dp = 0;
          col(j, (x) => (dp += v[x - j + p] * v[x]));
          col(j, (x) => (v[x] -= dp * v[x - j + p]));
        }
      }
      const after = norm(j);
      // What is left below 1e-10 of the column is round-off, not a new direction.
      if (after > 1e-10 * before) {
        col(j, (x) => (v[x] /= after));
        break;
      }
      col(j, (x) => (v[x] = 0));
      v[((j + attempt) % d) * m + j] = 1;
    }
  }
  return v;
}

/** Cyclic Jacobi eigendecomposition of a small symmetric m × m matrix (row-major). */
function jacobiEigen(a0: Float64Array, m: number) {
  const a = a0.slice();
  const v = new Float64Array(m * m);
  for (let i = 0; i < m; i++) v[i * m + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < m; p++) for (let r = p + 1; r < m; r++) off += a[p * m + r] ** 2;
    if (off < 1e-30) break; // converged to float64 round-off for any matrix scale we see
    for (let p = 0; p < m; p++) {
      for (let r = p + 1; r < m; r++) {
        const apr = a[p * m + r];
        if (apr === 0) continue;
        // Rotation angle that zeroes a[p][r]: tan(2θ) = 2 a_pr / (a_rr - a_pp).
        const theta = (a[r * m + r] - a[p * m + p]) / (2 * apr);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let i = 0; i < m; i++) {
          const aip = a[i * m + p];
          const air = a[i * m + r];
          a[i * m + p] = c * aip - s * air;
          a[i * m + r] = s * aip + c * air;
        }
        for (let i = 0; i < m; i++) {
          const api = a[p * m + i];
          const ari = a[r * m + i];
          a[p * m + i] = c * api - s * ari;
          a[r * m + i] = s * api + c * ari;
        }
        for (let i = 0; i < m; i++) {
          const vip = v[i * m + p];
          const vir = v[i * m + r];
          v[i * m + p] = c * vip - s * vir;
          v[i * m + r] = s * vip + c * vir;
        }
      }
    }
  }
  return { values: Array.from({ length: m }, (_, i) => a[i * m + i]), vectors: v };
}

/** Flip a component so its largest-magnitude entry is positive: the same data, the same picture. */
function fixSign(v: Float64Array): Float64Array {
  let big = 0;
  for (let i = 0; i < v.length; i++) if (Math.abs(v[i]) > Math.abs(v[big])) big = i;
  return v[big] < 0 ? v.map((x) => -x) : v;
}
