// The converter's q8 / q4 output on a small synthetic checkpoint (C=64, L=2, HS=32): which
// tensors are quantized, the layout in the manifest, every dequantized value within its
// round-trip bound of the source; the block quantizers' bounds; and the random real-shape
// checkpoint (real GPT-2 vocabulary) converted to q4, loaded and run.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadKernelModule } from "../../src/kernels/node.js";
import {
  quantAt,
  quantizeBlockQ4,
  quantizeBlockQ8,
  scaleCount,
  scaleIndex,
} from "../../src/kernels/quant.js";
import { loadModel } from "../../src/model/loader.js";
import { ALIGN, FORMAT, tensorLayout } from "../../src/model/manifest.js";
import { main } from "../../weights/cli.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { encodeSafetensors, type TensorToWrite } from "../../weights/safetensors.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { mulberry32 } from "./helpers/random.js";
import { readImage } from "./helpers/image.js";

const TINY = fileURLToPath(new URL("../../weights/tiny-shakespeare", import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "converter-quant-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const C = 64;
const CONFIG = { vocab_size: 2048, n_positions: 16, n_embd: C, n_layer: 2, n_head: 2 };
const isLinear = (n: string) => /\.(c_attn|c_proj|c_fc)\.weight$/.test(n);

/** Source tensors (HF names and shapes, F32), values ~ uniform ±0.05 with a few outliers. */
function writeCheckpoint(dir: string, embd = C): Map<string, Float32Array> {
  const rng = mulberry32(99);
  const shapes: [string, number[]][] = [
    ["wte.weight", [2048, embd]],
    ["wpe.weight", [16, embd]],
  ];
  for (let l = 0; l < 2; l++) {
    const p = `h.${l}.`;
    shapes.push(
      [p + "ln_1.weight", [embd]], [p + "ln_1.bias", [embd]],
      [p + "attn.c_attn.weight", [embd, 3 * embd]], [p + "attn.c_attn.bias", [3 * embd]],
      [p + "attn.c_proj.weight", [embd, embd]], [p + "attn.c_proj.bias", [embd]],
      [p + "ln_2.weight", [embd]], [p + "ln_2.bias", [embd]],
      [p + "mlp.c_fc.weight", [embd, 4 * embd]], [p + "mlp.c_fc.bias", [4 * embd]],
      [p + "mlp.c_proj.weight", [4 * embd, embd]], [p + "mlp.c_proj.bias", [embd]],
    ); // prettier-ignore
  }
  shapes.push(["ln_f.weight", [embd]], ["ln_f.bias", [embd]]);
  const values = new Map<string, Float32Array>();
  const tensors: TensorToWrite[] = shapes.map(([name, shape]) => {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    for (let i = 0; i < a.length; i++) a[i] = (rng() - 0.5) * 0.1 * (i % 97 === 0 ? 20 : 1);
    values.set(name.replace(/^(wte|wpe)\.weight$/, "$1"), a);
    return { name, dtype: "F32", shape, data: new Uint8Array(a.buffer) };
  });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "model.safetensors"), encodeSafetensors(tensors));
  const config = {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    ...CONFIG,
    n_embd: embd,
  };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  for (const f of ["vocab.json", "merges.txt"])
    fs.copyFileSync(path.join(TINY, f), path.join(dir, f));
  return values;
}

const HF = path.join(tmp, "hf");
const source = writeCheckpoint(HF);

