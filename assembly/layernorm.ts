// layernorm: out[T][C] = (x - mean) / sqrt(var + eps) · g + b per row (ln_1, ln_2, ln_f).

import { Vec } from "./vec";

/** g, b: [C]. Biased variance (divide by C, as PyTorch). out may equal x. */
export function layernorm(
  out: usize,
  x: usize,
  g: usize,
  b: usize,
  T: i32,
  C: i32,
  eps: f32,
): void {
  const rs = (<usize>C) << 2; // bytes per row
  const vecBytes = (<usize>(C & ~3)) << 2;
  for (let t = 0; t < T; t++) {
    const xr = x + <usize>t * rs;
    const or = out + <usize>t * rs;
    // Pass 1: the mean.
    let acc = f32x4.splat(0);
    let i: usize = 0;
    for (; i < vecBytes; i += 16) acc = f32x4.add(acc, v128.load(xr + i));
    let sum = Vec.hsum(acc);
    for (; i < rs; i += 4) sum += load<f32>(xr + i);
    const mean = sum / <f32>C;
    // Pass 2: the variance around that mean. Two passes, because the one-pass E[x²] - mean²
    // cancels catastrophically in f32 when |mean| is large next to the spread (residual streams
    // carry channels with large offsets).
    const m = f32x4.splat(mean);
    acc = f32x4.splat(0);
    for (i = 0; i < vecBytes; i += 16) {
      const dx = f32x4.sub(v128.load(xr + i), m);
      acc = f32x4.add(acc, f32x4.mul(dx, dx));
    }
    let ss = Vec.hsum(acc);
    for (; i < rs; i += 4) {
      const dx = load<f32>(xr + i) - mean;
      ss += dx * dx;
    }
    // eps (1e-5 in GPT-2) keeps a constant row from dividing by zero.
    const rstd: f32 = 1.0 / Mathf.sqrt(ss / <f32>C + eps);
    // Pass 3: normalize, scale, shift. Reads x[i] before writing out[i], so out may equal x.
    const r = f32x4.splat(rstd);
    for (i = 0; i < vecBytes; i += 16) {
      const nx = f32x4.mul(f32x4.sub(v128.load(xr + i), m), r);
      v128.store(or + i, f32x4.add(f32x4.mul(nx, v128.load(g + i)), v128.load(b + i)));
    }
    for (; i < rs; i += 4) {
      const nx = (load<f32>(xr + i) - mean) * rstd;
      store<f32>(or + i, nx * load<f32>(g + i) + load<f32>(b + i));
    }
  }
}
