// The converter on the real tiny-shakespeare checkpoint: manifest vs config, every image value vs
// an independent read of model.safetensors, hashes, shard tiling and layer grouping, tensors
// spanning shards, inspect, the CLI's exit codes, and pack/unpack.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedTensors, type Manifest } from "../../src/model/manifest.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { main } from "../../weights/cli.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { inspectModel, verifyModelDir } from "../../weights/inspect.js";
import { packModelDir, unpackModel } from "../../weights/pack.js";
import { groupOf } from "../../weights/shard.js";
import { readImageF32 } from "./helpers/image.js";

const HF = fileURLToPath(new URL("../../weights/tiny-shakespeare", import.meta.url));
const hfConfig = JSON.parse(fs.readFileSync(path.join(HF, "config.json"), "utf8"));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "converter-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MiB = 1024 * 1024;

/** Independent of weights/safetensors.ts: the whole file (15 MB) and its header. */
function readSource(): Map<string, { shape: number[]; data: Float32Array }> {
  const buf = fs.readFileSync(path.join(HF, "model.safetensors"));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  const out = new Map();
  for (const [k, h] of Object.entries<any>(header)) {
    if (k === "__metadata__") continue;
    const bytes = buf.subarray(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]);
    out.set(k, { shape: h.shape, data: new Float32Array(new Uint8Array(bytes).buffer) });
  }
  return out;
}

/** A shard holds whole groups (embeddings, a layer, ln_f) or part of exactly one group. */
function expectShardsRespectLayers(m: Manifest) {
  for (const s of m.shards) {
    const inside = m.tensors.filter(
      (t) => t.offset < s.offset + s.bytes && t.offset + t.bytes > s.offset,
    );
    const groups = new Set(inside.map((t) => groupOf(t.name)));
    if (groups.size < 2) continue;
    for (const g of groups) {
      const all = m.tensors.filter((t) => groupOf(t.name) === g);
      const whole = all.every(
        (t) => t.offset >= s.offset && t.offset + t.bytes <= s.offset + s.bytes,
      );
      expect(whole, `${s.file} holds part of ${g} and other groups`).toBe(true);
    }
  }
}

const tensorView = (image: Float32Array, m: Manifest, name: string) => {
  const t = m.tensors.find((t) => t.name === name)!;
  return image.subarray(t.offset / 4, (t.offset + t.bytes) / 4);
};

let out: string;
let manifest: Manifest;
let image: Float32Array;
const src = readSource();

beforeAll(() => {
  out = path.join(tmp, "default");
  manifest = convertCheckpoint(HF, out).manifest;
  image = readImageF32(out, manifest);
});