describe("convert --dtype q8 / q4", () => {
  for (const [dtype, embeddingDtype] of [
    ["q8", "q8"],
    ["q4", "q4"],
    ["q8", "q4"],
  ] as const) {
    it(`Should quantize the linear weights as ${dtype} and wte as ${embeddingDtype}, within bounds`, () => {
      const out = path.join(tmp, `${dtype}-${embeddingDtype}`);
      const { manifest: m } = convertCheckpoint(HF, out, {
        dtype,
        embeddingDtype,
        maxShardBytes: 64 * 1024,
      });
      expect(m.format).toBe(FORMAT);
      expect(m.source).toMatchObject({ dtype, embedding_dtype: embeddingDtype });
      const image = readImage(out, m);
      const f32 = new Float32Array(image.buffer);
      for (const t of m.tensors) {
        const want = t.name === "wte" ? embeddingDtype : isLinear(t.name) ? dtype : "f32";
        expect(t.dtype, t.name).toBe(want);
        const src = source.get(t.name)!;
        if (t.dtype === "f32") {
          expect(t.scales_offset).toBeUndefined();
          if (!isLinear(t.name))
            expect(f32.subarray(t.offset / 4, t.offset / 4 + src.length)).toEqual(src);
          continue;
        }
        const layout = tensorLayout(t.shape, t.dtype);
        expect(t.bytes).toBe(layout.bytes);
        expect(t.scales_offset).toBe(t.offset + layout.scales!);
        expect(t.scales_offset! % ALIGN).toBe(0);
        // every value: |source - q·s| within the block's bound (transposed for Conv1D weights)
        const [d, n] = t.shape;
        const scales = new Float32Array(image.buffer, t.scales_offset!, scaleCount(d, n));
        let worst = 0;
        for (let j = 0; j < d; j++)
          for (let i = 0; i < n; i++) {
            const s = scales[scaleIndex(j, i >> 5, n / 32)];
            const v = quantAt(image, t.offset, j, i >> 5, i & 31, n, t.dtype) * s;
            const x = isLinear(t.name) ? src[i * d + j] : src[j * n + i];
            const bound = Math.abs(s) * (t.dtype === "q8" ? 0.5 : 1) * (1 + 1e-6);
            worst = Math.max(worst, Math.abs(x - v) / bound);
          }
        expect(worst, t.name).toBeLessThanOrEqual(1);
      }
    });
  }

  it("Should keep matrices whose rows are not a multiple of 32 in f32, with a warning", () => {
    const hf = path.join(tmp, "hf-c48");
    writeCheckpoint(hf, 48);
    const r = convertCheckpoint(hf, path.join(hf, "out"), { dtype: "q4" });
    for (const t of r.manifest.tensors) {
      // rows of 48 (wte, c_attn, attn c_proj, c_fc) stay f32; mlp c_proj's rows of 192 are q4
      expect(t.dtype, t.name).toBe(t.name.endsWith("mlp.c_proj.weight") ? "q4" : "f32");
    }
    expect(r.warnings.join("\n")).toMatch(/matrices stay f32 .*multiple of 32/);
  });

  it("Should refuse an unknown --dtype on the command line (exit 2)", async () => {
    const quiet = () => {};
    expect(await main(["convert", HF, path.join(tmp, "x"), "--dtype", "q3"], quiet)).toBe(2);
    expect(
      await main(["convert", HF, path.join(tmp, "x"), "--embedding-dtype", "f16"], quiet),
    ).toBe(2);
    expect(await main(["random", path.join(tmp, "r"), "--shape", "gpt5"], quiet)).toBe(2);
  });
});

describe("format versions", () => {
  // Format 3 changed only the q4 layout: older manifests load unless they hold q4 tensors.
  const load = (dir: string) =>
    loadModel(modelDirStore(dir, "m"), "m", {
      kernels: loadKernelModule(),
      budgetBytes: 112 * 2 ** 20,
      slots: 1,
      cache: null,
    });
  const withFormat = (dtype: "q8" | "q4", format: string) => {
    const dir = path.join(tmp, `format-${dtype}-${format.replace(/\W/g, "")}`);
    convertCheckpoint(HF, dir, { name: "m", dtype });
    const file = path.join(dir, "manifest.json");
    const m = JSON.parse(fs.readFileSync(file, "utf8"));
    fs.writeFileSync(file, JSON.stringify({ ...m, format }));
    return dir;
  };

  it("Should refuse a format-2 q4 model (the old q4 layout) and name the fix", async () => {
    await expect(load(withFormat("q4", "gpt-edge-weights/2"))).rejects.toThrow(
      /q4 tensors use format 2's row-major layout.*re-convert it/,
    );
  });

  it("Should still load a format-2 q8 model, and refuse an unknown format", async () => {
    const lm = await load(withFormat("q8", "gpt-edge-weights/2"));
    expect(lm.manifest.format).toBe("gpt-edge-weights/2");
    await expect(load(withFormat("q8", "gpt-edge-weights/9"))).rejects.toThrow(
      /manifest format 'gpt-edge-weights\/9' is not 'gpt-edge-weights\/3'/,
    );
  });
});

