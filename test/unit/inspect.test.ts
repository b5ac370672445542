// POST /v1/inspect's core on the default model in Node: the request limits (prompt tokens,
// layers, top_n, attention payload), the payload's shape and size, and its numbers against the
// sampler's and the model's own (distribution at any temperature, prompt logprobs, attention).

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, EngineSaturatedError } from "../../src/engine/engine.js";
import { inspect, type Inspection } from "../../src/inspect/inspect.js";
import {
  attentionPlan,
  InspectParamError,
  MAX_ATTENTION_VALUES,
  parseInspectParams,
  parseNeighbourParams,
} from "../../src/inspect/params.js";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../src/model/loader.js";
import { logprobsOf, topProbs } from "../../src/sampler/index.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { FIXTURE_DIR, ROOT, SOURCE_DIR } from "../setup/paths.js";

const BUDGET = 112 * 1024 * 1024;
const MODEL = "tiny-shakespeare";
const PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?";

let lm: LoadedModel;
let engine: Engine;
const run = (body: Record<string, unknown>): Inspection =>
  inspect(lm, parseInspectParams({ model: MODEL, ...body }), (job) => engine.withSlot(job));

/** Logits of every position, chunked like the engine (plan.rows per pass), slot 1. */
function allLogits(ids: number[]): Float32Array[] {
  const out: Float32Array[] = [];
  for (let pos0 = 0; pos0 < ids.length; pos0 += lm.plan.rows) {
    const chunk = ids.slice(pos0, pos0 + lm.plan.rows);
    lm.model.forward([{ slot: 1, pos0, ids: chunk, logits: "all" }], (_s, t, l) => {
      out[pos0 + t] = l.slice();
    });
  }
  return out;
}

/** A prompt of exactly n tokens (" the" is one token in this vocabulary). */
function promptOf(n: number): string {
  const text = "ROMEO:" + " the".repeat(n);
  const ids = lm.tokenizer.encode(text).slice(0, n);
  expect(ids).toHaveLength(n);
  return lm.tokenizer.decode(ids);
}

beforeAll(async () => {
  lm = await loadModel(modelDirStore(FIXTURE_DIR, MODEL), MODEL, {
    kernels: loadKernelModule(),
    budgetBytes: BUDGET,
    slots: 2,
  });
  engine = new Engine(lm, { maxQueue: 4, prefillChunk: 64 });
});

