// The converted-weights format: manifest.json describes one "image" (every tensor at a
// 16-byte-aligned offset, already in the runtime dtype and layout), cut into shards.
// Loading = copy each shard to weightsBase + shard.offset. No Workers APIs here.

import { QBLOCK, quantBytes } from "../kernels/quant.js";

/** Values per quantization block: part of the format, defined with the quantizers. */
export { QBLOCK };

/**
 * Format 2 added quantized tensors (dtype q8 / q4 with scales_offset); format 3 changed the q4
 * layout (rows interleaved by 4 for the kernels, see below). Format 1 manifests are format 3
 * manifests whose tensors are all f32, format 2 ones without q4 tensors are format 3 ones too,
 * so the loader still reads those (readableFormat).
 */
export const FORMAT = "gpt-edge-weights/3";

/** Why the loader cannot use a manifest's format, or undefined if it can. */
export function unreadableFormat(m: Pick<Manifest, "format" | "tensors">): string | undefined {
  if (m.format === FORMAT || m.format === "gpt-edge-weights/1") return undefined;
  if (m.format === "gpt-edge-weights/2") {
    if (!(m.tensors ?? []).some((t) => t.dtype === "q4")) return undefined;
    return `its q4 tensors use format 2's row-major layout, not format 3's`;
  }
  return `manifest format '${m.format}' is not '${FORMAT}'`;
}

/** Byte alignment of every tensor inside the image (one v128). */
export const ALIGN = 16;

/**
 * Runtime dtypes. Quantized tensors are matrices [d][n] (d rows of n values, n a multiple of 32)
 * quantized in blocks of QBLOCK = 32 consecutive values of a row (src/kernels/quant.ts says why
 * 32), each block with one f32 scale s:
 *
 *   q8: value = q · s, q int8 in [-127, 127], s = amax / 127 of the block.
 *   q4: value = q · s, q in [-8, 7], s = m / -8 where m is the block's value of largest magnitude
 *       (ggml's q4_0 rule; s may be negative).
 *
 * Layout of a quantized tensor in the image (linear weights [out][in], and wte [V][C]):
 *
 *   offset:        quants. q8: row-major, row j at offset + j·n. q4 (format 3): rows in groups
 *                  of 4 (the last padded with zero rows), each group's blocks in order, 64 bytes
 *                  per block: four 16-byte chunks, chunk c holding values 8c..8c+7 of the 4
 *                  rows; byte 4r + i (i < 4) of a chunk holds value 8c + i of row r in its low
 *                  nibble and 8c + 4 + i in its high nibble, each as q + 8 in [0, 15]
 *                  (the one description of this layout; src/kernels/quant.ts q4Index computes
 *                  it, assembly/matmul-q4.ts says why the kernels want it).
 *   scales_offset: f32 scales [ceil(d/4)][n/32][4] (16-aligned, after the quants): rows in
 *                  groups of 4, each group's 4 scales of block 0, then of block 1, ...; the
 *                  scale of block k of row j is at scales_offset + 4·((⌊j/4⌋·n/32 + k)·4 + j%4)
 *                  (the last group padded with zeros). A kernel tile of 4 rows reads one v128
 *                  per block, sequentially, in step with the quants: one stream, no gathers.
 *
 * bytes spans both (quants, padding, scales). The kernels quantize each activation row once to
 * int8 blocks of 32 (same rule as q8), so every block product is an exact integer dot followed
 * by one f32 multiply-add by the two scales.
 * Biases, LayerNorm parameters and wpe are always f32.
 */
export type DType = "f32" | "q8" | "q4";

/** GPT-2 hyperparameters, with llm.c's letters in the comments. */
export interface ModelConfig {
  n_vocab: number; // V
  n_ctx: number; // maximum sequence length (positions in wpe)
  n_embd: number; // C
  n_layer: number; // L
  n_head: number; // NH (head size HS = C / NH)
  eps: number; // layer_norm_epsilon
  eot_token: number; // <|endoftext|> id, also BOS for an empty prompt
}

export interface TensorEntry {
  /** GPT-2 names without any `transformer.` prefix: wte, wpe, h.0.ln_1.weight, ... ln_f.bias */
  name: string;
  /** Runtime shape. Linear weights are [out][in] (transposed from HF Conv1D [in][out]). */
  shape: number[];
  dtype: DType;
  /** Byte offset inside the image (multiple of ALIGN); for q8/q4 where the quants start. */
  offset: number;
  /** Byte size in the image (for q8/q4: quants, padding and scales). */
  bytes: number;
  /** q8/q4 only: image offset of the f32 scales [ceil(d/4)][n/32][4] (multiple of ALIGN). */
  scales_offset?: number;
}

