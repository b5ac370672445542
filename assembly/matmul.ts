// matmul: out[T][d] = x[T][n] · w[d][n]ᵀ + b[d], the kernel behind every linear layer.
// Tiles of 3 tokens × 3 weight rows (2 × 4 for the rest); each weight tile is read once per
// block of tokens. A single token (decode) reads the matrix as four sequential streams (rows4).

import { tokenBlock } from "./token-block";
import { Vec } from "./vec";

/**
 * out[T][d] = x[T][n] · w[d][n]ᵀ (+ b[d] unless b = 0). Pointers need only 4-byte alignment;
 * out must not overlap x, w or b.
 *
 * Every output is summed in one order whatever its tile (batch invariance, bit for bit): lane i
 * of a 4-lane accumulator takes columns k ≡ i (mod 4) in order, Vec.hsum4 folds the lanes, the
 * n % 4 tail columns follow, then the bias. Rows j >= d & ~3 are `dot`'s (T = 1 does the same).
 */
export function matmul(out: usize, x: usize, w: usize, b: usize, T: i32, n: i32, d: i32): void {
  const rs = (<usize>n) << 2; // bytes per row of x and of w
  const os = (<usize>d) << 2; // bytes per row of out
  const TB = tokenBlock(rs, 6); // 6: 3x3 tiles, and pairs (2x4) for the rest
  for (let t0 = 0; t0 < T; t0 += TB) {
    const t1 = min(T, t0 + TB);
    let j = 0;
    if (t1 - t0 == 1) j = rows4(out + <usize>t0 * os, x + <usize>t0 * rs, w, b, n, d);
    else if (t1 - t0 >= 3 && d >= 4) j = rows3(out, x, w, b, t0, t1, n, d);
    for (; j + 4 <= d; j += 4) {
      const wj = w + <usize>j * rs; // w[j..j+4][n], stays in L1 across the block's tokens
      const oj = out + ((<usize>j) << 2);
      const bias = b ? v128.load(b + ((<usize>j) << 2)) : f32x4.splat(0);
      let t = t0;
      for (; t + 2 <= t1; t += 2) {
        tile2x4(oj + <usize>t * os, os, x + <usize>t * rs, wj, rs, n, bias);
      }
      if (t < t1) {
        // odd token out (none: blocks of 1 are rows4's, of 3 or more rows3's)
        v128.store(oj + <usize>t * os, f32x4.add(dot1x4(x + <usize>t * rs, wj, rs, n), bias));
      }
    }
    for (; j < d; j++) {
      // the last d % 4 outputs, one dot product each
      const wj = w + <usize>j * rs;
      const bj: f32 = b ? load<f32>(b + ((<usize>j) << 2)) : 0;
      for (let t = t0; t < t1; t++) {
        store<f32>(out + <usize>t * os + ((<usize>j) << 2), dot(x + <usize>t * rs, wj, n) + bj);
      }
    }
  }
}

/**
 * One token (x, out: its rows) against rows 0..d & ~3, returned: dot1x4 on rows g, g + q,
 * g + 2q, g + 3q (q = d / 4) for g = 0..q, so each of its four weight streams reads a quarter of
 * the matrix from start to end. A row group's 4 rows (4 streams 4n bytes apart that jump 16n
 * bytes at each group) read from DRAM at half the speed on AMD Zen 5: the hardware prefetcher
 * follows steady streams, not jumps (assembly/PERF.md). Same per-row arithmetic as the tiles.
 */
function rows4(out: usize, x: usize, w: usize, b: usize, n: i32, d: i32): i32 {
  const rs = (<usize>n) << 2;
  const q = d >> 2;
  const qs = (<usize>q) << 2; // bytes from an output (or bias) to its row's in the next quarter
  const ws = <usize>q * rs; // bytes from a weight row to its row in the next quarter
  for (let g = 0; g < q; g++) {
    const o = (<usize>g) << 2;
    const bias = b ? Vec.col4(b + o, qs) : f32x4.splat(0);
    Vec.storeCol4(out + o, qs, f32x4.add(dot1x4(x, w + <usize>g * rs, ws, n), bias));
  }
  return q << 2;
}

