// A growable Int32Array that encode appends ids to. Pushing 300k ids onto a JS array costs
// ~3x more than writing them here and copying once into a pre-sized array at the end.

export class IdBuffer {
  ids = new Int32Array(1024);
  length = 0;

  push(id: number): void {
    if (this.length === this.ids.length) this.grow(1);
    this.ids[this.length++] = id;
  }

  /** Appends src[from, to). */
  pushRange(src: ArrayLike<number>, from: number, to: number): void {
    if (this.length + (to - from) > this.ids.length) this.grow(to - from);
    for (let i = from; i < to; i++) this.ids[this.length++] = src[i];
  }

  /** The ids as a plain array; the buffer is then emptied for reuse. */
  take(): number[] {
    const out: number[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.ids[i];
    this.length = 0;
    if (this.ids.length > 1 << 20) this.ids = new Int32Array(1024); // don't hoard a huge one
    return out;
  }

  private grow(need: number): void {
    const bigger = new Int32Array(2 * this.ids.length + need);
    bigger.set(this.ids.subarray(0, this.length));
    this.ids = bigger;
  }
}