export interface ShardEntry {
  /** File name next to manifest.json (and R2 key suffix under models/<name>/). */
  file: string;
  /** Byte offset of this shard inside the image. Shards tile the image without gaps. */
  offset: number;
  bytes: number;
  /** Hex SHA-256 of the shard file. */
  sha256: string;
}

export interface FileEntry {
  file: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  /** FORMAT when written; READABLE_FORMATS are accepted when read. */
  format: string;
  /** Model id in the API (the converter's --name). */
  name: string;
  config: ModelConfig;
  /** Compact tokenizer (see src/tokenizer/serialize.ts). */
  tokenizer: FileEntry;
  /** Total image size in bytes (sum of shard sizes). */
  image_bytes: number;
  tensors: TensorEntry[];
  shards: ShardEntry[];
  /** Free-form provenance: source directory, source dtype, conversion time. */
  source?: Record<string, string | number>;
  /** The stage plan of a model cut into pipeline stages (convert --stages); absent otherwise. */
  stages?: StagePlan;
  /** Set only in the manifest of one stage (stageManifest in stages.ts), never in a file. */
  stage?: StageInfo;
}

/**
 * How a model is cut into stages: contiguous runs of layers, each one isolate (a Durable Object)
 * whose weights + KV cache (for `slots` sequences of `context` positions, `kv` dtype) + scratch
 * (forward passes of `rows` rows, `logit_rows` unembedded at once) fit `budget_mb` MiB. The
 * first stage also owns wte (the embedding and the tied unembedding), wpe and ln_f.
 */
export interface StagePlan {
  budget_mb: number;
  slots: number;
  context: number;
  kv: "f32" | "q8";
  rows: number;
  logit_rows: number;
  list: StageEntry[];
}

export interface StageEntry {
  /** Layers first..end-1 (global numbers). */
  layers: [first: number, end: number];
  /** Indices into the manifest's shards: this stage's, in image order (never another's). */
  shards: number[];
  /** The stage's memory plan in bytes (plan.ts): total = weights + kv + scratch + reserved, paged. */
  memory: { total: number; weights: number; kv: number; scratch: number };
}

/** Which stage a stage manifest describes. */
export interface StageInfo {
  index: number;
  count: number;
  layers: [first: number, end: number];
}

/** The layers a manifest's model runs: its stage's, or all of them. */
export const stageLayers = (m: Pick<Manifest, "config" | "stage">): [number, number] =>
  m.stage?.layers ?? [0, m.config.n_layer];

/** Whether a manifest's model embeds and unembeds (the whole model, or the first stage). */
export const ownsEmbedding = (m: Pick<Manifest, "stage">): boolean => (m.stage?.index ?? 0) === 0;

/** The tensor names a GPT-2 checkpoint must provide, in image order, with runtime shapes. */
export function expectedTensors(c: ModelConfig): { name: string; shape: number[] }[] {
  const { n_vocab: V, n_ctx, n_embd: C, n_layer: L } = c;
  const list = [
    { name: "wte", shape: [V, C] },
    { name: "wpe", shape: [n_ctx, C] },
  ];
  for (let l = 0; l < L; l++) {
    const p = `h.${l}.`;
    list.push(
      { name: p + "ln_1.weight", shape: [C] },
      { name: p + "ln_1.bias", shape: [C] },
      { name: p + "attn.c_attn.weight", shape: [3 * C, C] },
      { name: p + "attn.c_attn.bias", shape: [3 * C] },
      { name: p + "attn.c_proj.weight", shape: [C, C] },
      { name: p + "attn.c_proj.bias", shape: [C] },
      { name: p + "ln_2.weight", shape: [C] },
      { name: p + "ln_2.bias", shape: [C] },
      { name: p + "mlp.c_fc.weight", shape: [4 * C, C] },
      { name: p + "mlp.c_fc.bias", shape: [4 * C] },
      { name: p + "mlp.c_proj.weight", shape: [C, 4 * C] },
      { name: p + "mlp.c_proj.bias", shape: [C] },
    );
  }
  list.push({ name: "ln_f.weight", shape: [C] }, { name: "ln_f.bias", shape: [C] });
  return list;
}

/** Bytes of a tensor of `shape` in `dtype`, and where its scales start (relative to offset). */
export function tensorLayout(shape: number[], dtype: DType): { bytes: number; scales?: number } {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (dtype === "f32") return { bytes: numel * 4 };
  const [d, n] = shape;
  if (shape.length !== 2 || n % QBLOCK)
    throw new Error(`cannot store shape [${shape}] as ${dtype}: need [rows][n] with n % 32 == 0`);
  const quants = quantBytes(d, n, dtype);
  const scales = Math.ceil(quants / ALIGN) * ALIGN;
  return { bytes: scales + Math.ceil(d / 4) * 4 * (n / QBLOCK) * 4, scales };
}

/** Model ids the converter writes and the loader accepts: one R2 path segment, at most 128 chars. */
export const MODEL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