describe("inspect request limits", () => {
  const bad = (body: unknown, param: string) => {
    try {
      parseInspectParams(body);
    } catch (e) {
      expect(e).toBeInstanceOf(InspectParamError);
      expect((e as InspectParamError).param).toBe(param);
      return;
    }
    throw new Error(`accepted ${JSON.stringify(body)}`);
  };

  it("Should fill in the defaults", () => {
    expect(parseInspectParams({ model: MODEL, prompt: "hi" })).toEqual({
      model: MODEL,
      prompt: "hi",
      topN: 50,
      layers: "all",
      promptLogprobs: true,
      hidden: true,
      embeddings: true,
      neighbours: 10,
      position: -1,
      layer: 0,
      head: 0,
    });
  });

  it("Should refuse a missing model or prompt, and a body that is not an object", () => {
    bad({ prompt: "x" }, "model");
    bad({ model: MODEL }, "prompt");
    bad({ model: MODEL, prompt: 42 }, "prompt");
    bad([1, 2], "body");
  });

  it("Should refuse top_n outside [1, 256], fractional or not a number", () => {
    for (const top_n of [0, 257, 1.5, "10"]) bad({ model: MODEL, prompt: "x", top_n }, "top_n");
  });

  it("Should refuse malformed layers and neighbours", () => {
    for (const layers of [[-1], [0, 0], ["0"], "some", 3])
      bad({ model: MODEL, prompt: "x", layers }, "layers");
    bad({ model: MODEL, prompt: "x", neighbours: 51 }, "neighbours");
  });

  it("Should refuse a prompt over 4096 characters before tokenising it", () => {
    bad({ model: MODEL, prompt: "a".repeat(4097) }, "prompt");
  });

  it("Should inspect a prompt of the model's whole context and refuse one token more", () => {
    const n = lm.manifest.config.n_ctx; // 256
    const r = run({ prompt: promptOf(n), hidden: false, embeddings: false, neighbours: 0 });
    expect(r.tokens).toHaveLength(n);
    expect(r.attention.summary).toHaveLength(16);
    expect(r.limits.max_prompt_tokens).toBe(n);
    expect(() => run({ prompt: promptOf(n + 1) })).toThrowError(
      /maximum context length is 256 tokens, however your prompt has more than 256 tokens/,
    );
    try {
      run({ prompt: promptOf(n + 1) });
    } catch (e) {
      expect((e as InspectParamError).code).toBe("context_length_exceeded");
    }
  });

  it("Should refuse a prompt past the served context (MAX_CONTEXT), not only past n_ctx", async () => {
    const short = await loadModel(modelDirStore(FIXTURE_DIR, MODEL), MODEL, {
      kernels: loadKernelModule(),
      budgetBytes: BUDGET,
      slots: 1,
      context: 128,
    });
    const e = new Engine(short, { maxQueue: 1, prefillChunk: 64 });
    const at = (prompt: string) =>
      inspect(short, parseInspectParams({ model: MODEL, prompt }), (job) => e.withSlot(job));
    expect(short.plan.context).toBe(128);
    expect(at(promptOf(128)).limits.max_prompt_tokens).toBe(128);
    try {
      at(promptOf(129)); // within n_ctx (256): the forward pass would have no KV position for it
      throw new Error("inspected 129 tokens at a served context of 128");
    } catch (err) {
      expect(err).toBeInstanceOf(InspectParamError);
      expect(err).toMatchObject({ param: "prompt", code: "context_length_exceeded" });
      expect((err as Error).message).toMatch(
        /maximum context length is 128 tokens.* more than 128 tokens/,
      );
    }
  });

  it("Should refuse a position, layer or head the prompt or model does not have", () => {
    expect(() => run({ prompt: "hi", position: 5 })).toThrowError(InspectParamError);
    expect(() => run({ prompt: "hi", layer: 4 })).toThrowError(/layers 0\.\.3/);
    expect(() => run({ prompt: "hi", head: 4 })).toThrowError(/heads 0\.\.3/);
  });

  it("Should refuse a layer the model does not have", () => {
    expect(() => run({ prompt: "hi", layers: [4] })).toThrowError(/layers 0\.\.3/);
  });

  it("Should keep the focus layer's matrices first under the cap and say what it left out", () => {
    const all = [0, 1, 2, 3];
    expect(attentionPlan(all, { layer: 2, head: 1 }, 4, 100).capped).toBe("");
    const long = attentionPlan(all, { layer: 2, head: 1 }, 4, 256); // one layer: 131,584 weights
    expect([...long.keep]).toEqual([[2, [0, 1, 2, 3]]]);
    expect(long.capped).toMatch(/layer 0; layer 1; layer 3/);
    const wide = attentionPlan(all, { layer: 1, head: 7 }, 12, 256); // a 12-head layer does not fit
    expect(wide.keep.get(1)).toEqual([0, 1, 2, 7]);
    expect(wide.capped).toMatch(/layer 1 heads 3, 4, 5, 6, 8, 9, 10, 11; layer 0;/);
  });

  it("Should need exactly one of token_id and token for neighbours", () => {
    expect(() => parseNeighbourParams({ model: MODEL })).toThrowError(InspectParamError);
    expect(() => parseNeighbourParams({ model: MODEL, token_id: 1, token: "a" })).toThrowError(
      InspectParamError,
    );
    expect(parseNeighbourParams({ model: MODEL, token: " the" }).k).toBe(10);
  });
});

