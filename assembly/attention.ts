// attention: causal multi-head attention of T new tokens against one sequence's KV cache
// (positions 0..pos0+T-1 already written), as documented on Kernels.attention in types.ts.

import { dot, dot1x4 } from "./matmul";
import { softmaxRow } from "./softmax";

/**
 * q rows at q + t·qStride floats; k, v: [n_ctx][C]; att: [NH][T][pos0 + T]; out: [T][C].
 * out must not overlap q, k, v or att.
 */
export function attention(
  out: usize,
  att: usize,
  q: usize,
  k: usize,
  v: usize,
  T: i32,
  pos0: i32,
  C: i32,
  NH: i32,
  qStride: i32,
): void {
  const HS = C / NH;
  const scale = f32x4.splat(1.0 / Mathf.sqrt(<f32>HS)); // keeps score variance ~1 (Vaswani et al.)
  const L = pos0 + T; // length of every att row: all keys the last new token sees
  const cs = (<usize>C) << 2; // bytes per KV cache row
  for (let h = 0; h < NH; h++) {
    const hOff = (<usize>(h * HS)) << 2; // this head's slice of a C row
    const kh = k + hOff;
    for (let t = 0; t < T; t++) {
      const qr = q + ((<usize>t * <usize>qStride) << 2) + hOff;
      const ar = att + ((<usize>(h * T + t) * <usize>L) << 2);
      const n = pos0 + t + 1; // causal: token pos0 + t sees keys 0..pos0 + t
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        v128.store(
          ar + ((<usize>j) << 2),
          f32x4.mul(dot1x4(qr, kh + <usize>j * cs, cs, HS), scale),
        );
      }
      for (; j < n; j++) {
        store<f32>(
          ar + ((<usize>j) << 2),
          dot(qr, kh + <usize>j * cs, HS) * f32x4.extract_lane(scale, 0),
        );
      }
      softmaxRow(ar, ar, n);
      memory.fill(ar + ((<usize>n) << 2), 0, (<usize>(L - n)) << 2); // future keys get probability 0
      weightedSum(out + <usize>t * cs + hOff, ar, v + hOff, cs, n, HS);
    }
  }
}

/**
 * out[HS] = Σ_j p[j] · v[j][0..HS] for j < n, v rows vs bytes apart. Blocks of 16 floats of HS
 * sit in 4 accumulators while all n rows stream past; two rows per step use 8 accumulators so
 * the adds of consecutive rows do not wait on each other.
 */
function weightedSum(out: usize, p: usize, v: usize, vs: usize, n: i32, HS: i32): void {
  const n2 = n & ~1;
  let c = 0;
  for (; c + 16 <= HS; c += 16) {
    let a0 = f32x4.splat(0),
      a1 = f32x4.splat(0),
      a2 = f32x4.splat(0),
      a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0),
      b1 = f32x4.splat(0),
      b2 = f32x4.splat(0),
      b3 = f32x4.splat(0);
    let vp = v + ((<usize>c) << 2);
    let j = 0;
    for (; j < n2; j += 2) {
      const pa = f32x4.splat(load<f32>(p + ((<usize>j) << 2)));
      const pb = f32x4.splat(load<f32>(p + ((<usize>j) << 2), 4));
      const vq = vp + vs;
      a0 = f32x4.add(a0, f32x4.mul(pa, v128.load(vp)));
      a1 = f32x4.add(a1, f32x4.mul(pa, v128.load(vp, 16)));
      a2 = f32x4.add(a2, f32x4.mul(pa, v128.load(vp, 32)));
      a3 = f32x4.add(a3, f32x4.mul(pa, v128.load(vp, 48)));
      b0 = f32x4.add(b0, f32x4.mul(pb, v128.load(vq)));
      b1 = f32x4.add(b1, f32x4.mul(pb, v128.load(vq, 16)));
      b2 = f32x4.add(b2, f32x4.mul(pb, v128.load(vq, 32)));
      b3 = f32x4.add(b3, f32x4.mul(pb, v128.load(vq, 48)));
      vp += vs << 1;
    }
    if (j < n) {
      const pa = f32x4.splat(load<f32>(p + ((<usize>j) << 2)));
      a0 = f32x4.add(a0, f32x4.mul(pa, v128.load(vp)));
      a1 = f32x4.add(a1, f32x4.mul(pa, v128.load(vp, 16)));
      a2 = f32x4.add(a2, f32x4.mul(pa, v128.load(vp, 32)));
      a3 = f32x4.add(a3, f32x4.mul(pa, v128.load(vp, 48)));
    }
    const o = out + ((<usize>c) << 2);
    v128.store(o, f32x4.add(a0, b0));
    v128.store(o, f32x4.add(a1, b1), 16);
    v128.store(o, f32x4.add(a2, b2), 32);
    v128.store(o, f32x4.add(a3, b3), 48);
  }
  for (; c + 4 <= HS; c += 4) {
    // HS % 16 leftovers, one vector at a time
    let a = f32x4.splat(0);
    let vp = v + ((<usize>c) << 2);
    for (let j = 0; j < n; j++, vp += vs) {
      a = f32x4.add(a, f32x4.mul(f32x4.splat(load<f32>(p + ((<usize>j) << 2))), v128.load(vp)));
    }
    v128.store(out + ((<usize>c) << 2), a);
  }
  for (; c < HS; c++) {
    let s: f32 = 0;
    let vp = v + ((<usize>c) << 2);
    for (let j = 0; j < n; j++, vp += vs) s += load<f32>(p + ((<usize>j) << 2)) * load<f32>(vp);
    store<f32>(out + ((<usize>c) << 2), s);
  }
}
