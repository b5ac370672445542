// The weights image and its shards: tensor offsets (16-byte aligned, expectedTensors() order),
// shard boundaries (by layer where possible, at most maxShardBytes each), and a writer that
// cuts a sequential byte stream into shard files while hashing them.
import { createHash, type Hash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  ALIGN,
  expectedTensors,
  QBLOCK,
  tensorLayout,
  type DType,
  type ModelConfig,
  type ShardEntry,
  type TensorEntry,
} from "../src/model/manifest.js";
import { isLinearWeight } from "./checkpoint.js";

/** 16 MiB: big enough that gpt2 needs ~30 requests, small enough to retry and hash cheaply. */
export const DEFAULT_MAX_SHARD_BYTES = 16 * 1024 * 1024;

export const alignUp = (n: number, a = ALIGN) => Math.ceil(n / a) * a;

/** Runtime dtypes chosen at conversion: linear weights take `dtype`, wte `embeddingDtype`. */
export interface DTypeChoice {
  dtype: DType;
  /** wte (the embedding and the tied unembedding); default: dtype. */
  embeddingDtype?: DType;
}

/**
 * The dtype a tensor is stored in. Biases, LayerNorm parameters and wpe stay f32 (they are
 * small, and wpe is added, never multiplied). A matrix whose rows are not a multiple of 32 stays
 * f32 too (no GPT-2 has one: every width is a multiple of 64).
 */
export function tensorDtype(name: string, shape: number[], choice: DTypeChoice): DType {
  const want =
    name === "wte"
      ? (choice.embeddingDtype ?? choice.dtype)
      : isLinearWeight(name)
        ? choice.dtype
        : "f32";
  return want !== "f32" && shape[shape.length - 1] % QBLOCK ? "f32" : want;
}

/** Bytes of one tensor in the image (quantized: quants, padding and scales). */
export function tensorBytes(shape: number[], dtype: DType): number {
  return tensorLayout(shape, dtype).bytes;
}

/** Offsets of every tensor; the image ends at the last tensor's end, rounded up to ALIGN. */
export function layoutImage(config: ModelConfig, choice: DTypeChoice | DType = "f32") {
  const c = typeof choice === "string" ? { dtype: choice } : choice;
  let offset = 0;
  const tensors: TensorEntry[] = expectedTensors(config).map(({ name, shape }) => {
    const dtype = tensorDtype(name, shape, c);
    const { bytes, scales } = tensorLayout(shape, dtype);
    const t: TensorEntry = { name, shape, dtype, offset, bytes };
    if (scales !== undefined) t.scales_offset = offset + scales;
    offset = alignUp(offset + bytes);
    return t;
  });
  return { tensors, imageBytes: offset };
}

/** Shard grouping key: the embeddings, each layer, and the final LayerNorm. */
export const groupOf = (name: string) =>
  /^h\.\d+\./.exec(name)?.[0] ?? (name.startsWith("ln_f") ? "ln_f" : "embed");

/**
 * Cuts [0, imageBytes) into shards of at most maxBytes, so that a shard holds either whole
 * groups (embeddings, a layer, ln_f) or part of exactly one group, never the tail of one layer
 * and the head of the next: a pipeline stage owning layers a..b then fetches only its shards.
 * Whole groups are packed greedily, and never into a shard of another stage (stageOf: which
 * stage holds a tensor; the first stage's ln_f, at the image's end, then gets a shard of its
 * own). A group larger than maxBytes gets shards of its own, packed tensor by tensor; a tensor
 * larger than maxBytes is cut into maxBytes pieces (a multiple of ALIGN, so every cut is 16-byte
 * aligned).
 */
