// Safetensors reading: headers, F32/F16/BF16 widening (exact, incl. subnormals and inf), partial
// reads, HF's sharded index, and malformed files.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  encodeSafetensors,
  f16ToF32,
  openCheckpoint,
  readF32,
  readHeader,
  type SourceTensor,
  type TensorToWrite,
} from "../../weights/safetensors.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "safetensors-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const u16 = (xs: number[]) => new Uint8Array(new Uint16Array(xs).buffer);
const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

function readAll(t: SourceTensor, first = 0, count = t.shape.reduce((a, b) => a * b, 1)) {
  const fd = fs.openSync(t.file, "r");
  try {
    return Array.from(readF32(fd, t, first, count));
  } finally {
    fs.closeSync(fd);
  }
}

function writeFile(name: string, bytes: Uint8Array) {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** A tensor of `values` stored as `dtype` (F32 floats; F16, BF16 16-bit patterns), shape [n]. */
function tensor(
  name: string,
  dtype: "F32" | "F16" | "BF16",
  values: number[],
  shape = [values.length],
): TensorToWrite {
  return { name, dtype, shape, data: dtype === "F32" ? f32(values) : u16(values) };
}

// [half bits, exact f32 value]
const F16_CASES: [number, number][] = [
  [0x0000, 0],
  [0x8000, -0],
  [0x0001, 2 ** -24], // smallest subnormal
  [0x03ff, 1023 * 2 ** -24], // largest subnormal
  [0x8200, -(2 ** -15)], // negative subnormal
  [0x0400, 2 ** -14], // smallest normal
  [0x3c00, 1],
  [0xc000, -2],
  [0x3555, 0.333251953125],
  [0x7bff, 65504], // largest finite half
  [0x7c00, Infinity],
  [0xfc00, -Infinity],
];

describe("safetensors", () => {
  it("Should read F32 tensors exactly and honour first/count", () => {
    const a32 = tensor("a", "F32", [1, -2.5, 3e-40, 4, 5, 6], [2, 3]);
    const tensors = [a32, tensor("b", "F32", [7])];
    const file = writeFile("f32.safetensors", encodeSafetensors(tensors, { format: "pt" }));
    const [a, b] = readHeader(file);
    expect(a).toMatchObject({ key: "a", dtype: "F32", shape: [2, 3], bytes: 24 });
    expect(readAll(a)).toEqual([1, -2.5, Math.fround(3e-40), 4, 5, 6]);
    expect(readAll(a, 2, 3)).toEqual([Math.fround(3e-40), 4, 5]);
    expect(readAll(b)).toEqual([7]);
  });

  it("Should widen F16 exactly, including subnormals, -0 and infinities", () => {
    const halves = F16_CASES.map((c) => c[0]);
    const tensors = [tensor("h", "F16", halves), tensor("nan", "F16", [0x7e00, 0xfc01])];
    const file = writeFile("f16.safetensors", encodeSafetensors(tensors));
    const [h, nan] = readHeader(file);
    const got = readAll(h);
    F16_CASES.forEach(([bits, want], i) => {
      expect(Object.is(got[i], want), `half 0x${bits.toString(16)}`).toBe(true);
      expect(f16ToF32(bits)).toBe(want);
    });
    expect(readAll(nan).every(Number.isNaN)).toBe(true);
  });

  it("Should widen BF16 by shifting into the top half of an f32", () => {
    const bits = [0x3f80, 0xc040, 0x4049, 0x0001, 0x7f80, 0xff80];
    const file = writeFile("bf16.safetensors", encodeSafetensors([tensor("b", "BF16", bits)]));
    const [b] = readHeader(file);
    expect(readAll(b)).toEqual([1, -3, 3.140625, 2 ** -133, Infinity, -Infinity]);
  });

  it("Should open a sharded index spanning two files", () => {
    const dir = fs.mkdtempSync(path.join(tmp, "sharded-"));
    const one = encodeSafetensors([tensor("x", "F32", [1, 2])]);
    const two = encodeSafetensors([tensor("y", "F16", [0x3c00])]);
    fs.writeFileSync(path.join(dir, "model-00001-of-00002.safetensors"), one);
    fs.writeFileSync(path.join(dir, "model-00002-of-00002.safetensors"), two);
    const weight_map = {
      x: "model-00001-of-00002.safetensors",
      y: "model-00002-of-00002.safetensors",
    };
    fs.writeFileSync(
      path.join(dir, "model.safetensors.index.json"),
      JSON.stringify({ metadata: {}, weight_map }),
    );
    const tensors = openCheckpoint(dir);
    expect([...tensors.keys()].sort()).toEqual(["x", "y"]);
    expect(readAll(tensors.get("x")!)).toEqual([1, 2]);
    expect(readAll(tensors.get("y")!)).toEqual([1]);
    expect(path.basename(tensors.get("y")!.file)).toBe("model-00002-of-00002.safetensors");
  });

  it("Should refuse an index that points at a file without the tensor", () => {
    const dir = fs.mkdtempSync(path.join(tmp, "badindex-"));
    fs.writeFileSync(path.join(dir, "a.safetensors"), encodeSafetensors([tensor("x", "F32", [1])]));
    fs.writeFileSync(
      path.join(dir, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: { x: "a.safetensors", z: "a.safetensors" } }),
    );
    expect(() => openCheckpoint(dir)).toThrow(/maps z to a\.safetensors/);
  });

  it("Should say what is missing when a directory has no safetensors", () => {
    const dir = fs.mkdtempSync(path.join(tmp, "empty-"));
    expect(() => openCheckpoint(dir)).toThrow(
      /neither model\.safetensors nor model\.safetensors\.index\.json/,
    );
  });

  it("Should reject data_offsets that disagree with dtype and shape, naming the tensor", () => {
    const good = encodeSafetensors([tensor("w", "F32", [1, 2, 3])]);
    const text = new TextDecoder().decode(good);
    const broken = new TextEncoder().encode(text.replace('"shape":[3]', '"shape":[4]'));
    expect(() => readHeader(writeFile("broken.safetensors", broken))).toThrow(
      /tensor w: 12 bytes for F32 \[4\]/,
    );
    expect(() => readHeader(writeFile("short.safetensors", new Uint8Array(4)))).toThrow(
      /shorter than 8 bytes/,
    );
  });

  it("Should name a header entry that is not a tensor, or whose offsets are not 0 <= begin <= end", () => {
    /** A file of 16 data bytes whose header is `header` (padded to 8 bytes, as the format does). */
    const file = (name: string, header: object) => {
      const json = new TextEncoder().encode(JSON.stringify(header).padEnd(64, " "));
      const len = new Uint8Array(8);
      new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
      return writeFile(name, new Uint8Array([...len, ...json, ...new Uint8Array(16)]));
    };
    const w = { dtype: "F32", shape: [4], data_offsets: [0, 16] };
    expect(readHeader(file("ok.safetensors", { w }))).toHaveLength(1);
    for (const [name, entry] of [
      ["null", null],
      ["number", 3],
      ["negative", { ...w, data_offsets: [-16, 0] }],
      ["fraction", { ...w, data_offsets: [0.5, 16.5] }],
      ["reversed", { ...w, data_offsets: [16, 0] }],
      ["past-end", { ...w, data_offsets: [16, 32] }],
    ] as const)
      expect(() => readHeader(file(`${name}.safetensors`, { w, x: entry }))).toThrow(
        /not a valid safetensors file: tensor x has bad shape or data_offsets/,
      );
  });

  it("Should say a zip is a PyTorch checkpoint, and name an index's missing shard", () => {
    const zip = new Uint8Array(64);
    zip.set([0x50, 0x4b, 0x03, 0x04]);
    expect(() => readHeader(writeFile("zip.safetensors", zip))).toThrow(
      /is a zip archive, as PyTorch's torch.save writes/,
    );
    const dir = fs.mkdtempSync(path.join(tmp, "index-"));
    const weight_map = {
      w: "model-00001-of-00002.safetensors",
      v: "model-00002-of-00002.safetensors",
    };
    fs.writeFileSync(
      path.join(dir, "model.safetensors.index.json"),
      JSON.stringify({ weight_map }),
    );
    fs.writeFileSync(
      path.join(dir, weight_map.w),
      encodeSafetensors([tensor("w", "F32", [1, 2, 3])]),
    );
    expect(() => openCheckpoint(dir)).toThrow(
      /names model-00002-of-00002\.safetensors, which is not in .*: is the download complete\?/,
    );
  });

  it("Should refuse to read dtypes it cannot widen", () => {
    const file = writeFile(
      "i8.safetensors",
      encodeSafetensors([{ name: "q", dtype: "I8", shape: [2], data: new Uint8Array(2) }]),
    );
    const [q] = readHeader(file);
    expect(() => readAll(q)).toThrow(/tensor q has dtype I8/);
  });
});