describe("convert tiny-shakespeare", () => {
  it("Should write a manifest whose config and shapes match config.json", () => {
    const c = manifest.config;
    expect(manifest.name).toBe("tiny-shakespeare");
    expect(c).toEqual({
      n_vocab: hfConfig.vocab_size,
      n_ctx: hfConfig.n_positions,
      n_embd: hfConfig.n_embd,
      n_layer: hfConfig.n_layer,
      n_head: hfConfig.n_head,
      eps: hfConfig.layer_norm_epsilon,
      eot_token: 2047,
    });
    expect(manifest.tensors.map((t) => [t.name, t.shape])).toEqual(
      expectedTensors(c).map((t) => [t.name, t.shape]),
    );
    for (const t of manifest.tensors) {
      expect(t.offset % 16).toBe(0);
      expect(t.bytes).toBe(t.shape.reduce((a, b) => a * b, 4));
    }
  });

  it("Should store c_attn transposed: image[out][in] == source[in][out]", () => {
    const C = hfConfig.n_embd;
    const w = tensorView(image, manifest, "h.2.attn.c_attn.weight"); // [3C][C]
    const s = src.get("h.2.attn.c_attn.weight")!.data; // [C][3C]
    for (const [o, i] of [
      [0, 0],
      [5, 17],
      [3 * C - 1, C - 1],
      [700, 3],
      [256, 255],
    ])
      expect(w[o * C + i]).toBe(s[i * 3 * C + o]);
  });

  it("Should reproduce every source value (linear weights transposed, the rest as-is)", () => {
    for (const t of manifest.tensors) {
      const key = t.name === "wte" || t.name === "wpe" ? `${t.name}.weight` : t.name;
      const s = src.get(key)!.data;
      const w = tensorView(image, manifest, t.name);
      expect(w.length, t.name).toBe(s.length);
      if (/\.(c_attn|c_proj|c_fc)\.weight$/.test(t.name)) {
        const [nOut, nIn] = t.shape;
        for (let o = 0; o < nOut; o++)
          for (let i = 0; i < nIn; i++)
            if (w[o * nIn + i] !== s[i * nOut + o]) throw new Error(`${t.name}[${o}][${i}]`);
      } else
        expect(
          Buffer.compare(Buffer.from(w.buffer, w.byteOffset, w.byteLength), Buffer.from(s.buffer)),
        ).toBe(0);
    }
  });

  it("Should write hashes and sizes that verify, and shards that tile the image", () => {
    expect(verifyModelDir(out, manifest)).toEqual([]);
    expect(manifest.shards).toHaveLength(1); // 14.3 MiB < 16 MiB
    expect(manifest.shards[0]).toMatchObject({
      file: "shard-000.bin",
      offset: 0,
      bytes: manifest.image_bytes,
    });
  });

  it("Should write a tokenizer.bin the runtime tokenizer loads", () => {
    const tok = Tokenizer.fromBytes(fs.readFileSync(path.join(out, "tokenizer.bin")));
    expect(tok.vocabSize).toBe(2048);
    expect(tok.eot).toBe(2047);
    expect(tok.encode("ROMEO:").length).toBeGreaterThan(0);
  });

  // 1 MiB: only wte (2 MiB) is split. 512 KiB: c_attn, c_fc and mlp.c_proj too. 100000 bytes
  // (a multiple of 16, not of a row): cuts land mid-row in nearly every weight matrix.
  it.each([
    [MiB, ["wte"]],
    [512 * 1024, ["wte", "h.0.attn.c_attn.weight", "h.0.mlp.c_fc.weight", "h.0.mlp.c_proj.weight"]],
    [100_000, ["wte", "wpe", "h.0.attn.c_attn.weight", "h.0.attn.c_proj.weight"]],
  ])("Should cut %i-byte shards, splitting big tensors, with identical bytes", (max, split) => {
    const dir = path.join(tmp, `max-${max}`);
    const m = convertCheckpoint(HF, dir, { maxShardBytes: max, name: "tiny-small" }).manifest;
    expect(m.name).toBe("tiny-small");
    expect(verifyModelDir(dir, m)).toEqual([]);
    let end = 0;
    for (const s of m.shards) {
      expect(s.offset).toBe(end);
      expect(s.bytes).toBeLessThanOrEqual(max);
      expect(s.offset % 16).toBe(0);
      end += s.bytes;
    }
    expect(end).toBe(m.image_bytes);
    expectShardsRespectLayers(m);
    const straddling = m.tensors
      .filter((t) => m.shards.some((s) => t.offset < s.offset && s.offset < t.offset + t.bytes))
      .map((t) => t.name);
    expect(straddling).toEqual(expect.arrayContaining(split));
    if (max === MiB) expect(m.shards.slice(0, 2).map((s) => s.bytes)).toEqual([MiB, MiB]);
    expect(
      Buffer.compare(Buffer.from(readImageF32(dir, m).buffer), Buffer.from(image.buffer)),
    ).toBe(0);
  });

  it("Should start shards at layer boundaries when whole layers fit", () => {
    const dir = path.join(tmp, "4mib");
    const m = convertCheckpoint(HF, dir, { maxShardBytes: 4 * MiB }).manifest;
    const at = (name: string) => m.tensors.find((t) => t.name === name)!.offset;
    // embeddings 2.25 MiB, each layer ~3 MiB, ln_f rides with the last layer
    expectShardsRespectLayers(m);
    expect(m.shards.map((s) => s.offset)).toEqual(
      [0, 1, 2, 3, 4].map((l) => (l ? at(`h.${l - 1}.ln_1.weight`) : 0)),
    );
  });
});

