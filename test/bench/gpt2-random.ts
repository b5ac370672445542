// The benchmarks' GPT-2 124M-shaped model: a seeded random checkpoint in Hugging Face layout
// (build/bench/gpt2-random, written once per seed) and its conversions (build/bench/gpt2-<dtypes>),
// redone only when the source, the dtypes, the format or a tensor's layout has changed.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FORMAT, tensorLayout, type DType, type Manifest } from "../../src/model/manifest.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { writeRandomCheckpoint } from "../../weights/random.js";
import { ROOT } from "../setup/paths.js";

const DIR = join(ROOT, "build", "bench");
const SEED = 124;

/**
 * build/bench/gpt2-random (HF layout), written once per seed; with `layers`, a shallower one of
 * the same widths in its own folder (a test's: under build/test/).
 */
export function randomGpt2(layers?: number, dir = DIR): string {
  const hf = join(dir, layers ? `gpt2-random-${layers}-layers` : "gpt2-random");
  const cfg = join(hf, "config.json");
  const old = existsSync(cfg) ? JSON.parse(readFileSync(cfg, "utf8")) : {};
  const current = old.gpt_edge_random?.seed === SEED && old.n_layer === (layers ?? 12);
  if (!current || !existsSync(join(hf, "model.safetensors"))) {
    process.stderr.write(`writing a random gpt2-shaped checkpoint to ${hf}...\n`);
    writeRandomCheckpoint(hf, { shape: "gpt2", layers, seed: SEED });
  }
  return hf;
}

/**
 * The random checkpoint converted to `dtype` (wte in `embeddingDtype`), reusing a current earlier
 * conversion: its folder, manifest, and the seconds the conversion took.
 */
export function convertedGpt2(
  dtype: DType,
  embeddingDtype: DType = dtype,
): { dir: string; manifest: Manifest; seconds: number } {
  const hf = randomGpt2();
  const dir = join(DIR, `gpt2-${dtype}${embeddingDtype === dtype ? "" : `-${embeddingDtype}-wte`}`);
  const file = join(dir, "manifest.json");
  if (existsSync(file)) {
    const m: Manifest = JSON.parse(readFileSync(file, "utf8"));
    const current =
      m.format === FORMAT &&
      m.source?.hf_dir === hf &&
      m.source?.dtype === dtype &&
      m.source?.embedding_dtype === embeddingDtype &&
      m.tensors.every((t) => tensorLayout(t.shape, t.dtype).bytes === t.bytes);
    if (current) return { dir, manifest: m, seconds: Number(m.source?.seconds ?? NaN) };
  }
  process.stderr.write(
    `bench: converting the random gpt2 to ${dtype} (wte ${embeddingDtype})...\n`,
  );
  const { manifest, seconds } = convertCheckpoint(hf, dir, {
    name: "gpt2-random",
    dtype,
    embeddingDtype,
  });
  return { dir, manifest, seconds };
}
