// Checks of the float64 reference forward pass (test/reference/gpt2-f64.ts) on a tiny random
// model written as a safetensors checkpoint: hand computations and invariants.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  geluNew,
  loadReference,
  referenceForward,
  referenceLoss,
  referenceNextLogits,
  type RefModel,
} from "../reference/gpt2-f64";
import { writeSafetensorsF32 } from "../reference/safetensors";

// ---------------------------------------------------------------------------------------------
// A random synthetic model: L=2, C=8, NH=2 (HS=4), V=11, n_ctx=16, F=4C=32.

const S = { L: 2, C: 8, NH: 2, V: 11, n_ctx: 16, F: 32, eps: 0.01 }; // eps large so a hard-coded 1e-5 shows

/** mulberry32: a tiny seeded PRNG so the synthetic weights are the same on every run. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Raw = Record<string, { shape: number[]; data: Float32Array }>;

function syntheticTensors(seed: number): Raw {
  const rand = mulberry32(seed);
  const t = (shape: number[], base = 0) => ({
    shape,
    data: Float32Array.from(
      { length: shape.reduce((a, b) => a * b) },
      () => base + (rand() * 2 - 1),
    ),
  });
  const { L, C, V, n_ctx, F } = S;
  // The `transformer.` prefix and the mask buffer, as in a GPT2LMHeadModel state_dict.
  const raw: Raw = { "transformer.wte.weight": t([V, C]), "transformer.wpe.weight": t([n_ctx, C]) };
  for (let l = 0; l < L; l++) {
    const p = `transformer.h.${l}.`;
    Object.assign(raw, {
      [p + "ln_1.weight"]: t([C], 1),
      [p + "ln_1.bias"]: t([C]),
      [p + "attn.c_attn.weight"]: t([C, 3 * C]),
      [p + "attn.c_attn.bias"]: t([3 * C]),
      [p + "attn.c_proj.weight"]: t([C, C]),
      [p + "attn.c_proj.bias"]: t([C]),
      [p + "attn.bias"]: t([1, 1, n_ctx, n_ctx]),
      [p + "ln_2.weight"]: t([C], 1),
      [p + "ln_2.bias"]: t([C]),
      [p + "mlp.c_fc.weight"]: t([C, F]),
      [p + "mlp.c_fc.bias"]: t([F]),
      [p + "mlp.c_proj.weight"]: t([F, C]),
      [p + "mlp.c_proj.bias"]: t([C]),
    });
  }
  return Object.assign(raw, {
    "transformer.ln_f.weight": t([C], 1),
    "transformer.ln_f.bias": t([C]),
  });
}

function writeModel(dir: string, raw: Raw): void {
  const config = {
    model_type: "gpt2",
    activation_function: "gelu_new",
    vocab_size: S.V,
    n_positions: S.n_ctx,
    n_ctx: S.n_ctx,
    n_embd: S.C,
    n_layer: S.L,
    n_head: S.NH,
    n_inner: null,
    layer_norm_epsilon: S.eps,
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  writeSafetensorsF32(join(dir, "model.safetensors"), raw);
}

// Hand computation, straight from the raw float32 tensors, for one token vector at a time.
const vec = (raw: Raw, name: string) => Array.from(raw["transformer." + name].data);
function ln(x: number[], w: number[], b: number[]): number[] {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + S.eps)) * w[i] + b[i]);
}
function linear(x: number[], w: number[], b: number[]): number[] {
  return b.map((bj, j) => x.reduce((a, xi, i) => a + xi * w[i * b.length + j], bj)); // w is [in][out]
}
const embed = (raw: Raw, tok: number, pos: number) =>
  vec(raw, "wte.weight")
    .slice(tok * S.C, (tok + 1) * S.C)
    .map((v, i) => v + vec(raw, "wpe.weight")[pos * S.C + i]);

describe("reference forward pass on a random synthetic model", () => {
  let dir: string;
  let raw: Raw;
  let m: RefModel;
  const tokens = [3, 0, 10, 7, 7, 1, 4, 9, 2];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "gpt2-ref-"));
    raw = syntheticTensors(42);
    writeModel(dir, raw);
    m = loadReference(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("Should read config.json (n_inner null = 4C, eps) and strip the transformer. prefix", () => {
    expect(m.config).toEqual({
      n_vocab: 11,
      n_ctx: 16,
      n_embd: 8,
      n_layer: 2,
      n_head: 2,
      eps: 0.01,
      n_inner: 32,
    });
    expect(m.h[1].c_fc_w.length).toBe(8 * 32);
    expect(m.wte[5]).toBe(raw["transformer.wte.weight"].data[5]);
  });

  it("Should implement gelu_new (tanh form) at known values", () => {
    expect(geluNew(0)).toBe(0);
    expect(geluNew(1)).toBeCloseTo(0.8411919906082768, 15);
    expect(geluNew(-1)).toBeCloseTo(-0.15880800939172324, 15);
    expect(geluNew(3)).toBeCloseTo(2.996362607918227, 15);
  });

  it("Should match a hand computation of position 0, where attention returns v0 itself", () => {
    // At T = 1 the softmax has one entry, so each attention layer outputs v of token 0.
    const { C, L, V } = S;
    let x = embed(raw, tokens[0], 0);
    for (let l = 0; l < L; l++) {
      const p = `h.${l}.`;
      const a = ln(x, vec(raw, p + "ln_1.weight"), vec(raw, p + "ln_1.bias"));
      const v = linear(
        a,
        vec(raw, p + "attn.c_attn.weight"),
        vec(raw, p + "attn.c_attn.bias"),
      ).slice(2 * C);
      const o = linear(v, vec(raw, p + "attn.c_proj.weight"), vec(raw, p + "attn.c_proj.bias"));
      x = x.map((xi, i) => xi + o[i]);
      const h = ln(x, vec(raw, p + "ln_2.weight"), vec(raw, p + "ln_2.bias"));
      const f = linear(h, vec(raw, p + "mlp.c_fc.weight"), vec(raw, p + "mlp.c_fc.bias"));
      const y = linear(
        f.map(geluNew),
        vec(raw, p + "mlp.c_proj.weight"),
        vec(raw, p + "mlp.c_proj.bias"),
      );
      x = x.map((xi, i) => xi + y[i]);
    }
    const hf = ln(x, vec(raw, "ln_f.weight"), vec(raw, "ln_f.bias"));
    const wte = vec(raw, "wte.weight");
    const expected = Array.from({ length: V }, (_, v) =>
      hf.reduce((a, hi, i) => a + hi * wte[v * C + i], 0),
    );
    const got = referenceForward(m, tokens).logits[0];
    expected.forEach((e, v) => expect(got[v]).toBeCloseTo(e, 10));
  });

  it("Should match a hand computation of layer 0's attention at position 1 (q|k split, 1/sqrt(HS))", () => {
    const { C, NH } = S;
    const HS = C / NH;
    const qkv = [0, 1].map((t) =>
      linear(
        ln(embed(raw, tokens[t], t), vec(raw, "h.0.ln_1.weight"), vec(raw, "h.0.ln_1.bias")),
        vec(raw, "h.0.attn.c_attn.weight"),
        vec(raw, "h.0.attn.c_attn.bias"),
      ),
    );
    const att = referenceForward(m, tokens.slice(0, 2), { attention: true }).attention!;
    for (let h = 0; h < NH; h++) {
      const q = qkv[1].slice(h * HS, (h + 1) * HS);
      const s = [0, 1].map((j) => {
        const k = qkv[j].slice(C + h * HS, C + (h + 1) * HS);
        return q.reduce((a, qi, i) => a + qi * k[i], 0) / Math.sqrt(HS);
      });
      const p0 = 1 / (1 + Math.exp(s[1] - s[0])); // two-way softmax
      expect(att[0][h][2 + 0]).toBeCloseTo(p0, 12);
      expect(att[0][h][2 + 1]).toBeCloseTo(1 - p0, 12);
      expect(att[0][h][0]).toBe(1); // position 0 attends only to itself
      expect(att[0][h][1]).toBe(0); // masked
    }
  });

  it("Should give uniform attention over the prefix when q and k are zero", () => {
    const zeroed: RefModel = {
      ...m,
      h: m.h.map((b) => ({ ...b, c_attn_w: b.c_attn_w.slice(), c_attn_b: b.c_attn_b.slice() })),
    };
    for (const b of zeroed.h) {
      for (let i = 0; i < S.C; i++) b.c_attn_w.fill(0, i * 3 * S.C, i * 3 * S.C + 2 * S.C); // q, k columns
      b.c_attn_b.fill(0, 0, 2 * S.C);
    }
    const T = tokens.length;
    const att = referenceForward(zeroed, tokens, { attention: true }).attention!;
    for (const layer of att) {
      for (const head of layer) {
        for (let t = 0; t < T; t++) {
          for (let j = 0; j < T; j++)
            expect(head[t * T + j]).toBeCloseTo(j <= t ? 1 / (t + 1) : 0, 14);
        }
      }
    }
  });

  it("Should be causal: a prefix's logits do not depend on later tokens", () => {
    const full = referenceForward(m, tokens).logits;
    for (const n of [1, 4, 8]) {
      const prefix = referenceForward(m, tokens.slice(0, n)).logits;
      for (let t = 0; t < n; t++) expect(Array.from(prefix[t])).toEqual(Array.from(full[t]));
    }
    expect(Array.from(referenceNextLogits(m, tokens))).toEqual(Array.from(full[tokens.length - 1]));
  });

  it("Should permute the logits when the vocabulary rows of wte are permuted", () => {
    const perm = [4, 9, 0, 2, 10, 1, 7, 3, 8, 6, 5]; // id j becomes perm[j]
    const wte = new Float64Array(m.wte.length);
    perm.forEach((pj, j) => wte.set(m.wte.subarray(j * S.C, (j + 1) * S.C), pj * S.C));
    const a = referenceForward(m, tokens).logits;
    const b = referenceForward(
      { ...m, wte },
      tokens.map((j) => perm[j]),
    ).logits;
    a.forEach((row, t) => perm.forEach((pj, j) => expect(b[t][pj]).toBe(row[j])));
  });

  it("Should compute the loss as the mean next-token cross-entropy of the logits", () => {
    const logits = referenceForward(m, tokens).logits;
    let total = 0;
    for (let t = 0; t + 1 < tokens.length; t++) {
      const z = Array.from(logits[t]);
      total += Math.log(z.reduce((a, v) => a + Math.exp(v), 0)) - z[tokens[t + 1]];
    }
    expect(referenceLoss(m, tokens)).toBeCloseTo(total / (tokens.length - 1), 12);
  });

  it("Should reject out-of-vocabulary ids and sequences longer than n_ctx", () => {
    expect(() => referenceForward(m, [11])).toThrow(/outside the vocabulary/);
    expect(() => referenceForward(m, new Array(17).fill(0))).toThrow(/1\.\.16/);
  });
});