describe("inspect payload", () => {
  it("Should stay under 1 MB at the largest request the limits allow", () => {
    const r = run({ prompt: promptOf(256), top_n: 256, neighbours: 50 });
    const values = r.attention.layers.flatMap((l) => l.heads.flat(2)).length;
    expect(values).toBeLessThanOrEqual(MAX_ATTENTION_VALUES);
    expect(JSON.stringify(r).length).toBeLessThan(1_000_000);
    expect(r.tokens).toHaveLength(256);
    expect(r.next.top).toHaveLength(256);
  });

  it("Should describe every token with bytes, span and the merges that built it", () => {
    const r = run({ prompt: PROMPT });
    const romeo = r.tokens[0];
    expect(romeo.text).toBe("ROMEO");
    expect(romeo.bytes).toEqual([82, 79, 77, 69, 79]);
    expect(romeo.offset).toEqual([0, 5]);
    expect(romeo.merges?.length).toBe(4); // five bytes, four merges
    expect(r.tokens.map((t) => t.text).join("")).toBe(PROMPT);
    expect(r.tokens.map((t) => t.id)).toEqual(lm.tokenizer.encode(PROMPT));
  });

  it("Should give the exact probabilities of the sampler at any slider temperature", () => {
    const r = run({ prompt: PROMPT, top_n: 40 });
    const logits = allLogits(lm.tokenizer.encode(PROMPT)).at(-1)!;
    for (const T of [0.05, 0.5, 1, 1.35, 2]) {
      const i = Math.round(T / 0.05) - 1;
      expect(r.next.temperatures[i]).toBeCloseTo(T, 10);
      const want = topProbs(logits, T, 40);
      r.next.top.forEach((t, k) => {
        expect(t.id).toBe(want[k].id);
        const p = Math.exp((t.logit - r.next.max_logit) / T - r.next.log_z[i]);
        expect(Math.abs(p - want[k].prob)).toBeLessThan(1e-5);
      });
    }
  });

  it("Should score each prompt token like logprobsOf on the previous position's logits", () => {
    const ids = lm.tokenizer.encode(PROMPT);
    const logits = allLogits(ids);
    const r = run({ prompt: PROMPT });
    expect(r.tokens[0].logprob).toBeNull();
    for (let t = 1; t < ids.length; t++) {
      const want = logprobsOf(logits[t - 1], ids[t], 5);
      expect(r.tokens[t].logprob).toBeCloseTo(want.logprob, 4);
      expect(r.tokens[t].top?.map((x) => x.id)).toEqual(want.top.map((x) => x.id));
    }
  });

  it("Should return causal attention rows that sum to one, across prefill chunks", () => {
    const T = 100; // more than plan.rows (64): two forward chunks
    const r = run({ prompt: promptOf(T), layers: [0, 3], hidden: false, embeddings: false });
    expect(r.attention.layers.map((l) => l.layer)).toEqual([0, 3]);
    for (const { heads } of r.attention.layers) {
      expect(heads).toHaveLength(lm.manifest.config.n_head);
      for (const rows of heads) {
        if (!rows) throw new Error("a head of a requested layer is missing under the cap");
        expect(rows).toHaveLength(T);
        rows.forEach((row, q) => {
          expect(row).toHaveLength(q + 1);
          // Each weight is rounded to 3 decimals: the sum may be off by q/2000.
          expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(0.001 + q / 2000);
        });
      }
    }
    expect(r.attention.summary).toHaveLength(16); // every layer and head, even unrequested
    for (const s of r.attention.summary) expect(s.prev + s.first).toBeLessThanOrEqual(1.0001);
  });

  it("Should project the residual stream of every layer and the embeddings to 3D", () => {
    const r = run({ prompt: PROMPT });
    const T = r.tokens.length;
    expect(r.hidden!.layers).toEqual([-1, 0, 1, 2, 3]);
    expect(r.hidden!.points).toHaveLength(5);
    for (const layer of r.hidden!.points) {
      expect(layer).toHaveLength(T);
      for (const p of layer) expect(p).toHaveLength(3);
    }
    const ex = r.hidden!.explained;
    expect(ex[0]).toBeGreaterThanOrEqual(ex[1]);
    expect(ex.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1);
    expect(r.embeddings!.prompt).toHaveLength(T);
    expect(r.embeddings!.cloud.length).toBeGreaterThan(100);
  });

  it("Should list nearest neighbours by cosine, best first, without the token itself", () => {
    const r = run({ prompt: "thou", neighbours: 8 });
    const n = r.neighbours!;
    expect(n.items).toHaveLength(8);
    expect(n.items.map((x) => x.id)).not.toContain(n.id);
    for (let i = 1; i < 8; i++)
      expect(n.items[i - 1].cosine).toBeGreaterThanOrEqual(n.items[i].cosine);
  });

  it("Should time every stage of the forward pass and count the matrices from the manifest", () => {
    const r = run({ prompt: PROMPT, hidden: false, embeddings: false });
    const names = r.timings.stages.map((s) => s.name);
    expect(names[0]).toBe("embed");
    expect(names).toContain("h.3.mlp.c_proj");
    expect(names.at(-1)).toBe("lm_head");
    expect(r.timings.clock_advanced).toBe(true);
    const C = 256;
    const attn = r.sizes.groups.find((g) => g.name.startsWith("attention"))!;
    const mlp = r.sizes.groups.find((g) => g.name.startsWith("MLP"))!;
    expect(attn.params).toBe(4 * C * C + 4 * C);
    expect(mlp.params).toBe(8 * C * C + 5 * C);
    expect(r.sizes.total_params).toBe(2048 * C + 256 * C + 4 * (12 * C * C + 13 * C) + 2 * C);
  });

  it("Should give back its KV slot, and fail with EngineSaturatedError when none is free", () => {
    run({ prompt: "a" });
    const slots: number[] = [];
    engine.withSlot((a) => {
      slots.push(a);
      engine.withSlot((b) => {
        slots.push(b);
        expect(() => run({ prompt: "a" })).toThrowError(EngineSaturatedError);
      });
    });
    expect(new Set(slots).size).toBe(2);
  });

  it("Should not change the logits when the stage-timing hook is set", () => {
    const ids = lm.tokenizer.encode(PROMPT);
    let plain: Float32Array | undefined;
    let timed: Float32Array | undefined;
    const seg = [{ slot: 1, pos0: 0, ids, logits: "last" as const }];
    lm.model.forward(seg, (_s, _t, l) => (plain = l.slice()));
    lm.model.forward(seg, (_s, _t, l) => (timed = l.slice()), { onStage: () => {} });
    expect(timed).toEqual(plain);
  });
});

