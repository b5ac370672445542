// The model registry in Node over the converted default model: a load or tokenizer fetch whose
// owner vanished is restarted by the next request, an unknown or malformed id never touches the
// store nor evicts a resident model, loads in flight reserve their memory against the budget, and
// eviction hands one evicted model's WASM memory to the next model while the others are freed.

import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import { Engine, EngineSaturatedError } from "../../src/engine/engine.js";
import { ModelRegistry, type R2Listable } from "../../src/engine/registry.js";
import { loadKernelModule } from "../../src/kernels/node.js";
import {
  ModelLoadError,
  ModelNotFoundError,
  type ShardCache,
  type WeightStore,
} from "../../src/model/loader.js";
import { apiErrorOf } from "../../src/routes/errors.js";
import { registryDeps } from "../../src/routes/context.js";
import { createApp } from "../../src/routes/index.js";
import { defaultSamplingParams } from "../../src/sampler/index.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { FIXTURE_DIR, SOURCE_DIR } from "../setup/paths.js";
import { testCaps } from "../helpers/caps.js";

const MODEL = "tiny-shakespeare";
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "registry-test-"));
afterAll(() => fs.rmSync(tmpDir, { recursive: true, force: true }));
const MiB = 1024 * 1024;

/**
 * The fixture under several names, recording every key asked for; a name in `larger` has a
 * manifest claiming an image that many bytes larger (the same weights, a larger memory plan).
 */
function store(
  names: string[],
  keys: string[] = [],
  larger: Record<string, number> = {},
): WeightStore & R2Listable {
  const dirs = new Map(names.map((n) => [n, modelDirStore(FIXTURE_DIR, n)]));
  return {
    get: async (key) => {
      keys.push(key);
      const name = key.split("/")[1];
      const obj = await dirs.get(name)?.get(key);
      if (!obj || !larger[name] || !key.endsWith("/manifest.json")) return obj ?? null;
      const m = JSON.parse(new TextDecoder().decode(await obj.arrayBuffer()));
      const bytes = new TextEncoder().encode(
        JSON.stringify({ ...m, image_bytes: m.image_bytes + larger[name] }),
      );
      return { arrayBuffer: async () => bytes.buffer as ArrayBuffer };
    },
    list: async () => ({ delimitedPrefixes: names.map((n) => `models/${n}/`), truncated: false }),
  };
}

const registry = (s: WeightStore & R2Listable, budgetMiB = 112, loadStallMs?: number) =>
  new ModelRegistry(s, {
    kernels: loadKernelModule(),
    budgetBytes: budgetMiB * MiB,
    slots: 2,
    engine: { maxQueue: 4, prefillChunk: 64 },
    loadStallMs,
  });

/** WASM bytes of one fixture model with the registry's plan (2 slots, f32 KV). */
const one = async () => (await registry(store(["a"])).get("a")).lm.kernels.memory.buffer.byteLength;

/** WASM memory held: resident models', reserved by loads in flight, and the spare. */
function held(r: ModelRegistry): number {
  const s = r.status();
  return s.models.reduce((n, m) => n + m.memory_bytes, 0) + s.reserved_bytes + s.spare_bytes;
}

/** A full garbage collection (V8's gc(), exposed at run time): what is unreferenced goes. */
async function collect(): Promise<void> {
  setFlagsFromString("--expose-gc");
  await new Promise((r) => setTimeout(r, 0)); // WeakRefs hold their targets to the end of a job
  (runInNewContext("gc") as () => void)();
}

/** Greedy tokens for a fixed prompt: the same model must give the same ones wherever it lives. */
async function greedy(e: Engine): Promise<number[]> {
  const seq = e.submit({
    prompt: e.lm.tokenizer.encode("ROMEO:"),
    maxTokens: 12,
    sampling: { ...defaultSamplingParams(), temperature: 0 },
    seed: 1n,
    stopTokens: new Set(),
    logprobs: null,
    echoLogprobs: false,
  });
  const ids: number[] = [];
  await e.run(seq, (evs) => void ids.push(...evs.map((x) => x.id)));
  return ids;
}

