// The selected token from inside (src/inspect/focus.ts) against the model's own numbers: the
// logit lens's last layer is the next-token distribution, the recomputed attention row is the
// forward pass's, and the analogy's ranking is a brute-force cosine ranking over wte.

import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.js";
import { analogy, wteRows } from "../../src/inspect/embeddings.js";
import { unembedSummaries } from "../../src/inspect/focus.js";
import { inspect, type Inspection } from "../../src/inspect/inspect.js";
import { parseInspectParams, parseNeighbourParams } from "../../src/inspect/params.js";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../src/model/loader.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { FIXTURE_DIR } from "../setup/paths.js";
import { mulberry32 } from "./helpers/random.js";

const MODEL = "tiny-shakespeare";
const PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?";
let lm: LoadedModel;
let engine: Engine;
const run = (body: Record<string, unknown>): Inspection =>
  inspect(lm, parseInspectParams({ model: MODEL, prompt: PROMPT, ...body }), (job) =>
    engine.withSlot(job),
  );

beforeAll(async () => {
  lm = await loadModel(modelDirStore(FIXTURE_DIR, MODEL), MODEL, {
    kernels: loadKernelModule(),
    budgetBytes: 112 * 1024 * 1024,
    slots: 2,
  });
  engine = new Engine(lm, { maxQueue: 4, prefillChunk: 64 });
});

