// Safetensors reader for the converter: parses headers (one file or HF's sharded
// model.safetensors.index.json) and reads tensor slices with positioned reads, widened to f32.
// Never reads a whole file: a gpt2-xl checkpoint is 6 GB. Also a small writer, for tests and tools.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** Source dtypes we can widen to f32, with their element sizes in bytes. */
export const SOURCE_DTYPES = { F32: 4, F16: 2, BF16: 2 } as const;
export type SourceDType = keyof typeof SOURCE_DTYPES;

/** Typed-array views below reinterpret file bytes directly, which is only right on LE hosts. */
if (os.endianness() !== "LE")
  throw new Error("weights/safetensors.ts assumes a little-endian host");

export interface SourceTensor {
  /** Key exactly as in the file (may carry a `transformer.` prefix). */
  key: string;
  dtype: string;
  shape: number[];
  file: string;
  /** Absolute byte offset of the tensor's data in `file`. */
  start: number;
  bytes: number;
}

/** u64 header length, then that many bytes of JSON. 100 MB is far above any real header. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Parses one file's header; checks every tensor's byte range against its dtype, shape and file. */
export function readHeader(file: string): SourceTensor[] {
  const fd = fs.openSync(file, "r");
  try {
    const size = fs.fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, lenBuf, 0, 8, 0) !== 8) throw bad(file, "shorter than 8 bytes");
    // PyTorch's torch.save writes a zip (PK\x03\x04): the safetensors name on a .bin checkpoint
    if (lenBuf.readUInt32LE(0) === 0x04034b50)
      throw bad(
        file,
        "it is a zip archive, as PyTorch's torch.save writes (a pytorch_model.bin?); save the " +
          "model with safe_serialization=True, or convert it with Hugging Face's safetensors tools",
      );
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (n <= 0 || n > MAX_HEADER_BYTES || 8 + n > size) throw bad(file, `header length ${n}`);
    const json = Buffer.alloc(n);
    fs.readSync(fd, json, 0, n, 8);
    let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    try {
      header = JSON.parse(json.toString("utf8"));
    } catch (e) {
      throw bad(file, `header is not JSON (${(e as Error).message})`);
    }
    const dataStart = 8 + n;
    const out: SourceTensor[] = [];
    for (const [key, h] of Object.entries(header)) {
      if (key === "__metadata__") continue;
      const at = offsetsOf(h);
      if (!Array.isArray(h?.shape) || !at || dataStart + at[1] > size)
        throw bad(file, `tensor ${key} has bad shape or data_offsets ${JSON.stringify(h)}`);
      const [b, e] = at;
      const esize = SOURCE_DTYPES[h.dtype as SourceDType];
      if (esize && e - b !== numel(h.shape) * esize)
        throw bad(file, `tensor ${key}: ${e - b} bytes for ${h.dtype} ${JSON.stringify(h.shape)}`);
      out.push({ key, dtype: h.dtype, shape: h.shape, file, start: dataStart + b, bytes: e - b });
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** A header entry's [begin, end): whole numbers, 0 <= begin <= end; null for anything else. */
function offsetsOf(h: unknown): [number, number] | null {
  const o =
    h !== null && typeof h === "object" ? (h as { data_offsets?: unknown }).data_offsets : null;
  if (!Array.isArray(o) || o.length !== 2) return null;
  const [b, e] = o;
  return Number.isSafeInteger(b) && Number.isSafeInteger(e) && 0 <= b && b <= e ? [b, e] : null;
}

function bad(file: string, why: string): Error {
  return new Error(`${file} is not a valid safetensors file: ${why}`);
}

/** All tensors of a checkpoint directory: `model.safetensors`, or the files of its sharded index. */
export function openCheckpoint(dir: string): Map<string, SourceTensor> {
  const single = path.join(dir, "model.safetensors");
  const index = path.join(dir, "model.safetensors.index.json");
  const tensors = new Map<string, SourceTensor>();
  if (fs.existsSync(single)) {
    for (const t of readHeader(single)) tensors.set(t.key, t);
    return tensors;
  }
  if (!fs.existsSync(index)) {
    const hint = fs.existsSync(path.join(dir, "pytorch_model.bin"))
      ? " Only pytorch_model.bin is there: re-save with safetensors (save_pretrained(dir, safe_serialization=True))."
      : "";
    throw new Error(
      `${dir} has neither model.safetensors nor model.safetensors.index.json.${hint}`,
    );
  }
  const weightMap: Record<string, string> = readJsonFile(index).weight_map;
  if (!weightMap) throw new Error(`${index} has no weight_map`);
  for (const file of new Set(Object.values(weightMap))) {
    if (!fs.existsSync(path.join(dir, file)))
      throw new Error(`${index} names ${file}, which is not in ${dir}: is the download complete?`);
    for (const t of readHeader(path.join(dir, file))) tensors.set(t.key, t);
  }
  for (const [key, file] of Object.entries(weightMap)) {
    const t = tensors.get(key);
    if (!t || path.basename(t.file) !== file)
      throw new Error(`${index} maps ${key} to ${file}, but ${file} does not contain it`);
  }
  return tensors;
}

// f16 -> f32 through a 65536-entry table (256 KiB): exact for every half, incl. subnormals,
// ±0, ±inf and NaN, and a single indexed load per element.
let F16_TABLE: Float32Array | undefined;
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // subnormal: mant · 2^-14 / 2^10
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15); // bias 15
}
function f16Table(): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) F16_TABLE[h] = f16ToF32(h);
  }
  return F16_TABLE;
}