describe("ModelRegistry", () => {
  it("Should restart a load whose owner vanished (its reads never complete)", async () => {
    const s = store([MODEL]);
    let first = true;
    const hanging: WeightStore & R2Listable = {
      ...s,
      // The first request's manifest read belongs to a request that was cancelled: it never settles.
      get: (key) => (first ? ((first = false), new Promise(() => {})) : s.get(key)),
    };
    const r = registry(hanging, 112, 300);
    void r.get(MODEL); // the owner, gone
    const t0 = Date.now();
    const e = await r.get(MODEL); // a waiter: sees no progress for 300 ms, loads it itself
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await greedy(e)).toHaveLength(12);
    expect(r.status().models.map((m) => m.id)).toEqual([MODEL]);
    expect(await r.get(MODEL)).toBe(e);
  });

  it("Should answer an unknown or malformed id with ModelNotFoundError, keeping the model loaded", async () => {
    const keys: string[] = [];
    const r = registry(store([MODEL], keys));
    const e = await r.get(MODEL);
    const bad = [
      "nope",
      "x".repeat(1004),
      "../tiny-shakespeare",
      "a/b",
      "",
      "é",
      "tiny shakespeare",
    ];
    keys.length = 0;
    for (const id of bad) {
      await expect(r.get(id)).rejects.toThrow(ModelNotFoundError);
      await expect(r.info(id)).rejects.toThrow(ModelNotFoundError);
      await expect(r.tokenizer(id)).rejects.toThrow(ModelNotFoundError);
    }
    // Only the well-formed unknown id reached the store.
    expect(new Set(keys)).toEqual(new Set(["models/nope/manifest.json"]));
    expect(await r.get(MODEL)).toBe(e);
    expect(r.status().models.map((m) => m.id)).toEqual([MODEL]);
  });

  it("Should restart a tokenizer fetch whose owner vanished, and fail one that stalls twice", async () => {
    const s = store([MODEL]);
    let first = true;
    const hanging: WeightStore & R2Listable = {
      ...s,
      // The first request's manifest read belongs to a request that was cancelled: it never settles.
      get: (key) => (first ? ((first = false), new Promise(() => {})) : s.get(key)),
    };
    const r = registry(hanging, 112, 300);
    void r.tokenizer(MODEL); // the owner, gone
    const t0 = Date.now();
    const { tokenizer, n_ctx } = await r.tokenizer(MODEL); // a waiter: fetches it itself
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await r.tokenizer(MODEL)).toMatchObject({ tokenizer, n_ctx }); // kept
    const e = await r.get(MODEL);
    expect(tokenizer.encode("ROMEO: a plague")).toEqual(e.lm.tokenizer.encode("ROMEO: a plague"));
    expect(n_ctx).toBe(e.lm.plan.context);
    // Every read lost: an error to retry on, not a request that waits for ever.
    const lost = registry({ ...s, get: () => new Promise(() => {}) }, 112, 300);
    await expect(lost.tokenizer(MODEL)).rejects.toThrow(ModelLoadError);
  });

  it("Should reserve memory for loads in flight: a model that does not fit beside them gets a 503 to retry", async () => {
    const budget = 1.5 * (await one()); // room for one model
    const r = registry(store(["a", "b", "c"]), budget / MiB);
    const got = await Promise.allSettled([r.get("a"), r.get("b"), r.get("c")]);
    expect(got.filter((g) => g.status === "fulfilled")).toHaveLength(1);
    for (const g of got) {
      if (g.status === "fulfilled") continue;
      expect(g.reason).toBeInstanceOf(ModelLoadError);
      expect(g.reason.message).toMatch(/models loading or serving requests leave .* retry/);
      const api = apiErrorOf(g.reason);
      expect([api.status, api.headers["Retry-After"]]).toEqual([503, "5"]);
    }
    expect(held(r)).toBeLessThanOrEqual(budget);
    expect(r.status().reserved_bytes).toBe(0);
    // The retry, once the first model is idle, evicts it.
    const next = ["a", "b", "c"].find((n) => n !== r.status().models[0].id)!;
    await r.get(next);
    expect(r.status().models.map((m) => m.id)).toEqual([next]);
  });

  it("Should stop a load declared stalled when its reads resume: it neither evicts nor loads", async () => {
    const budget = 1.5 * (await one());
    const keys: string[] = [];
    const s = store([MODEL], keys);
    let resume!: () => void;
    const late = new Promise<void>((r) => (resume = r));
    let first = true;
    const slow: WeightStore & R2Listable = {
      ...s,
      // The first request's manifest read is slow, not lost: it completes after the restart.
      get: (key) => (first ? ((first = false), late.then(() => s.get(key))) : s.get(key)),
    };
    const r = registry(slow, budget / MiB, 300);
    const owner = r.get(MODEL);
    const e = await r.get(MODEL); // restarted after 300 ms without progress
    expect(await owner).toBe(e);
    keys.length = 0;
    resume();
    await new Promise((r) => setTimeout(r, 1000)); // time for the first load to go on, if it would
    expect(keys).toEqual([`models/${MODEL}/manifest.json`]); // the late read, and nothing after
    expect(await r.get(MODEL)).toBe(e);
    expect(await greedy(e)).toHaveLength(12);
    expect(held(r)).toBeLessThanOrEqual(budget);
  });

  it("Should load into the memory of a load it replaced whose shard read was slow, not lost", async () => {
    const budget = 1.5 * (await one());
    const s = store([MODEL]);
    let resume!: () => void;
    const late = new Promise<void>((r) => (resume = r));
    let first = true;
    const slow: WeightStore & R2Listable = {
      ...s,
      // The first load's first shard read is slow: it completes after the load was replaced.
      get: (key) =>
        first && key.endsWith("shard-000.bin")
          ? ((first = false), late.then(() => s.get(key)))
          : s.get(key),
    };
    const Memory = WebAssembly.Memory;
    const made: WebAssembly.Memory[] = [];
    WebAssembly.Memory = function (d: WebAssembly.MemoryDescriptor) {
      const m = new Memory(d);
      made.push(m);
      return m;
    } as unknown as typeof WebAssembly.Memory;
    try {
      const r = registry(slow, budget / MiB, 300);
      const e = await r.get(MODEL); // restarted after 300 ms without progress
      // One memory: the replaced load's, which its pending read keeps alive (a second one
      // beside it would be two copies of the model while the read waits).
      expect(made).toEqual([e.lm.kernels.memory]);
      const want = await greedy(e);
      resume();
      await new Promise((r) => setTimeout(r, 200)); // the late read returns: it writes nothing
      expect(await greedy(e)).toEqual(want);
      expect(held(r)).toBeLessThanOrEqual(budget);
    } finally {
      WebAssembly.Memory = Memory;
    }
  });

  it("Should not let a replaced load's queued shard cache writes store the new load's bytes", async () => {
    // The default model in 2 MiB shards: the first load verifies shard 0 (and queues its cache
    // write, which reads WASM memory when the cache pulls it) while shard 1 is slow.
    const out = path.join(tmpDir, "sharded");
    convertCheckpoint(SOURCE_DIR, out, { name: MODEL, maxShardBytes: 2 * MiB });
    const m = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8"));
    expect(m.shards.length).toBeGreaterThan(2);
    const s = modelDirStore(out, MODEL) as WeightStore & R2Listable;
    let resume!: () => void;
    const late = new Promise<void>((r) => (resume = r));
    const gets = new Map<string, number>();
    const queued: (() => Promise<void>)[] = [];
    let holding = true; // the first load's cache writes wait; the new load's go at once
    const slow: WeightStore & R2Listable = {
      ...s,
      list: async () => ({ delimitedPrefixes: [`models/${MODEL}/`], truncated: false }),
      get: async (key) => {
        const n = (gets.get(key) ?? 0) + 1;
        gets.set(key, n);
        if (key.endsWith("shard-001.bin") && n === 1) await late;
        // the new load has zeroed the memory and reads shard 0 again: now the cache pulls
        if (key.endsWith("shard-000.bin") && n === 2) {
          holding = false;
          for (const q of queued.splice(0)) await q();
        }
        return s.get(key);
      },
    };
    const stored: [string, Uint8Array][] = []; // every write, the replaced load's too
    const cache: ShardCache = {
      match: async () => undefined,
      put: (url, res) =>
        new Promise<void>((done) => {
          const write = async () => {
            const body = await res.arrayBuffer().catch(() => null); // the body may fail
            if (body) stored.push([url, new Uint8Array(body)]);
            done();
          };
          if (holding) queued.push(write);
          else void write();
        }),
      delete: async () => false,
    };
    const g = globalThis as { caches?: unknown };
    const had = g.caches;
    g.caches = { default: cache };
    try {
      const r = registry(slow, 112, 300);
      const e = await r.get(MODEL); // restarted after 300 ms without progress
      resume();
      await new Promise((r) => setTimeout(r, 200));
      expect(await greedy(e)).toHaveLength(12);
      // Whatever was stored is the shard it is keyed by (the replaced load's write stored the
      // new load's zeros)
      expect(stored.length).toBeGreaterThan(0);
      for (const [url, bytes] of stored) {
        const shard = m.shards.find((x: { file: string }) => url.includes(`/${x.file}?`));
        expect(createHash("sha256").update(bytes).digest("hex"), url).toBe(shard.sha256);
      }
    } finally {
      g.caches = had;
    }
  });

  it("Should reuse one memory when a load evicts two models, and free the other", async () => {
    const bytes = await one();
    const budget = 2.2 * bytes; // a and c fit together; big (an image 0.8 of a model larger) alone
    const r = registry(
      store(["a", "c", "big"], [], { big: Math.round(0.8 * bytes) }),
      budget / MiB,
    );
    const { evicted, expected } = await (async () => {
      const a = await r.get("a");
      const c = await r.get("c");
      return {
        evicted: [a, c].map((e) => new WeakRef(e.lm.kernels.memory)),
        expected: await greedy(a),
      };
    })();
    const big = await r.get("big");
    expect(r.status().models.map((m) => m.id)).toEqual(["big"]);
    expect(await greedy(big)).toEqual(expected); // the same weights, in a memory grown for big
    await collect();
    const live = evicted.map((m) => m.deref()).filter((m) => m !== undefined);
    expect(live).toContain(big.lm.kernels.memory);
    // The other one is collected, or kept as the spare and counted.
    const other = live.filter((m) => m !== big.lm.kernels.memory);
    expect(other.reduce((n, m) => n + m.buffer.byteLength, 0)).toBe(r.status().spare_bytes);
    expect(held(r)).toBeLessThanOrEqual(budget);
  });

  it("Should keep the memory of a load that failed as the spare, counted, for the next load", async () => {
    const s = store(["a", "broken"]);
    // broken's manifest reads; its tokenizer and shards are missing.
    const r = registry(
      {
        ...s,
        get: (key) =>
          /^models\/broken\/(?!manifest)/.test(key) ? Promise.resolve(null) : s.get(key),
      },
      (1.5 * (await one())) / MiB,
    );
    const memory = (await r.get("a")).lm.kernels.memory;
    await expect(r.get("broken")).rejects.toThrow(/is missing; re-upload it/);
    expect(r.status()).toMatchObject({ models: [], spare_bytes: memory.buffer.byteLength });
    expect((await r.get("a")).lm.kernels.memory).toBe(memory);
    expect(r.status().spare_bytes).toBe(0);
    // A load into a new memory (nothing evicted for it) that fails leaves that memory too.
    const fresh = registry(
      {
        ...s,
        get: (key) =>
          /^models\/broken\/(?!manifest)/.test(key) ? Promise.resolve(null) : s.get(key),
      },
      (1.5 * (await one())) / MiB,
    );
    await expect(fresh.get("broken")).rejects.toThrow(/is missing; re-upload it/);
    expect(fresh.status().spare_bytes).toBe(memory.buffer.byteLength); // it was 0: left to GC
  });

  it("Should evict an idle model only for one that needs its memory, and reuse that memory", async () => {
    const bytes = await one();
    // Room for one model: loading b evicts a, and b loads into a's memory.
    const r = registry(store(["a", "b"]), (1.5 * bytes) / MiB);
    const a = await r.get("a");
    const expected = await greedy(a);
    const memory = a.lm.kernels.memory;
    const b = await r.get("b");
    expect(r.status().models.map((m) => m.id)).toEqual(["b"]);
    expect(b.lm.kernels.memory).toBe(memory);
    expect(await greedy(b)).toEqual(expected);
    await expect(greedy(a)).rejects.toThrow(EngineSaturatedError); // evicted: takes no new work
    // Room for both: nothing is evicted.
    const wide = registry(store(["a", "b"]), (2.5 * bytes) / MiB);
    await wide.get("a");
    await wide.get("b");
    expect(wide.status().models.map((m) => m.id)).toEqual(["a", "b"]);
  });

  it("Should serve a completion whose idle model was evicted while it waited for the token limiter", async () => {
    const bytes = await one();
    const r = registry(store(["a", "b"]), (1.5 * bytes) / MiB); // room for one model
    // A Rate Limiting binding that answers at once, except the one call a test holds.
    let hold: Promise<void> | null = null;
    const limiter = { limit: async () => (await hold, { success: true }) };

    const limits = { tokens: limiter, tokenUnit: 256, periodSeconds: 60 };
    const app = createApp(() => registryDeps(r, testCaps(), [], undefined, limits));
    const complete = async (model: string) => {
      const res = await app.request("/v1/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, prompt: "ROMEO:", max_tokens: 8, temperature: 0 }),
      });
      return { status: res.status, json: (await res.json()) as any };
    };
    const want = await complete("a");
    expect(want.status).toBe(200);
    let release!: () => void;
    hold = new Promise((res) => (release = res));
    const held = complete("a"); // a is resident and idle; this request waits for the limiter
    await new Promise((res) => setTimeout(res, 10));
    hold = null;
    expect((await complete("b")).status).toBe(200); // loading b evicted a (idle)
    expect(r.status().models.map((m) => m.id)).toEqual(["b"]);
    release();
    const got = await held; // before: 503 overloaded, from a's closed engine
    expect(got.status, JSON.stringify(got.json)).toBe(200);
    expect(got.json.choices[0].text).toBe(want.json.choices[0].text);
  });
});
