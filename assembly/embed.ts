// embed: out[t][C] = wte[ids[t]] + wpe[pos0 + t], token plus position embedding.

import { add } from "./add";

/** wte: [V][C], wpe: [n_ctx][C], ids: i32[T]. Ids and positions are trusted (checked in TS). */
export function embed(
  out: usize,
  wte: usize,
  wpe: usize,
  ids: usize,
  pos0: i32,
  T: i32,
  C: i32,
): void {
  const rs = (<usize>C) << 2; // bytes per row
  for (let t = 0; t < T; t++) {
    const id = load<i32>(ids + ((<usize>t) << 2));
    add(out + <usize>t * rs, wte + <usize>id * rs, wpe + <usize>(pos0 + t) * rs, C);
  }
}
