// What one /v1/inspect holds in the JS heap (src/inspect/budget.ts): GPT-2 124M at its whole
// context fits the plan (it held ~122 MiB before: every layer's residual in f32 and again in f64),
// a model too wide for it is refused with the longest prompt that fits, and the hidden view's
// window keeps exactly the rows it covers, whatever the forward pass's chunks, on a 768-wide model.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.js";
import { INSPECT_HEAP_BYTES, MAX_HIDDEN_VALUES, planChecked } from "../../src/inspect/budget.js";
import { neighbours, wteRows } from "../../src/inspect/embeddings.js";
import { HiddenCollector, hiddenWindow } from "../../src/inspect/hidden.js";
import { inspect } from "../../src/inspect/inspect.js";
import {
  checkAgainstModel,
  InspectParamError,
  parseInspectParams,
} from "../../src/inspect/params.js";
import { weights } from "../../src/inspect/weights.js";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../src/model/loader.js";
import { main } from "../../weights/cli.js";
import { SHAPES, type ShapeName } from "../../weights/random.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { mulberry32 } from "./helpers/random.js";

const shape = (name: ShapeName) => ({ n_vocab: 50257, ...SHAPES[name] });
/** planChecked for a request body at T tokens of a model of this shape (n_ctx 1024). */
function plan(name: ShapeName, T: number, body: Record<string, unknown> = {}) {
  const cfg = shape(name);
  const p = parseInspectParams({ model: name, prompt: "x", ...body });
  return planChecked(cfg, T, p, checkAgainstModel(p, T, cfg, 1024));
}