describe("block quantizers", () => {
  const rng = mulberry32(7);
  const blocks = [
    new Float32Array(32), // all zero
    Float32Array.from({ length: 32 }, (_, i) => (i === 5 ? 3 : 0.001 * i)), // one outlier
    Float32Array.from({ length: 32 }, (_, i) => (i === 9 ? -3 : 3 - i * 0.1)), // -max and +max
    ...Array.from({ length: 200 }, () =>
      Float32Array.from({ length: 32 }, () => (rng() - 0.5) * 4),
    ),
  ];
  it("Should round-trip q8 within s/2 with s = amax/127, and quants in [-127, 127]", () => {
    const q = new Int8Array(32);
    for (const x of blocks) {
      const s = quantizeBlockQ8(x, 0, q, 0);
      const amax = Math.max(...Array.from(x, Math.abs));
      expect(s).toBe(Math.fround(amax / 127));
      for (let i = 0; i < 32; i++) {
        expect(Math.abs(q[i])).toBeLessThanOrEqual(127);
        expect(Math.abs(x[i] - q[i] * s)).toBeLessThanOrEqual((s / 2) * (1 + 1e-6));
      }
    }
  });
  it("Should round-trip q4 within |s|/2, or |s| for values clamped near -max, |s| = amax/8", () => {
    const levels = new Uint8Array(32);
    let clamped = 0;
    for (const x of blocks) {
      const s = quantizeBlockQ4(x, 0, levels, 0);
      const amax = Math.max(...Array.from(x, Math.abs));
      expect(Math.abs(s)).toBeCloseTo(amax / 8, 6);
      for (let i = 0; i < 32; i++) {
        expect(levels[i]).toBeLessThanOrEqual(15);
        const err = Math.abs(x[i] - (levels[i] - 8) * s);
        const nearOpposite = s !== 0 && x[i] / s > 7.5;
        if (nearOpposite) clamped++;
        expect(err).toBeLessThanOrEqual(Math.abs(s) * (nearOpposite ? 1 : 0.5) * (1 + 1e-6));
      }
    }
    expect(clamped).toBeGreaterThan(0); // the block with both -3 and +3 exercised the clamp
  });
});

describe("random real-shape checkpoint", () => {
  it("Should write a distilgpt2-shaped checkpoint that converts to q4, loads and runs", async () => {
    const hf = path.join(tmp, "random");
    const out = path.join(tmp, "random-q4");
    const quiet = () => {};
    expect(
      await main(["random", hf, "--shape", "distilgpt2", "--layers", "1", "--seed", "3"], quiet),
    ).toBe(0);
    const cfg = JSON.parse(fs.readFileSync(path.join(hf, "config.json"), "utf8"));
    expect(cfg).toMatchObject({ vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 1 });
    expect(await main(["convert", hf, out, "--dtype", "q4", "--name", "rnd"], quiet)).toBe(0);
    const lm = await loadModel(modelDirStore(out, "rnd"), "rnd", {
      kernels: loadKernelModule(),
      budgetBytes: 112 * 2 ** 20,
      slots: 1,
      cache: null,
    });
    expect(lm.tokenizer.encode("Hello, my dog is cute")).toEqual([
      15496, 11, 616, 3290, 318, 13779,
    ]);
    expect(lm.manifest.tensors.find((t) => t.name === "wte")!.dtype).toBe("q4");
    let logits: Float32Array | undefined;
    lm.model.forward([{ slot: 0, pos0: 0, ids: [15496, 11, 616], logits: "last" }], (_s, _t, l) => {
      logits = l.slice();
    });
    expect(logits).toHaveLength(50257);
    expect(logits!.every(Number.isFinite)).toBe(true);
    // Random N(0, 0.02) weights: logits spread like a freshly initialised GPT-2 (|z| ~ 0.5-5)
    const sd = Math.sqrt(logits!.reduce((s, v) => s + v * v, 0) / logits!.length);
    expect(sd).toBeGreaterThan(0.05);
    expect(sd).toBeLessThan(10);
  });
});
