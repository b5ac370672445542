// The converted-weights format: manifest.json describes one "image" (every tensor at a
// 16-byte-aligned offset, already in the runtime dtype and layout), cut into shards.
// Loading = copy each shard to weightsBase + shard.offset. No Workers APIs here.

export const FORMAT = "gpt-edge-weights/1";

/** Byte alignment of every tensor inside the image (one v128). */
export const ALIGN = 16;

export type DType = "f32";

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
  /** Byte offset inside the image (multiple of ALIGN). */
  offset: number;
  /** Byte size in the image. */
  bytes: number;
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
  format: typeof FORMAT;
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
}

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
