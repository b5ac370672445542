// A converted model's weight image as the loader lays it out: every shard at its offset.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Manifest } from "../../../src/model/manifest.js";

/** The bytes of the image of the model converted into `dir`. */
export function readImage(dir: string, m: Manifest): Uint8Array {
  const image = new Uint8Array(m.image_bytes);
  for (const s of m.shards) image.set(readFileSync(join(dir, s.file)), s.offset);
  return image;
}

/** The image as floats (an all-f32 model). */
export const readImageF32 = (dir: string, m: Manifest) =>
  new Float32Array(readImage(dir, m).buffer);
