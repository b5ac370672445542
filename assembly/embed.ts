// embed: out[t][C] = row(wte, ids[t]) + wpe[pos0 + t], token plus position embedding, for every
// dtype of wte (the tied embedding, also read by matmul/matmulQuant for the logits). One
// token loop; per dtype one row function turning wte's row into f32 and adding the wpe row.

import { add } from "./add";
import { DTYPE_Q4, DTYPE_Q8, QBLOCK } from "./quant";

/**
 * wte: [V][C] in dtype, ws: its scales (q8, q4: matmulQuant's layout; ignored for f32), wpe:
 * [n_ctx][C], ids: i32[T]. q8/q4 need C a multiple of 32. Ids and positions are trusted (checked
 * in TS). Element i of a quantized row: f32(q[i]) · s + wpe[i].
 */
export function embed(
  out: usize,
  wte: usize,
  ws: usize,
  wpe: usize,
  ids: usize,
  pos0: i32,
  T: i32,
  C: i32,
  dtype: i32,
): void {
  const fs = (<usize>C) << 2; // bytes per f32 row
  for (let t = 0; t < T; t++) {
    const id = load<i32>(ids + ((<usize>t) << 2));
    const o = out + <usize>t * fs;
    const e = wpe + <usize>(pos0 + t) * fs;
    if (dtype == DTYPE_Q8) rowQ8(o, e, wte, ws, id, C);
    else if (dtype == DTYPE_Q4) rowQ4(o, e, wte, ws, id, C);
    else add(o, wte + <usize>id * fs, e, C);
  }
}

/** Row id's first scale; one per block, 16 bytes apart (rows grouped by 4, see matmulQuant). */
function rowScales(ws: usize, id: i32, nb: i32): usize {
  return ws + ((<usize>(id >> 2) * <usize>nb) << 4) + ((<usize>(id & 3)) << 2);
}

/** o[C] = dequant(row id of the q8 wq: i8 [V][C]) + e[C]. */
function rowQ8(o: usize, e: usize, wq: usize, ws: usize, id: i32, C: i32): void {
  const nb = C / QBLOCK;
  let p = wq + <usize>id * <usize>C;
  const sp = rowScales(ws, id, nb);
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

/** As rowQ8 with wq q4 (layout: src/model/manifest.ts; row id is row id % 4 of its group). */
function rowQ4(o: usize, e: usize, wq: usize, ws: usize, id: i32, C: i32): void {
  const nb = C / QBLOCK;
  const gs = (<usize>nb) << 6; // bytes per group of 4 rows
  const m = i8x16.splat(0x0f);
  let p = wq + <usize>(id >> 2) * gs + ((<usize>(id & 3)) << 2);
  const sp = rowScales(ws, id, nb);
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

/** out[0..8] = f32(q[i]) · s + e[i] for the eight i16 lanes of q. */
function put8(out: usize, e: usize, q: v128, s: v128): void {
  const a = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q));
  const b = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q));
  v128.store(out, f32x4.add(f32x4.mul(a, s), v128.load(e)));
  v128.store(out, f32x4.add(f32x4.mul(b, s), v128.load(e, 16)), 16);
}
