// A minimal safetensors reader (F32 only, widened to float64) and writer, for the test oracle.
// Written from the format description, independent of the project's converter:
// file = u64 LE header length N, N bytes of JSON {name: {dtype, shape, data_offsets}}, data.
import { readFileSync, writeFileSync } from "node:fs";

export interface Tensor64 {
  shape: number[];
  data: Float64Array; // row-major, shape.reduce(*) values
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Reads every tensor of a safetensors file as float64. Throws on any dtype other than F32. */
export function readSafetensorsF32(path: string): Map<string, Tensor64> {
  const file = readFileSync(path);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (8 + headerLen > file.byteLength) {
    throw new Error(
      `${path}: header length ${headerLen} runs past the end of the file (${file.byteLength} bytes)` +
        ` — not a safetensors file, or truncated (a Git LFS pointer? run git lfs pull)`,
    );
  }
  const header = JSON.parse(file.subarray(8, 8 + headerLen).toString("utf8")) as Record<
    string,
    HeaderEntry | Record<string, string>
  >;
  const dataStart = 8 + headerLen;
  const out = new Map<string, Tensor64>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const e = raw as HeaderEntry;
    if (e.dtype !== "F32") {
      throw new Error(
        `${path}: tensor ${name} is ${e.dtype}; the reference reads F32 only` +
          ` — re-save the checkpoint in float32 (model.float().save_pretrained(...))`,
      );
    }
    const [begin, end] = e.data_offsets;
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * 4 || dataStart + end > file.byteLength) {
      throw new Error(`${path}: tensor ${name} has ${end - begin} bytes for shape [${e.shape}]`);
    }
    // DataView rather than a Float32Array view: the data offset need not be 4-byte aligned.
    const data = new Float64Array(count);
    for (let i = 0, p = dataStart + begin; i < count; i++, p += 4)
      data[i] = view.getFloat32(p, true);
    out.set(name, { shape: e.shape, data });
  }
  return out;
}

/** Writes F32 tensors as a safetensors file (for synthetic test models). */
export function writeSafetensorsF32(
  path: string,
  tensors: Record<string, { shape: number[]; data: ArrayLike<number> }>,
): void {
  const header: Record<string, HeaderEntry> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = {
      dtype: "F32",
      shape: t.shape,
      data_offsets: [offset, offset + t.data.length * 4],
    };
    offset += t.data.length * 4;
  }
  const json = Buffer.from(JSON.stringify(header), "utf8");
  // Pad with spaces so the data starts 8-byte aligned, as HF's writer does.
  const headerBytes = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, " ")]);
  const file = Buffer.alloc(8 + headerBytes.length + offset);
  file.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(file, 8);
  let p = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    for (let i = 0; i < t.data.length; i++, p += 4) file.writeFloatLE(t.data[i], p);
  }
  writeFileSync(path, file);
}