describe("inspect heap plan", () => {
  it("Should plan GPT-2 124M at 1024 tokens within the heap one inspection may use", () => {
    const { plan: at } = plan("gpt2", 1024);
    expect(at.bytes.total).toBeLessThanOrEqual(INSPECT_HEAP_BYTES);
    // The selected token at every depth and block 0's input up to it, nothing (L+1)·T·C.
    expect(at.bytes.residual).toBe((1024 + 13) * 768 * 4);
    const perToken = 13 * 768;
    expect(at.hidden).toEqual({
      start: 1024 - 39,
      count: Math.floor(MAX_HIDDEN_VALUES / perToken),
    });
    expect(plan("gpt2", 1024, { position: 10 }).plan.hidden).toEqual({ start: 0, count: 39 });
    expect(plan("gpt2", 1024, { hidden: false }).plan.hidden.count).toBe(0);
    // Every prompt length with every view on: GPT-2 124M (and distilgpt2) are never refused.
    for (const name of ["gpt2", "distilgpt2"] as const)
      for (let T = 1; T <= 1024; T += 7)
        expect(() => plan(name, T, { neighbours: 50 })).not.toThrow();
  });

  it("Should refuse gpt2-large at 1024 tokens with the longest prompt that fits, and no shorter", () => {
    let n = 0;
    try {
      plan("gpt2-large", 1024);
      throw new Error("planned 1024 tokens of gpt2-large");
    } catch (e) {
      expect(e).toBeInstanceOf(InspectParamError);
      expect(e).toMatchObject({ param: "prompt", code: "inspect_over_memory_budget" });
      const m = (e as Error).message.match(/a prompt of at most (\d+) tokens/);
      expect(m, (e as Error).message).not.toBeNull();
      n = Number(m![1]);
    }
    expect(n).toBeGreaterThan(100);
    // Every shorter prompt fits (the attention matrices give way first), no longer one does.
    for (let T = 1; T <= n; T++)
      expect(plan("gpt2-large", T).plan.bytes.total).toBeLessThanOrEqual(INSPECT_HEAP_BYTES);
    expect(() => plan("gpt2-large", n + 1)).toThrowError(InspectParamError);
    // At 16 tokens all 720 heads' matrices would pass the plan: fewer are kept, and it says so.
    const short = plan("gpt2-large", 16);
    expect(short.attention.capped).toMatch(/what this answer's share of the JS heap leaves/);
    expect([...short.attention.keep.values()].flat().length).toBeLessThan(720);
  });

  it("Should cover the tokens up to the selected one when the prompt is longer than the cap", () => {
    expect(hiddenWindow(10, 9, 4)).toEqual({ start: 6, count: 4 });
    expect(hiddenWindow(10, 2, 4)).toEqual({ start: 0, count: 4 });
    expect(hiddenWindow(3, 2, 4)).toEqual({ start: 0, count: 3 });
    expect(hiddenWindow(10, 9, 0)).toEqual({ start: 9, count: 1 }); // at least the selected token
  });

  it("Should keep the window's rows whatever the chunks, as a collector of every token does", () => {
    const [depths, T, C] = [3, 10, 8];
    const rng = mulberry32(7);
    const x = Array.from({ length: depths }, () =>
      Float32Array.from({ length: T * C }, () => rng() * 4 - 2),
    );
    const all = new HiddenCollector(depths, C, 0, T);
    const win = new HiddenCollector(depths, C, 4, 5);
    for (const [pos0, Tc] of [
      [0, 3],
      [3, 4],
      [7, 3],
    ]) {
      for (let d = 0; d < depths; d++) {
        const chunk = x[d].subarray(pos0 * C, (pos0 + Tc) * C);
        all.add(d, pos0, Tc, chunk);
        win.add(d, pos0, Tc, chunk);
      }
    }
    const a = all.projection("");
    const w = win.projection("capped");
    expect(w.start).toBe(4);
    expect(w.capped).toBe("capped");
    expect(w.points.map((p) => p.length)).toEqual([5, 5, 5]);
    for (let d = 0; d < depths; d++) expect(w.norms[d]).toEqual(a.norms[d].slice(4, 9));
  });
});

describe("inspect on a 768-wide model past the hidden view's cap", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inspect-budget-"));
  let lm: LoadedModel;
  let engine: Engine;
  beforeAll(async () => {
    const hf = path.join(tmp, "hf");
    const out = path.join(tmp, "q4");
    const quiet = () => {};
    expect(
      await main(["random", hf, "--shape", "gpt2", "--layers", "1", "--seed", "5"], quiet),
    ).toBe(0);
    expect(await main(["convert", hf, out, "--dtype", "q4", "--name", "rnd"], quiet)).toBe(0);
    lm = await loadModel(modelDirStore(out, "rnd"), "rnd", {
      kernels: loadKernelModule(),
      budgetBytes: 112 * 2 ** 20,
      slots: 1,
      cache: null,
    });
    engine = new Engine(lm, { maxQueue: 1, prefillChunk: 64 });
  }, 60_000);
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("Should show the 256 tokens ending at the selected one, read across chunks", () => {
    const ids = lm.tokenizer.encode(" the cat sat on the mat,".repeat(60)).slice(0, 300);
    const prompt = lm.tokenizer.decode(ids);
    const cover = MAX_HIDDEN_VALUES / (2 * 768); // 2 depths (the embedding, block 0)
    expect(cover).toBe(256);
    for (const position of [-1, 100]) {
      const r = inspect(
        lm,
        parseInspectParams({ model: "rnd", prompt, position, embeddings: false, neighbours: 0 }),
        (job) => engine.withSlot(job),
      );
      expect(r.tokens).toHaveLength(300);
      const h = r.hidden!;
      const t = r.focus.position;
      expect(h.start).toBe(position < 0 ? 300 - cover : 0);
      expect(h.points.map((p) => p.length)).toEqual([cover, cover]);
      expect(h.capped).toMatch(/^At 300 tokens the hidden view covers tokens \d+\.\.\d+/);
      expect(r.limits.max_hidden_values).toBe(MAX_HIDDEN_VALUES);
      // The window's row for the selected token is the focus's (forward pass) residual there.
      r.focus.residual.forEach((v, d) => {
        const norm = Math.hypot(...v);
        expect(Math.abs(h.norms[d][t - h.start] - norm)).toBeLessThan(1e-3 * norm + 1e-2);
      });
    }
  });

  // V = 50257 is not a multiple of 4: the q4 scales are padded to groups of 4 rows (scaleCount),
  // and a view (C/32)·V floats long left the last row's blocks past its end (NaN).
  it("Should read the last wte row of a q4 GPT-2 vocabulary, and give a finite logit lens", () => {
    const last = lm.manifest.config.n_vocab - 1;
    expect(Array.from(weights(lm).matrix("wte").row(last)).every(Number.isFinite)).toBe(true);
    expect(Array.from(wteRows(lm).row(last)).every(Number.isFinite)).toBe(true);
    expect(neighbours(lm, last, 5).every((n) => Number.isFinite(n.cosine))).toBe(true);
    const r = inspect(
      lm,
      parseInspectParams({ model: "rnd", prompt: " the cat", hidden: false, embeddings: false }),
      (job) => engine.withSlot(job),
    );
    for (const l of r.focus.lens) {
      expect(Number.isFinite(l.entropy), `layer ${l.layer}`).toBe(true);
      expect(l.top.every((t) => Number.isFinite(t.prob))).toBe(true);
    }
  });
});