/**
 * Rows 0..j of out[t0..t1] in 3x3 tiles, for the j returned: the rows below d & ~3 but the last
 * 4, which matmul's 4-row tiles then do (rows they redo get the same bits again). Needs d >= 4.
 * A tile takes rows r, r + q, r + 2q (q = a third of d & ~3, rounded down), so the first tile of
 * each row group, which meets the weights cold, reads three steady streams through the thirds
 * of w, not three adjacent rows that jump at every group (as rows4 for one token).
 */
function rows3(out: usize, x: usize, w: usize, b: usize, t0: i32, t1: i32, n: i32, d: i32): i32 {
  const rs = (<usize>n) << 2;
  const os = (<usize>d) << 2;
  const d4 = d & ~3;
  const q = d4 / 3;
  const ws = <usize>q * rs; // bytes from a weight row to its row in the next third
  const ls = (<usize>q) << 2; // and from an output (or bias) to its
  for (let r = 0; r < q; r++) {
    const wr = w + <usize>r * rs;
    const or = out + ((<usize>r) << 2);
    const bias = b ? Vec.col3(b + ((<usize>r) << 2), ls) : f32x4.splat(0);
    let t = t0;
    for (; t + 3 <= t1; t += 3) {
      tile3(or + <usize>t * os, os, x + <usize>t * rs, rs, wr, ws, ls, n, bias, true);
    }
    if (t + 2 == t1) {
      tile3(or + <usize>t * os, os, x + <usize>t * rs, rs, wr, ws, ls, n, bias, false);
    } else if (t < t1) {
      // the last token, as both tokens of a two-token tile (the same bits stored twice)
      tile3(or + <usize>t * os, 0, x + <usize>t * rs, 0, wr, ws, ls, n, bias, false);
    }
  }
  return 3 * q < d4 ? d4 - 4 : d4;
}

/**
 * Two tokens (x rows at x, x + rs) against four weight rows (w + i·rs): 8 f32x4 accumulators.
 * Measured on V8 x64, bigger tiles (4×4 = 16 accumulators) lose: only 15 xmm registers are
 * allocatable, so they spill. 2×4 keeps 8 accumulators + 2 x + 1 w in registers and needs
 * 6 loads per 8 multiply-adds. Stores out[0][0..4] at out and out[1][0..4] at out + os.
 */
function tile2x4(out: usize, os: usize, x: usize, w: usize, rs: usize, n: i32, bias: v128): void {
  // bias last, as dot1x4's caller adds it: a row's bits do not depend on its tile
  v128.store(out, f32x4.add(Tiles.by4(x, x + rs, w, rs, n, out + os, bias, true), bias));
}

/**
 * Three tokens (three = true) or two against three weight rows: 9 (6) accumulators. TurboFan
 * issues all of an iteration's loads before its multiply-adds, so the 6 loaded vectors count
 * too: 9 + 6 = 15 xmm registers, all V8 has (2x6 or 2x4 unrolled by k load 8 or 12 and spill).
 * With FMA latency 4, 9 chains can issue 2.25 per cycle; 2x4's 8 only exactly the peak of 2,
 * which kept it at ~77% of it. The mul + add build puts each product in a dead loaded register:
 * no spill either. Tokens at x + t·xs, rows at w + i·ws; stores row i of token t at out + t·os +
 * i·ls. Two tokens: a block's last 2 (batched decode of 8 = 3 + 3 + 2), so no fourth row is
 * computed and thrown away as with tile2x4. Each choice is its own loop (by3 inlined twice).
 */
