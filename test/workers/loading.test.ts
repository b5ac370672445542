// Loading weights inside workerd from a real local R2 binding and the Cache API: a missing,
// truncated or corrupted shard fails the load cleanly (503 from the API) and a later request
// succeeds once the object is fixed; a plan over budget is refused (503) before any shard is
// fetched; verified shards (only those) are cached, and a bad cached copy falls back to R2; a
// request for an unknown or malformed model id is a 404 on every route and unloads nothing.

import { describe, expect, it } from "vitest";
import kernels from "../../build/kernels.wasm";
import packed from "../../build/test/tiny-shakespeare.bin";
import {
  loadModel,
  ModelLoadError,
  sha256Hex,
  shardCacheUrl,
  type ShardCache,
} from "../../src/model/loader.js";
import type { Manifest } from "../../src/model/manifest.js";
import { ModelTooLargeError } from "../../src/model/plan.js";
import { unpackModel } from "../../weights/unpack.js";
import { bucket, MODEL, post, seedModel, worker } from "./seed.js";

const cache = () => (globalThis as unknown as { caches: { default: ShardCache } }).caches.default;
const BUDGET = 112 * 1024 * 1024;

/**
 * Seeds models/<name>/ with the default model, its one shard re-cut into `pieces` shards (so
 * loads are parallel), manifest last. `damage` may replace a shard's bytes (null: leave it out).
 */
async function seed(
  name: string,
  pieces = 4,
  damage?: (i: number, b: Uint8Array) => Uint8Array | null,
) {
  const files = new Map(unpackModel(new Uint8Array(packed)).files.map((f) => [f.file, f.bytes]));
  const m: Manifest = JSON.parse(new TextDecoder().decode(files.get("manifest.json")));
  const image = files.get(m.shards[0].file)!;
  const step = Math.ceil(image.length / pieces / 16) * 16;
  const shards = [];
  for (let i = 0, off = 0; off < image.length; i++, off += step) {
    const bytes = image.subarray(off, Math.min(off + step, image.length));
    shards.push({
      file: `part-${i}.bin`,
      offset: off,
      bytes: bytes.length,
      sha256: await sha256Hex(bytes),
      data: bytes,
    });
  }
  const manifest = { ...m, name, shards: shards.map(({ data, ...s }) => s) };
  await bucket().put(`models/${name}/${m.tokenizer.file}`, files.get(m.tokenizer.file)!);
  for (const [i, s] of shards.entries()) {
    const bytes = damage ? damage(i, s.data) : s.data;
    if (bytes) await bucket().put(`models/${name}/${s.file}`, bytes);
  }
  await bucket().put(`models/${name}/manifest.json`, JSON.stringify(manifest));
  return { manifest, shards };
}

const flipByte = (b: Uint8Array) => {
  const c = b.slice();
  c[1000] ^= 0xff;
  return c;
};

const complete = (model: string) =>
  post("/v1/completions", { model, prompt: "ROMEO:", max_tokens: 3, temperature: 0 });

const load = (name: string) =>
  loadModel(bucket(), name, { kernels, budgetBytes: BUDGET, slots: 1 });

describe("Loading from R2 through the API", () => {
  it("Should answer 503 for a corrupted shard, again on retry, and 200 once it is fixed", async () => {
    const { shards } = await seed("ts-corrupt", 4, (i, b) => (i === 2 ? flipByte(b) : b));
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await complete("ts-corrupt");
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe("model_load_failed");
      expect(r.json.error.message).toMatch(
        /models\/ts-corrupt\/part-2\.bin fails its SHA-256 check; re-upload it/,
      );
    }
    await bucket().put("models/ts-corrupt/part-2.bin", shards[2].data);
    const ok = await complete("ts-corrupt");
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(ok.json.choices[0].text.length).toBeGreaterThan(0);
  });

  it("Should answer 503 naming a truncated or a missing shard", async () => {
    await seed("ts-truncated", 3, (i, b) => (i === 1 ? b.subarray(0, 100) : b));
    const t = await complete("ts-truncated");
    expect(t.status).toBe(503);
    expect(t.json.error.message).toMatch(
      /part-1\.bin has 100 bytes, the manifest says \d+; re-upload it/,
    );
    await seed("ts-missing", 3, (i, b) => (i === 0 ? null : b));
    const m = await complete("ts-missing");
    expect(m.status).toBe(503);
    expect(m.json.error.message).toMatch(/object models\/ts-missing\/part-0\.bin is missing/);
  });

  it("Should refuse a model over the memory budget with 503, the numbers and the fix", async () => {
    const { manifest } = await seed("ts-huge", 1);
    const huge = { ...manifest, image_bytes: 2 * 1024 ** 3 }; // claims a 2 GiB f32 image
    await bucket().put("models/ts-huge/manifest.json", JSON.stringify(huge));
    const r = await complete("ts-huge");
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe("model_over_memory_budget");
    expect(r.json.error.message).toMatch(
      /Model 'ts-huge' needs \d+\.\d MiB of WASM memory \(weights 2048\.0 MiB f32, KV cache .* budget is 112\.0 MiB\. Fix: .*--dtype q8 or q4/,
    );
  });
});

