// The model registry in Node over the converted default model: a load or tokenizer fetch whose
// owner vanished is restarted by the next request, an unknown or malformed id never touches the
// store nor evicts a resident model, and eviction hands the evicted model's WASM memory to the
// next model.

import { describe, expect, it } from "vitest";
import { Engine, EngineSaturatedError } from "../../src/engine/engine.js";
import { ModelRegistry, type R2Listable } from "../../src/engine/registry.js";
import { loadKernelModule } from "../../src/kernels/node.js";
import { ModelLoadError, ModelNotFoundError, type WeightStore } from "../../src/model/loader.js";
import { defaultSamplingParams } from "../../src/sampler/index.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { FIXTURE_DIR } from "../setup/paths.js";

const MODEL = "tiny-shakespeare";
const MiB = 1024 * 1024;

/** The fixture under several names, recording every key asked for. */
function store(names: string[], keys: string[] = []): WeightStore & R2Listable {
  const dirs = new Map(names.map((n) => [n, modelDirStore(FIXTURE_DIR, n)]));
  return {
    get: (key) => {
      keys.push(key);
      return dirs.get(key.split("/")[1])?.get(key) ?? Promise.resolve(null);
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

  it("Should evict an idle model only for one that needs its memory, and reuse that memory", async () => {
    const one = (await registry(store(["a"])).get("a")).lm.kernels.memory.buffer.byteLength;
    // Room for one model: loading b evicts a, and b loads into a's memory.
    const r = registry(store(["a", "b"]), (1.5 * one) / MiB);
    const a = await r.get("a");
    const expected = await greedy(a);
    const memory = a.lm.kernels.memory;
    const b = await r.get("b");
    expect(r.status().models.map((m) => m.id)).toEqual(["b"]);
    expect(b.lm.kernels.memory).toBe(memory);
    expect(await greedy(b)).toEqual(expected);
    await expect(greedy(a)).rejects.toThrow(EngineSaturatedError); // evicted: takes no new work
    // Room for both: nothing is evicted.
    const wide = registry(store(["a", "b"]), (2.5 * one) / MiB);
    await wide.get("a");
    await wide.get("b");
    expect(wide.status().models.map((m) => m.id)).toEqual(["a", "b"]);
  });
});