function tile3(
  out: usize,
  os: usize,
  x: usize,
  xs: usize,
  w: usize,
  ws: usize,
  ls: usize,
  n: i32,
  bias: v128,
  three: bool,
): void {
  if (three) Tiles.by3(out, os, x, xs, w, ws, ls, n, bias, true);
  else Tiles.by3(out, os, x, xs, w, ws, ls, n, bias, false);
}

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
class Tiles {
  /**
   * tile2x4 (two = true) and dot1x4 (false): one or two tokens (x0, x1) against four weight rows
   * w + i·ws. Returns x0's four sums; x1's, plus bias, go to out1. Inlined with a constant
   * `two`, as by3.
   */
  @inline static by4(
    x0: usize,
    x1: usize,
    w: usize,
    ws: usize,
    n: i32,
    out1: usize,
    bias: v128,
    two: bool,
  ): v128 {
    let a00 = f32x4.splat(0),
      a01 = f32x4.splat(0),
      a02 = f32x4.splat(0),
      a03 = f32x4.splat(0);
    let a10 = f32x4.splat(0),
      a11 = f32x4.splat(0),
      a12 = f32x4.splat(0),
      a13 = f32x4.splat(0);
    let p0 = w,
      p1 = w + ws,
      p2 = p1 + ws,
      p3 = p2 + ws;
    let q0 = x0,
      q1 = x1;
    if (!two) {
      // dot1x4 takes two vectors of each row per step: each row's lanes still take its columns in
      // order (k, then k + 4), with half the loop overhead per byte (baseline build, matrix in
      // cache: -16%; TurboFan still fits 2 + 8 loads + 4 accumulators in the xmm file)
      const end8 = x0 + ((<usize>(n & ~7)) << 2);
      for (; q0 < end8; q0 += 32, p0 += 32, p1 += 32, p2 += 32, p3 += 32) {
        const v = v128.load(q0),
          u = v128.load(q0, 16);
        a00 = Vec.madd(v, v128.load(p0), a00);
        a01 = Vec.madd(v, v128.load(p1), a01);
        a02 = Vec.madd(v, v128.load(p2), a02);
        a03 = Vec.madd(v, v128.load(p3), a03);
        a00 = Vec.madd(u, v128.load(p0, 16), a00);
        a01 = Vec.madd(u, v128.load(p1, 16), a01);
        a02 = Vec.madd(u, v128.load(p2, 16), a02);
        a03 = Vec.madd(u, v128.load(p3, 16), a03);
      }
    }
    const end = x0 + ((<usize>(n & ~3)) << 2);
    for (; q0 < end; q0 += 16, q1 += 16, p0 += 16, p1 += 16, p2 += 16, p3 += 16) {
      const v0 = v128.load(q0);
      const v1 = two ? v128.load(q1) : v0;
      let wv = v128.load(p0);
      a00 = Vec.madd(v0, wv, a00);
      if (two) a10 = Vec.madd(v1, wv, a10);
      wv = v128.load(p1);
      a01 = Vec.madd(v0, wv, a01);
      if (two) a11 = Vec.madd(v1, wv, a11);
      wv = v128.load(p2);
      a02 = Vec.madd(v0, wv, a02);
      if (two) a12 = Vec.madd(v1, wv, a12);
      wv = v128.load(p3);
      a03 = Vec.madd(v0, wv, a03);
      if (two) a13 = Vec.madd(v1, wv, a13);
    }
    let s0 = Vec.hsum4(a00, a01, a02, a03);
    let s1 = two ? Vec.hsum4(a10, a11, a12, a13) : s0;
    const stop = x0 + ((<usize>n) << 2);
    for (; q0 < stop; q0 += 4, q1 += 4, p0 += 4) {
      // n % 4 tail: column k of the four weight rows times x0[k] (and x1[k])
      const wc = Vec.col4(p0, ws);
      s0 = Vec.madd(f32x4.splat(load<f32>(q0)), wc, s0);
      if (two) s1 = Vec.madd(f32x4.splat(load<f32>(q1)), wc, s1);
    }
    if (two) v128.store(out1, f32x4.add(s1, bias));
    return s0;
  }