describe("Unknown model ids", () => {
  const ask = (path: string, model: string) =>
    path === "GET /v1/models"
      ? worker().fetch(`http://gpt-edge.test/v1/models/${encodeURIComponent(model)}`)
      : worker().fetch(`http://gpt-edge.test${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model,
            prompt: "ROMEO:",
            max_tokens: 2,
            token: " the",
            tokens: [1],
          }),
        });
  const status = async () =>
    ((await (await worker().fetch("http://gpt-edge.test/v1/status")).json()) as any).models;

  it("Should answer 404 model_not_found on every route and keep the loaded model resident", async () => {
    await seedModel();
    expect((await complete(MODEL)).status).toBe(200);
    const mine = async () => (await status()).find((m: { id: string }) => m.id === MODEL);
    const before = await mine();
    expect(before).toBeDefined();
    const routes = ["/v1/completions", "/v1/inspect", "/v1/neighbours", "/v1/tokenize"];
    for (const path of [...routes, "/v1/detokenize", "GET /v1/models"]) {
      for (const id of ["nope", "x".repeat(1004), "../" + MODEL, "é"]) {
        const res = await ask(path, id);
        const body = (await res.json()) as any;
        expect(res.status, `${path} ${id.slice(0, 8)}: ${JSON.stringify(body)}`).toBe(404);
        expect(body.error).toMatchObject({ code: "model_not_found", param: "model" });
        expect(body.error.message.length).toBeLessThan(200); // the id is not echoed whole
      }
    }
    expect(await mine()).toMatchObject({ id: MODEL, load_ms: before.load_ms }); // never reloaded
  });
});

describe("Loading through the Cache API", () => {
  it("Should refuse over budget before fetching any shard", async () => {
    const { manifest } = await seed("ts-plan-first", 2);
    await bucket().put(
      "models/ts-plan-first/manifest.json",
      JSON.stringify({ ...manifest, image_bytes: 2 ** 31 }),
    );
    const keys: string[] = [];
    const store = { get: (k: string) => (keys.push(k), bucket().get(k)) };
    await expect(
      loadModel(store, "ts-plan-first", { kernels, budgetBytes: BUDGET, slots: 1 }),
    ).rejects.toThrow(ModelTooLargeError);
    expect(keys).toEqual(["models/ts-plan-first/manifest.json"]);
  });

  it("Should cache verified shards, load from the cache next time, and never cache a bad one", async () => {
    const { manifest, shards } = await seed("ts-cache", 4, (i, b) => (i === 3 ? flipByte(b) : b));
    await expect(load("ts-cache")).rejects.toThrow(ModelLoadError);
    expect(await cache().match(shardCacheUrl("ts-cache", manifest.shards[3]))).toBeUndefined();
    await bucket().put("models/ts-cache/part-3.bin", shards[3].data);
    const first = await load("ts-cache");
    expect(first.shards.fromStore).toBeGreaterThanOrEqual(1); // at least the fixed one
    for (const s of manifest.shards)
      expect(await cache().match(shardCacheUrl("ts-cache", s))).toBeDefined();
    const second = await load("ts-cache");
    expect(second.shards).toEqual({ fromCache: 4, fromStore: 0 });
    expect(second.plan.totalBytes).toBe(first.plan.totalBytes);
  });

  it("Should drop a corrupted cached copy and load that shard from R2", async () => {
    const { manifest } = await seed("ts-badcache", 4);
    await load("ts-badcache"); // fills the cache
    const url = shardCacheUrl("ts-badcache", manifest.shards[1]);
    await cache().put(url, new Response(new Uint8Array(manifest.shards[1].bytes)));
    const lm = await load("ts-badcache");
    expect(lm.shards).toEqual({ fromCache: 3, fromStore: 1 });
    const again = await cache().match(url);
    expect(await sha256Hex(new Uint8Array(await again!.arrayBuffer()))).toBe(
      manifest.shards[1].sha256,
    );
  });
});

describe("Shard streaming in workerd", () => {
  it("Should hash shards as they arrive: workerd has the incremental DigestStream", async () => {
    // Without it the loader falls back to digest() over the whole shard, a 16 MiB copy.
    const DigestStream = (crypto as unknown as { DigestStream?: new (a: string) => unknown })
      .DigestStream;
    expect(typeof DigestStream).toBe("function");
  });
});

describe("The kernel build", () => {
  it("Should be the relaxed-SIMD build in workerd (relaxed SIMD is on there), per /v1/status", async () => {
    // pickKernelModule falls back to the SIMD128 build where relaxed SIMD does not instantiate;
    // workerd's V8 has it on, so the Worker must be on the faster path (FMA, pmaddubsw for q4).
    const res = await worker().fetch("http://gpt-edge.test/v1/status");
    expect(res.status).toBe(200);
    expect(((await res.json()) as { kernels?: string }).kernels).toBe("relaxed-simd");
  });
});