/** Reads `count` elements starting at element `first` of `t`, widened to f32. */
export function readF32(fd: number, t: SourceTensor, first: number, count: number): Float32Array {
  const esize = SOURCE_DTYPES[t.dtype as SourceDType];
  if (!esize) throw new Error(`tensor ${t.key} has dtype ${t.dtype}; only F32, F16, BF16 are read`);
  if (first < 0 || first + count > numel(t.shape))
    throw new Error(`read past the end of tensor ${t.key}`);
  const raw = new Uint8Array(count * esize);
  readFully(fd, raw, t.start + first * esize, t.file);
  if (t.dtype === "F32") return new Float32Array(raw.buffer);
  const half = new Uint16Array(raw.buffer);
  const out = new Float32Array(count);
  if (t.dtype === "F16") {
    const table = f16Table();
    for (let i = 0; i < count; i++) out[i] = table[half[i]];
  } else {
    // bf16 is the top half of an f32: shift the bits back into place.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = half[i] << 16;
  }
  return out;
}

function readFully(fd: number, buf: Uint8Array, pos: number, file: string): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, buf.length - done, pos + done);
    if (n === 0) throw new Error(`${file}: unexpected end of file at byte ${pos + done}`);
    done += n;
  }
}

/** Keeps one fd per source file open while converting. */
export class FileHandles {
  private fds = new Map<string, number>();
  fd(file: string): number {
    let fd = this.fds.get(file);
    if (fd === undefined) this.fds.set(file, (fd = fs.openSync(file, "r")));
    return fd;
  }
  closeAll(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}

export interface TensorToWrite {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** Serializes tensors into one safetensors file image (data in the given order, 8-byte padded header). */
export function encodeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>) {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.length] };
    off += t.data.length;
  }
  const json = JSON.stringify(header);
  const jsonBytes = new TextEncoder().encode(json).length;
  // The spec pads the header with spaces so the data starts 8-byte aligned.
  const head = new TextEncoder().encode(json + " ".repeat((8 - (jsonBytes % 8)) % 8));
  const out = new Uint8Array(8 + head.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const t of tensors) (out.set(t.data, p), (p += t.data.length));
  return out;
}

/** A JSON file's contents; a file that is not JSON (cut short, say) is named in the error. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function readJsonFile(file: string): any {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw new Error(`${file} is not valid JSON (${e.message}): is the download complete?`);
  }
}