describe("inspect", () => {
  it("Should print tensors, shards and a memory plan, and verify the files", () => {
    const lines: string[] = [];
    expect(inspectModel(out, (s) => lines.push(s))).toBe(true);
    const text = lines.join("\n");
    expect(text).toMatch(/h\.0\.attn\.c_attn\.weight\s+\[768,256\]\s+f32/);
    expect(text).toMatch(/f32: 14997504 bytes/);
    expect(text).toMatch(/KV 2\.00 MiB/); // 2 · 4 layers · 256 positions · 256 · 4 bytes
    expect(text).toMatch(/all files verified/);
  });

  it("Should report a corrupted or truncated shard and exit 1", async () => {
    const dir = path.join(tmp, "corrupt");
    const m = convertCheckpoint(HF, dir, { maxShardBytes: 4 * MiB }).manifest;
    const f0 = path.join(dir, m.shards[0].file);
    const bytes = fs.readFileSync(f0);
    bytes[1000] ^= 0xff;
    fs.writeFileSync(f0, bytes);
    fs.truncateSync(path.join(dir, m.shards[2].file), 100);
    const problems = verifyModelDir(dir, m);
    expect(problems).toEqual([
      "shard-000.bin SHA-256 mismatch",
      `shard-002.bin has 100 bytes, manifest says ${m.shards[2].bytes}`,
    ]);
    expect(await main(["inspect", dir], () => {})).toBe(1);
  });
});

describe("cli", () => {
  const quiet = () => {};
  it("Should exit 2 on usage errors", async () => {
    expect(await main([], quiet)).toBe(2);
    expect(await main(["frobnicate"], quiet)).toBe(2);
    expect(await main(["convert", HF], quiet)).toBe(2);
    expect(await main(["convert", HF, tmp, "--bogus"], quiet)).toBe(2);
    expect(await main(["inspect", out, "--name", "x"], quiet)).toBe(2);
    expect(await main(["convert", HF, tmp, "--max-shard-bytes", "1000"], quiet)).toBe(2);
    expect(await main(["upload", out, "--local", "--remote"], quiet)).toBe(2);
  });

  it("Should exit 1 when the command fails, and 0 on success", async () => {
    expect(await main(["convert", path.join(tmp, "nope"), path.join(tmp, "x")], quiet)).toBe(1);
    expect(await main(["inspect", tmp], quiet)).toBe(1); // no manifest.json
    const dir = path.join(tmp, "cli");
    expect(
      await main(["convert", HF, dir, "--name", "cli-test", "--max-shard-bytes", "2MiB"], quiet),
    ).toBe(0);
    const m: Manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
    expect(m.name).toBe("cli-test");
    expect(Math.max(...m.shards.map((s) => s.bytes))).toBeLessThanOrEqual(2 * MiB);
    expect(await main(["help"], quiet)).toBe(0);
  });
});

describe("pack", () => {
  it("Should round-trip a converted model through one bundle", async () => {
    const bundle = packModelDir(out);
    const { name, files } = unpackModel(bundle);
    expect(name).toBe("tiny-shakespeare");
    expect(files.map((f) => f.file)).toEqual(["tokenizer.bin", "shard-000.bin", "manifest.json"]);
    for (const f of files) {
      expect(
        Buffer.compare(Buffer.from(f.bytes), fs.readFileSync(path.join(out, f.file))),
        f.file,
      ).toBe(0);
      expect(f.bytes.byteOffset % 16).toBe(0);
    }
    const file = path.join(tmp, "bundle", "tiny.bin");
    expect(await main(["pack", out, file], () => {})).toBe(0);
    expect(Buffer.compare(fs.readFileSync(file), Buffer.from(bundle))).toBe(0);
  });

  it("Should refuse bytes that are not a bundle", () => {
    expect(() => unpackModel(new Uint8Array([1, 2]))).toThrow(/not a gpt-edge model bundle/);
    expect(() => unpackModel(new Uint8Array(64))).toThrow(/header is not JSON/);
  });

  it("Should keep unpack.ts free of Node APIs (it runs in workerd)", () => {
    const source = fs.readFileSync(
      fileURLToPath(new URL("../../weights/unpack.ts", import.meta.url)),
      "utf8",
    );
    expect(source).not.toMatch(/from "node:|require\(|Buffer\.|process\./);
  });
});
