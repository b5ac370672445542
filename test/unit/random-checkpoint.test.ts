// `weights random` (weights/random.ts) on small widths with the real vocabulary: a BF16
// checkpoint in Hugging Face's sharded layout is its F32 twin rounded to BF16, file by file as
// HF shards, and converts to the same manifest and the twin's values rounded (q4 too, staged).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../src/model/manifest.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { bf16, writeRandomCheckpoint, type RandomOptions } from "../../weights/random.js";
import { openCheckpoint, readHeader } from "../../weights/safetensors.js";
import { main } from "../../weights/cli.js";
import { readImage, readImageF32 } from "./helpers/image.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "random-ck-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** gpt2's vocabulary and layer list at C 32 (q4 blocks are 32 wide): wte 50257 x 32, 3 layers. */
const SMALL: RandomOptions = {
  shape: "gpt2",
  layers: 3,
  seed: 7,
  dims: { n_embd: 32, n_head: 2, n_ctx: 32 },
};
const SHARD = 30_000; // bytes: wte (3.2 MB in BF16) alone, then a layer (25 KB) or so a file

const write = (name: string, opts: Partial<RandomOptions> = {}) => {
  const dir = path.join(tmp, name);
  writeRandomCheckpoint(dir, { ...SMALL, ...opts });
  return dir;
};
const f32 = write("f32");
const bf = write("bf16", { dtype: "BF16", maxShardBytes: SHARD });

/** The manifest without what rightly differs between twins: provenance and shard hashes. */
const comparable = (m: Manifest) => ({
  ...m,
  source: undefined,
  shards: m.shards.map((s) => ({ ...s, sha256: undefined })),
});