  /**
   * tile3's two tiles, inlined with a constant `three`: each compiles
   * to its own loop with the third token's loads, multiply-adds and stores gone, not branched
   * over. Lane 3 of each sum is a throwaway copy of lane 2 (3 rows in a 4-lane hsum).
   */
  @inline static by3(
    out: usize,
    os: usize,
    x: usize,
    xs: usize,
    w: usize,
    ws: usize,
    ls: usize,
    n: i32,
    bias: v128,
    three: bool,
  ): void {
    let a00 = f32x4.splat(0),
      a01 = f32x4.splat(0),
      a02 = f32x4.splat(0);
    let a10 = f32x4.splat(0),
      a11 = f32x4.splat(0),
      a12 = f32x4.splat(0);
    let a20 = f32x4.splat(0),
      a21 = f32x4.splat(0),
      a22 = f32x4.splat(0);
    let p0 = w,
      p1 = w + ws,
      p2 = p1 + ws;
    let q0 = x,
      q1 = x + xs,
      q2 = q1 + xs;
    const end = x + ((<usize>(n & ~3)) << 2);
    for (; q0 < end; q0 += 16, q1 += 16, q2 += 16, p0 += 16, p1 += 16, p2 += 16) {
      const x0 = v128.load(q0),
        x1 = v128.load(q1);
      const x2 = three ? v128.load(q2) : x1;
      let wv = v128.load(p0);
      a00 = Vec.madd(x0, wv, a00);
      a10 = Vec.madd(x1, wv, a10);
      if (three) a20 = Vec.madd(x2, wv, a20);
      wv = v128.load(p1);
      a01 = Vec.madd(x0, wv, a01);
      a11 = Vec.madd(x1, wv, a11);
      if (three) a21 = Vec.madd(x2, wv, a21);
      wv = v128.load(p2);
      a02 = Vec.madd(x0, wv, a02);
      a12 = Vec.madd(x1, wv, a12);
      if (three) a22 = Vec.madd(x2, wv, a22);
    }
    let s0 = Vec.hsum4(a00, a01, a02, a02);
    let s1 = Vec.hsum4(a10, a11, a12, a12);
    let s2 = three ? Vec.hsum4(a20, a21, a22, a22) : s1;
    const stop = x + ((<usize>n) << 2);
    for (; q0 < stop; q0 += 4, q1 += 4, q2 += 4, p0 += 4) {
      // n % 4 tail: column k of the three weight rows times x0[k], x1[k] (and x2[k])
      const wc = Vec.col3(p0, ws);
      s0 = Vec.madd(f32x4.splat(load<f32>(q0)), wc, s0);
      s1 = Vec.madd(f32x4.splat(load<f32>(q1)), wc, s1);
      if (three) s2 = Vec.madd(f32x4.splat(load<f32>(q2)), wc, s2);
    }
    Vec.storeCol3(out, ls, f32x4.add(s0, bias));
    Vec.storeCol3(out + os, ls, f32x4.add(s1, bias));
    if (three) Vec.storeCol3(out + 2 * os, ls, f32x4.add(s2, bias));
  }
}

/**
 * One row x[n] against four rows w + i·ws: the four dot products as one vector. Four
 * independent accumulators keep four weight streams in flight (T = 1 decode is memory-bound).
 * Also used by attention for four keys at once (ws = the KV cache row stride).
 */
export function dot1x4(x: usize, w: usize, ws: usize, n: i32): v128 {
  return Dot.x4(x, w, ws, n);
}

// Static methods only because @inline is valid on methods, not on functions (see vec.ts).
export class Dot {
  /** dot1x4 inlined where it is called (attention's scores: a call per four keys and head). */
  @inline static x4(x: usize, w: usize, ws: usize, n: i32): v128 {
    return Tiles.by4(x, x, w, ws, n, 0, f32x4.splat(0), false);
  }
}

/** x[n] · w[n] with two accumulators (to halve the add dependency chain) and a scalar tail. */
export function dot(x: usize, w: usize, n: i32): f32 {
  let a0 = f32x4.splat(0),
    a1 = f32x4.splat(0);
  let q = x,
    p = w;
  const end8 = x + ((<usize>(n & ~7)) << 2);
  for (; q < end8; q += 32, p += 32) {
    a0 = Vec.madd(v128.load(q), v128.load(p), a0);
    a1 = Vec.madd(v128.load(q, 16), v128.load(p, 16), a1);
  }
  const end4 = x + ((<usize>(n & ~3)) << 2);
  if (q < end4) {
    a0 = Vec.madd(v128.load(q), v128.load(p), a0);
    q += 16;
    p += 16;
  }
  let s = Vec.hsum(f32x4.add(a0, a1));
  const stop = x + ((<usize>n) << 2);
  for (; q < stop; q += 4, p += 4) {
    s += load<f32>(q) * load<f32>(p);
  }
  return s;
}
