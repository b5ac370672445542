// embedQ8 / embedQ4: out[t][C] = dequant(wte[ids[t]]) + wpe[pos0 + t] for a quantized wte (the
// tied embedding, also read by matmulQ8/Q4 for the logits). Element i: f32(q[i]) · s + wpe[i].

import { QBLOCK } from "./quant";

/**
 * wq: i8 [V][C], ws: its scales (layout of matmulQ8: rows in groups of 4), wpe: [n_ctx][C],
 * ids: i32[T]. C must be a multiple of 32. Ids and positions are trusted (checked in TS).
 */
export function embedQ8(
  out: usize,
  wq: usize,
  ws: usize,
  wpe: usize,
  ids: usize,
  pos0: i32,
  T: i32,
  C: i32,
): void {
  const nb = C / QBLOCK;
  const fs = (<usize>C) << 2; // bytes per f32 row
  for (let t = 0; t < T; t++) {
    const id = load<i32>(ids + ((<usize>t) << 2));
    let p = wq + <usize>id * <usize>C;
    let o = out + <usize>t * fs;
    let e = wpe + <usize>(pos0 + t) * fs;
    // the row's scales: one per block, 16 bytes apart (rows grouped by 4, see matmulQ8)
    const sp = ws + ((<usize>(id >> 2) * <usize>nb) << 4) + ((<usize>(id & 3)) << 2);
    for (let k = 0; k < nb; k++) {
      const s = f32x4.splat(load<f32>(sp + ((<usize>k) << 4)));
      for (let i: usize = 0; i < 32; i += 8) {
        put8(o + (i << 2), e + (i << 2), v128.load8x8_s(p + i), s);
      }
      p += 32;
      o += 128;
      e += 128;
    }
  }
}

/** As embedQ8 with wq q4 (layout: src/model/manifest.ts; row id is row id % 4 of its group). */
export function embedQ4(
  out: usize,
  wq: usize,
  ws: usize,
  wpe: usize,
  ids: usize,
  pos0: i32,
  T: i32,
  C: i32,
): void {
  const nb = C / QBLOCK;
  const gs = (<usize>nb) << 6; // bytes per group of 4 rows
  const fs = (<usize>C) << 2; // bytes per f32 row
  const m = i8x16.splat(0x0f);
  for (let t = 0; t < T; t++) {
    const id = load<i32>(ids + ((<usize>t) << 2));
    let p = wq + <usize>(id >> 2) * gs + ((<usize>(id & 3)) << 2);
    let o = out + <usize>t * fs;
    let e = wpe + <usize>(pos0 + t) * fs;
    const sp = ws + ((<usize>(id >> 2) * <usize>nb) << 4) + ((<usize>(id & 3)) << 2);
    for (let k = 0; k < nb; k++) {
      const s = f32x4.splat(load<f32>(sp + ((<usize>k) << 4)));
      // the row's 4 bytes of each chunk: lanes (chunk 0, 1, 2, 3)
      let v = i32x4.splat(load<i32>(p));
      v = i32x4.replace_lane(v, 1, load<i32>(p, 16));
      v = i32x4.replace_lane(v, 2, load<i32>(p, 32));
      v = i32x4.replace_lane(v, 3, load<i32>(p, 48));
      const lo = i8x16.sub(v128.and(v, m), i8x16.splat(8)); // values 8c..8c+3 of each chunk
      const hi = i8x16.sub(v128.and(i16x8.shr_u(v, 4), m), i8x16.splat(8)); // 8c+4..8c+7
      const a = i32x4.shuffle(lo, hi, 0, 4, 1, 5); // values 0..15 in order
      const b = i32x4.shuffle(lo, hi, 2, 6, 3, 7); // values 16..31
      put8(o, e, i16x8.extend_low_i8x16_s(a), s);
      put8(o + 32, e + 32, i16x8.extend_high_i8x16_s(a), s);
      put8(o + 64, e + 64, i16x8.extend_low_i8x16_s(b), s);
      put8(o + 96, e + 96, i16x8.extend_high_i8x16_s(b), s);
      p += 64;
      o += 128;
      e += 128;
    }
  }
}

/** out[0..8] = f32(q[i]) · s + e[i] for the eight i16 lanes of q. */
function put8(out: usize, e: usize, q: v128, s: v128): void {
  const a = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q));
  const b = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q));
  v128.store(out, f32x4.add(f32x4.mul(a, s), v128.load(e)));
  v128.store(out, f32x4.add(f32x4.mul(b, s), v128.load(e, 16)), 16);
}
