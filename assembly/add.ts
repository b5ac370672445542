// add: out[i] = a[i] + b[i], the residual connection (and the wte + wpe of embed).

/** count floats. out may equal a or b. */
export function add(out: usize, a: usize, b: usize, count: i32): void {
  const vecBytes = (<usize>(count & ~3)) << 2;
  const bytes = (<usize>count) << 2;
  let i: usize = 0;
  for (; i < vecBytes; i += 16) v128.store(out + i, f32x4.add(v128.load(a + i), v128.load(b + i)));
  for (; i < bytes; i += 4) store<f32>(out + i, load<f32>(a + i) + load<f32>(b + i));
}