describe("inspect focus", () => {
  it("Should read the last layer of the logit lens as the next-token distribution", () => {
    const r = run({ hidden: false, embeddings: false });
    const { lens } = r.focus;
    expect(lens.map((l) => l.layer)).toEqual([-1, 0, 1, 2, 3]);
    const last = lens[lens.length - 1];
    const lz1 = r.next.log_z[r.next.temperatures.indexOf(1)];
    last.top.forEach((t, i) => {
      expect(t.id).toBe(r.next.top[i].id);
      const p = Math.exp(r.next.top[i].logit - r.next.max_logit - lz1);
      expect(Math.abs(t.prob - p)).toBeLessThan(1e-3);
    });
    expect(Math.abs(last.entropy - r.next.entropy)).toBeLessThan(1e-2);
  });

  it("Should recompute the head's attention row exactly as the forward pass weighed it", () => {
    for (const [layer, head, position] of [
      [0, 0, -1],
      [2, 3, 5],
      [3, 1, 0],
    ]) {
      const r = run({ layer, head, position, hidden: false, embeddings: false });
      const t = r.focus.position;
      const row = r.attention.layers.find((l) => l.layer === layer)!.heads[head]![t];
      const a = r.focus.attention;
      expect(a.weights).toHaveLength(t + 1);
      a.weights.forEach((w, j) => expect(Math.abs(w - row[j])).toBeLessThan(2e-3));
      expect(a.q).toHaveLength(lm.manifest.config.n_embd / lm.manifest.config.n_head);
      expect(a.keys[0].weight).toBe(Math.max(...a.weights));
    }
  });

  it("Should give the MLP's 4C activations and its most active neurons, largest first", () => {
    const r = run({ layer: 1, hidden: false, embeddings: false });
    const m = r.focus.mlp;
    expect(m.gelu).toHaveLength(4 * lm.manifest.config.n_embd);
    const acts = m.neurons.map((n) => Math.abs(n.act));
    expect(acts).toEqual([...acts].sort((a, b) => b - a));
    expect(Math.abs(m.neurons[0].act)).toBeCloseTo(Math.max(...m.gelu.map(Math.abs)), 2);
    // The block's change to the stream is what attention and the MLP add: |Δ| ≤ ‖attn‖ + ‖mlp‖.
    const t = r.focus.position;
    const res = r.focus.residual;
    const delta = Math.hypot(...res[2].map((v, i) => v - res[1][i]));
    expect(delta).toBeLessThanOrEqual(m.norms.attention + m.norms.mlp + 1e-2);
    expect(t).toBe(r.tokens.length - 1);
  });

  it("Should rank an analogy's answers by cosine to a − b + c, the inputs left out", () => {
    const id = (s: string) => {
      const ids = lm.tokenizer.encode(s);
      expect(ids).toHaveLength(1);
      return ids[0];
    };
    const [a, b, c] = [" king", " man", " woman"].map(id);
    const got = analogy(lm, [a, c], [b], 5);
    const w = wteRows(lm);
    const x = Array.from(w.row(a), (v, j) => v - w.row(b)[j] + w.row(c)[j]);
    const cos = (i: number) => {
      const r = w.row(i);
      let d = 0;
      let n = 0;
      let m = 0;
      for (let j = 0; j < x.length; j++)
        [d, n, m] = [d + x[j] * r[j], n + r[j] * r[j], m + x[j] * x[j]];
      return d / Math.sqrt(n * m);
    };
    const want = Array.from({ length: w.V }, (_, i) => i)
      .filter((i) => ![a, b, c].includes(i) && lm.tokenizer.isValidId(i))
      .sort((p, q) => cos(q) - cos(p))
      .slice(0, 5);
    expect(got.map((g) => g.id)).toEqual(want);
    expect(
      parseNeighbourParams({ model: MODEL, plus: [" king", " woman"], minus: [" man"] }).plus,
    ).toHaveLength(2);
  });

  it("Should summarise several vectors' logits in one pass as each one's full logits would", () => {
    const [V, C, K] = [1003, 37, 5];
    const rng = mulberry32(11);
    // Values on a coarse grid, so some logits tie exactly (ties go to the lower id).
    const w = Float32Array.from({ length: V * C }, () => Math.round(rng() * 8 - 4) / 4);
    const row = (i: number) => w.subarray(i * C, (i + 1) * C);
    const buf = new Float32Array(C); // read() hands out one buffer, as a q8 / q4 matrix does
    const wte = { rows: V, cols: C, row, read: (i: number) => (buf.set(row(i)), buf) };
    const hs = Array.from({ length: 6 }, (_, v) =>
      Float64Array.from({ length: C }, () => (v === 5 ? 1 : Math.round(rng() * 8 - 4) / 2)),
    );
    const got = unembedSummaries(wte, hs, K);
    hs.forEach((h, v) => {
      // The twin: every logit in a Float32Array, then softmax and a full sort.
      const z = new Float32Array(V);
      for (let i = 0; i < V; i++) {
        let s = 0;
        for (let j = 0; j < C; j++) s += w[i * C + j] * h[j];
        z[i] = s;
      }
      const max = Math.max(...z);
      const lz = Math.log(z.reduce((a, x) => a + Math.exp(x - max), 0));
      const entropy = -z.reduce((a, x) => a + Math.exp(x - max - lz) * (x - max - lz), 0);
      const ids = Array.from(z.keys())
        .sort((a, b) => z[b] - z[a] || a - b)
        .slice(0, K);
      expect(got[v].ids).toEqual(ids);
      expect(got[v].logits).toEqual(ids.map((i) => z[i]));
      expect(got[v].max).toBe(max);
      expect(Math.abs(got[v].lz - lz)).toBeLessThan(1e-12 * Math.max(1, Math.abs(lz)));
      expect(Math.abs(got[v].entropy - entropy)).toBeLessThan(1e-9);
    });
    expect(new Set(hs.map((_, v) => got[v].ids.join())).size).toBeGreaterThan(1);
  });

  it("Should leave −∞ logits out of a summary, and let a NaN spoil its normaliser only", () => {
    const column = (z: number[]) => {
      const w = Float32Array.from(z);
      const row = (i: number) => w.subarray(i, i + 1);
      return { rows: z.length, cols: 1, row, read: row };
    };
    const [a] = unembedSummaries(column([-Infinity, 1, 2, -Infinity, 3]), [[1]], 2);
    const [b] = unembedSummaries(column([1, 2, 3]), [[1]], 2);
    expect(a).toEqual({ ...b, ids: [4, 2] }); // the same softmax: −∞ weighs nothing
    const [c] = unembedSummaries(column([NaN, 5, 3, 9]), [[1]], 2);
    expect(c.ids).toEqual([3, 1]);
    expect(c.lz).toBeNaN();
    expect(c.entropy).toBeNaN();
  });
});