export function planShards(
  tensors: TensorEntry[],
  imageBytes: number,
  maxBytes: number,
  stageOf: (name: string) => number = () => 0,
) {
  if (maxBytes < ALIGN || maxBytes % ALIGN)
    throw new Error(`max shard bytes ${maxBytes} must be a positive multiple of ${ALIGN}`);
  // A tensor's range runs to the next tensor's offset, so alignment padding is covered.
  const ends = tensors.map((_, i) => (i + 1 < tensors.length ? tensors[i + 1].offset : imageBytes));
  const ranges: { offset: number; bytes: number }[] = [];
  let cur: { start: number; end: number } | undefined;
  const flush = () => {
    if (cur) ranges.push({ offset: cur.start, bytes: cur.end - cur.start });
    cur = undefined;
  };
  const add = (start: number, end: number) => {
    if (cur && end - cur.start <= maxBytes) {
      cur.end = end;
    } else {
      flush();
      cur = { start, end };
    }
  };
  let stage = 0;
  for (let i = 0; i < tensors.length;) {
    let j = i;
    while (j < tensors.length && groupOf(tensors[j].name) === groupOf(tensors[i].name)) j++;
    if (stageOf(tensors[i].name) !== stage) flush();
    stage = stageOf(tensors[i].name);
    if (ends[j - 1] - tensors[i].offset <= maxBytes) add(tensors[i].offset, ends[j - 1]);
    else {
      flush();
      for (let k = i; k < j; k++)
        for (let s = tensors[k].offset; s < ends[k]; s += maxBytes)
          add(s, Math.min(s + maxBytes, ends[k]));
      flush();
    }
    i = j;
  }
  flush();
  return ranges;
}

export const shardFileName = (i: number) => `shard-${String(i).padStart(3, "0")}.bin`;

/** Takes the image as a stream of chunks, in order; writes shard-NNN.bin files and hashes them. */
export class ShardWriter {
  private pos = 0;
  private index = 0;
  private fd = -1;
  private hash: Hash | undefined;
  readonly entries: ShardEntry[] = [];

  constructor(
    private dir: string,
    private plan: { offset: number; bytes: number }[],
  ) {}

  /** Image byte offset of the next write. */
  get position(): number {
    return this.pos;
  }

  write(chunk: Uint8Array): void {
    let p = 0;
    while (p < chunk.length) {
      const shard = this.plan[this.index];
      if (!shard) throw new Error(`image overflow: ${chunk.length - p} bytes past the last shard`);
      if (this.fd < 0) {
        this.fd = fs.openSync(path.join(this.dir, shardFileName(this.index)), "w");
        this.hash = createHash("sha256");
      }
      const n = Math.min(chunk.length - p, shard.offset + shard.bytes - this.pos);
      const piece = chunk.subarray(p, p + n);
      for (let w = 0; w < n;) w += fs.writeSync(this.fd, piece, w, n - w);
      this.hash!.update(piece);
      this.pos += n;
      p += n;
      if (this.pos === shard.offset + shard.bytes) this.closeShard();
    }
  }

  /** Zero bytes up to image offset `to` (alignment padding). */
  padTo(to: number): void {
    if (to < this.pos) throw new Error(`padTo(${to}) is behind position ${this.pos}`);
    if (to > this.pos) this.write(new Uint8Array(to - this.pos));
  }

  private closeShard(): void {
    const { offset, bytes } = this.plan[this.index];
    fs.closeSync(this.fd);
    this.fd = -1;
    this.entries.push({
      file: shardFileName(this.index),
      offset,
      bytes,
      sha256: this.hash!.digest("hex"),
    });
    this.index++;
  }

  /** Checks the whole plan was written; returns the manifest's shard list. */
  finish(): ShardEntry[] {
    if (this.index !== this.plan.length)
      throw new Error(
        `image incomplete: wrote ${this.pos} bytes, ${this.plan.length - this.index} shards open`,
      );
    return this.entries;
  }

  /** Closes an open file after a failure. */
  abort(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** Hex SHA-256 of a file, streamed in 4 MiB reads. */
export function sha256File(file: string): string {
  const hash = createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const buf = new Uint8Array(4 * 1024 * 1024);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;)
      hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest("hex");
}