describe("weights random --dtype BF16 --max-shard-mb", () => {
  it("Should write Hugging Face's sharded layout: whole tensors, files within the limit, an index that adds up", () => {
    const files = fs.readdirSync(bf).filter((f) => f.endsWith(".safetensors"));
    expect(files.length).toBeGreaterThanOrEqual(3);
    files.forEach((f, i) =>
      expect(f).toBe(`model-${String(i + 1).padStart(5, "0")}-of-0000${files.length}.safetensors`),
    );
    expect(fs.existsSync(path.join(bf, "model.safetensors"))).toBe(false);
    const index = JSON.parse(
      fs.readFileSync(path.join(bf, "model.safetensors.index.json"), "utf8"),
    );
    const twin = readHeader(path.join(f32, "model.safetensors"));
    expect(Object.keys(index.weight_map)).toEqual(twin.map((t) => t.key));
    expect(index.metadata.total_size).toBe(twin.reduce((n, t) => n + t.bytes / 2, 0));
    for (const f of files) {
      const tensors = readHeader(path.join(bf, f));
      for (const t of tensors) expect([t.dtype, index.weight_map[t.key]]).toEqual(["BF16", f]);
      const bytes = tensors.reduce((n, t) => n + t.bytes, 0);
      // over the limit only as a file holding one tensor larger than it (wte here)
      if (bytes > SHARD) expect(tensors.length).toBe(1);
    }
    expect(readHeader(path.join(bf, files[0]))[0].key).toBe("wte.weight");
    // HF's rule: a file ends only when the next tensor would take it past the limit
    for (let i = 1; i < files.length; i++) {
      const prev = readHeader(path.join(bf, files[i - 1])).reduce((n, t) => n + t.bytes, 0);
      expect(prev + readHeader(path.join(bf, files[i]))[0].bytes).toBeGreaterThan(SHARD);
    }
    expect(openCheckpoint(bf).size).toBe(twin.length);
  });

  it("Should hold every F32 twin's value rounded to nearest even BF16", () => {
    const wte = (dir: string, file: string) => {
      const t = readHeader(path.join(dir, file))[0];
      const buf = fs.readFileSync(t.file).subarray(t.start, t.start + t.bytes);
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    };
    const full = new Uint32Array(wte(f32, "model.safetensors"));
    const first = fs.readdirSync(bf).find((f) => f.startsWith("model-00001-of-"))!;
    const half = new Uint16Array(wte(bf, first));
    expect(half.length).toBe(50257 * 32);
    let rounded = 0;
    for (let i = 0; i < full.length; i++) {
      if (half[i] !== bf16(full[i])) throw new Error(`wte[${i}]: ${half[i]} != bf16(${full[i]})`);
      if (half[i] !== full[i] >>> 16) rounded++;
    }
    expect(rounded).toBeGreaterThan(full.length / 4); // rounded, not truncated
    expect([bf16(0x3f808000), bf16(0x3f818000), bf16(0x3f80c000)]).toEqual([
      0x3f80, 0x3f82, 0x3f81,
    ]); // ties to even (down, up), above a tie: up
  });

  it("Should convert to its F32 twin's manifest, with the twin's values rounded to BF16", () => {
    const a = convertCheckpoint(f32, path.join(tmp, "out-f32"), { name: "r" }).manifest;
    const b = convertCheckpoint(bf, path.join(tmp, "out-bf16"), { name: "r" }).manifest;
    expect(comparable(b)).toEqual(comparable(a));
    expect([a.source?.source_dtype, b.source?.source_dtype]).toEqual(["F32", "BF16"]);
    const x = readImageF32(path.join(tmp, "out-f32"), a);
    const y = readImageF32(path.join(tmp, "out-bf16"), b);
    const xb = new Uint32Array(x.buffer);
    const yb = new Uint32Array(y.buffer);
    for (let i = 0; i < xb.length; i++)
      if (yb[i] !== (bf16(xb[i]) << 16) >>> 0)
        throw new Error(`image float ${i}: ${y[i]} vs ${x[i]}`);
  });

  it("Should make the same q4 stages from either twin, and the same q4 image as the rounded twin", async () => {
    // The F32 twin rounded to BF16 and stored back as F32: the values q4 must quantize alike.
    const rounded = path.join(tmp, "f32-rounded");
    fs.cpSync(f32, rounded, { recursive: true });
    const t = readHeader(path.join(rounded, "model.safetensors"));
    const fd = fs.openSync(path.join(rounded, "model.safetensors"), "r+");
    for (const { start, bytes } of t) {
      const buf = Buffer.alloc(bytes);
      fs.readSync(fd, buf, 0, bytes, start);
      const w = new Uint32Array(buf.buffer, buf.byteOffset, bytes / 4);
      for (let i = 0; i < w.length; i++) w[i] = bf16(w[i]) << 16;
      fs.writeSync(fd, buf, 0, bytes, start);
    }
    fs.closeSync(fd);
    const stages = { count: 3 };
    const q = (dir: string, out: string) =>
      convertCheckpoint(dir, path.join(tmp, out), { name: "r", dtype: "q4", stages }).manifest;
    const a = q(rounded, "q4-rounded");
    const b = q(bf, "q4-bf16");
    expect(b.stages!.list.length).toBe(3);
    expect(comparable(b)).toEqual(comparable(a));
    expect(readImage(path.join(tmp, "q4-bf16"), b)).toEqual(
      readImage(path.join(tmp, "q4-rounded"), a),
    );
  });

  it("Should take --dtype and --max-shard-mb on the command line, and refuse bad ones (exit 2)", async () => {
    const err = console.error;
    const errors: string[] = [];
    console.error = (s: string) => void errors.push(s);
    try {
      const out = path.join(tmp, "cli");
      for (const [args, why] of [
        [["--dtype", "F16"], /--dtype F16: F32 or BF16/],
        [["--max-shard-mb", "0"], /--max-shard-mb 0: a positive number/],
        [["--max-shard-mb", "lots"], /--max-shard-mb lots/],
      ] as const) {
        expect(await main(["random", out, "--shape", "gpt2", ...args], () => {})).toBe(2);
        expect(errors.join("\n")).toMatch(why);
      }
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      console.error = err;
    }
  });
});
