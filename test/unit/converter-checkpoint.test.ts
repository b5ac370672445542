// The converter on small synthetic GPT-2 checkpoints (C=8, L=2): every source dtype, with and
// without the `transformer.` prefix, sharded indexes, mask buffers, tied lm_head, and the
// checkpoints it must refuse. Every image value is checked against the source.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { expectedTensors, type Manifest } from "../../src/model/manifest.js";
import { parseConfig, sourceShape } from "../../weights/checkpoint.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { encodeSafetensors, type TensorToWrite } from "../../weights/safetensors.js";
import { readImageF32 } from "./helpers/image.js";

const TINY = fileURLToPath(new URL("../../weights/tiny-shakespeare", import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "converter-ck-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// V matches tiny-shakespeare's tokenizer (2048 ids), whose files we reuse.
const CONFIG = { vocab_size: 2048, n_positions: 4, n_embd: 8, n_layer: 2, n_head: 2 };
const RUNTIME = {
  n_vocab: 2048,
  n_ctx: 4,
  n_embd: 8,
  n_layer: 2,
  n_head: 2,
  eps: 1e-5,
  eot_token: 0,
};
const isLinear = (n: string) => /\.(c_attn|c_proj|c_fc)\.weight$/.test(n);

/** Source value i of a tensor: k/4 with |k| <= 15, exact in F32, F16 and BF16. */
const value = (name: string, i: number) => (((i * 7 + name.length * 3) % 31) - 15) / 4;

function halfBits(v: number): number {
  if (v === 0) return 0;
  const e = Math.floor(Math.log2(Math.abs(v)));
  const mant = Math.abs(v) / 2 ** e - 1;
  return (v < 0 ? 0x8000 : 0) | ((e + 15) << 10) | Math.round(mant * 1024);
}

function encode(values: number[], dtype: string): Uint8Array {
  const f = new Float32Array(values);
  if (dtype === "F32") return new Uint8Array(f.buffer);
  const bits =
    dtype === "F16" ? values.map(halfBits) : Array.from(new Uint32Array(f.buffer), (b) => b >>> 16);
  return new Uint8Array(new Uint16Array(bits).buffer);
}

interface Variant {
  dtype?: "F32" | "F16" | "BF16";
  prefix?: boolean;
  sharded?: boolean;
  maskBuffers?: boolean;
  lmHead?: "tied" | "untied";
  drop?: string;
  shapes?: Record<string, number[]>;
  config?: Record<string, unknown>;
}

let count = 0;
function makeCheckpoint(v: Variant = {}): string {
  const dir = path.join(tmp, `ck-${count++}`);
  fs.mkdirSync(dir);
  const dtype = v.dtype ?? "F32";
  const key = (n: string) =>
    (v.prefix ? "transformer." : "") + (n === "wte" || n === "wpe" ? n + ".weight" : n);
  const tensors: TensorToWrite[] = [];
  for (const { name, shape } of expectedTensors(RUNTIME)) {
    if (name === v.drop) continue;
    const hfShape = v.shapes?.[name] ?? sourceShape(name, shape);
    const n = hfShape.reduce((a, b) => a * b, 1);
    const data = encode(
      Array.from({ length: n }, (_, i) => value(name, i)),
      dtype,
    );
    tensors.push({ name: key(name), dtype, shape: hfShape, data });
    if (v.maskBuffers && name.endsWith("ln_1.weight")) {
      const p = name.replace("ln_1.weight", "attn.");
      tensors.push({
        name: key(p + "bias"),
        dtype: "F32",
        shape: [1, 1, 4, 4],
        data: new Uint8Array(64),
      });
      tensors.push({
        name: key(p + "masked_bias"),
        dtype: "F32",
        shape: [],
        data: new Uint8Array(4),
      });
    }
  }
  if (v.lmHead) {
    const wte = tensors[0];
    const data = wte.data.slice();
    if (v.lmHead === "untied") data[400] ^= 1;
    tensors.push({ name: "lm_head.weight", dtype, shape: wte.shape, data });
  }
  tensors.reverse(); // the converter must not depend on file order
  if (v.sharded) {
    const half = tensors.length >> 1;
    const parts = [tensors.slice(0, half), tensors.slice(half)];
    const weight_map: Record<string, string> = {};
    parts.forEach((part, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      fs.writeFileSync(path.join(dir, file), encodeSafetensors(part));
      for (const t of part) weight_map[t.name] = file;
    });
    fs.writeFileSync(
      path.join(dir, "model.safetensors.index.json"),
      JSON.stringify({ weight_map }),
    );
  } else fs.writeFileSync(path.join(dir, "model.safetensors"), encodeSafetensors(tensors));
  const config = { architectures: ["GPT2LMHeadModel"], model_type: "gpt2", ...CONFIG, ...v.config };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  for (const f of ["vocab.json", "merges.txt"])
    fs.copyFileSync(path.join(TINY, f), path.join(dir, f));
  return dir;
}

/** Every runtime value equals its source value; linear weights are transposed. */
function expectImageMatchesSource(dir: string, m: Manifest) {
  const image = readImageF32(dir, m);
  for (const t of m.tensors) {
    const base = t.offset / 4;
    const [rows, cols] = t.shape.length === 2 ? t.shape : [1, t.shape[0]];
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        // runtime [out=r][in=c] comes from source [in=c][out=r]
        const src = isLinear(t.name) ? c * rows + r : r * cols + c;
        if (image[base + r * cols + c] !== value(t.name, src))
          throw new Error(
            `${t.name}[${r}][${c}] = ${image[base + r * cols + c]}, want ${value(t.name, src)}`,
          );
      }
  }
}

function convert(dir: string, opts = {}) {
  const out = path.join(dir, "out");
  return { out, ...convertCheckpoint(dir, out, opts) };
}

describe("convert synthetic GPT-2 checkpoints", () => {
  it("Should convert F32 without prefix and transpose every Conv1D weight", () => {
    const { out, manifest, warnings } = convert(makeCheckpoint());
    expect(manifest.config).toEqual({ ...RUNTIME, eot_token: 2047 });
    expect(manifest.source?.source_dtype).toBe("F32");
    expect(warnings).toEqual([]);
    expectImageMatchesSource(out, manifest);
  });

  it("Should convert F16 with the transformer. prefix and skip attn.bias / attn.masked_bias", () => {
    const { out, manifest, warnings } = convert(
      makeCheckpoint({ dtype: "F16", prefix: true, maskBuffers: true }),
    );
    expect(manifest.source?.source_dtype).toBe("F16");
    expect(warnings).toEqual([]);
    expectImageMatchesSource(out, manifest);
  });

  it("Should convert a BF16 sharded index with a tied lm_head", () => {
    const { out, manifest } = convert(
      makeCheckpoint({ dtype: "BF16", sharded: true, lmHead: "tied" }),
    );
    expect(manifest.source?.source_dtype).toBe("BF16");
    expectImageMatchesSource(out, manifest);
  });

  it("Should split tensors across tiny shards and still reproduce every value", () => {
    const { out, manifest } = convert(makeCheckpoint(), { maxShardBytes: 1024 });
    expect(manifest.shards.length).toBeGreaterThan(60); // wte alone is 64 KiB
    expect(Math.max(...manifest.shards.map((s) => s.bytes))).toBeLessThanOrEqual(1024);
    for (const s of manifest.shards) expect(s.offset % 16).toBe(0);
    expectImageMatchesSource(out, manifest);
  });

  it("Should refuse an lm_head that differs from wte", () => {
    expect(() => convert(makeCheckpoint({ lmHead: "untied" }))).toThrow(
      /lm_head\.weight differs from wte at \[12\]\[4\]/,
    );
  });

  it("Should name a missing tensor", () => {
    expect(() => convert(makeCheckpoint({ drop: "h.1.mlp.c_fc.bias" }))).toThrow(
      /tensor h\.1\.mlp\.c_fc\.bias is missing/,
    );
  });

  it("Should name a tensor with the wrong shape (e.g. already transposed)", () => {
    const dir = makeCheckpoint({ prefix: true, shapes: { "h.0.attn.c_attn.weight": [24, 8] } });
    expect(() => convert(dir)).toThrow(
      /transformer\.h\.0\.attn\.c_attn\.weight has shape \[24,8\], expected \[8,24\]/,
    );
  });

  it("Should refuse a tokenizer with more ids than vocab_size", () => {
    const dir = makeCheckpoint({ config: { vocab_size: 1000 }, shapes: { wte: [1000, 8] } });
    expect(() => convert(dir)).toThrow(
      /tokenizer has 2048 tokens but config\.json vocab_size is 1000/,
    );
  });

  it("Should refuse a layer_norm_epsilon that is not a number >= 0", () => {
    for (const eps of ["1e-5", -1, true]) {
      const dir = makeCheckpoint({ config: { layer_norm_epsilon: eps } });
      expect(() => convert(dir)).toThrow(/layer_norm_epsilon .* is not a number >= 0/);
    }
    expect(
      convert(makeCheckpoint({ config: { layer_norm_epsilon: 1e-6 } })).manifest.config.eps,
    ).toBe(1e-6);
  });

  it("Should refuse configs of other architectures or activations", () => {
    const llama = { ...CONFIG, model_type: "llama", architectures: ["LlamaForCausalLM"] };
    expect(() => parseConfig(llama)).toThrow(/model_type llama.*gpt-edge serves GPT-2 only/);
    expect(() =>
      parseConfig({ ...CONFIG, architectures: ["GPT2ForSequenceClassification"] }),
    ).toThrow(/architectures/);
    expect(() => parseConfig({ ...CONFIG, activation_function: "relu" })).toThrow(
      /activation_function "relu"/,
    );
    expect(() => parseConfig({ ...CONFIG, n_inner: 100 })).toThrow(/n_inner 100/);
    expect(() => parseConfig({ ...CONFIG, n_head: 3 })).toThrow(/not a multiple of n_head/);
    expect(() => convert(makeCheckpoint({ config: { model_type: "gptj" } }))).toThrow(
      /model_type gptj/,
    );
  });

  it("Should accept gelu_pytorch_tanh and gelu_fast (the same tanh GELU) and old configs with n_ctx only", () => {
    const { n_positions, ...old } = CONFIG;
    for (const activation_function of ["gelu_pytorch_tanh", "gelu_fast"]) {
      const { config } = parseConfig({ ...old, n_ctx: n_positions, activation_function });
      expect(config.n_ctx).toBe(4);
    }
  });
});