describe("inspect on a quantized model", () => {
  let dir: string;
  let q4: LoadedModel;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "inspect-q4-"));
    const cli = [
      "tsx",
      "weights/cli.ts",
      "convert",
      SOURCE_DIR,
      dir,
      "--name",
      "tiny-q4",
      "--dtype",
      "q4",
    ];
    const r = spawnSync("npx", cli, { cwd: ROOT, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    q4 = await loadModel(modelDirStore(dir, "tiny-q4"), "tiny-q4", {
      kernels: loadKernelModule(),
      budgetBytes: BUDGET,
      slots: 1,
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("Should read a q4 wte row by row: nearly the f32 model's neighbours and embedding axes", () => {
    const e = new Engine(q4, { maxQueue: 1, prefillChunk: 64 });
    const body = parseInspectParams({
      model: "tiny-q4",
      prompt: "ROMEO:\nthou art",
      neighbours: 5,
    });
    const got = inspect(q4, body, (job) => e.withSlot(job));
    const want = run({ prompt: "ROMEO:\nthou art", neighbours: 5 });
    const ids = (r: Inspection) => r.neighbours!.items.map((x) => x.id);
    expect(ids(got).filter((id) => ids(want).includes(id)).length).toBeGreaterThanOrEqual(4);
    got.embeddings!.explained.forEach((v, i) => {
      expect(Math.abs(v - want.embeddings!.explained[i])).toBeLessThan(0.01);
    });
  });
});
