// Checks of the float64 reference forward pass (test/reference/gpt2-f64.ts): on a tiny random
// model written as a safetensors checkpoint, hand computations and invariants; on the bundled
// tiny-shakespeare model, finite logits, proper attention, a plausible loss, a golden greedy run.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  geluNew,
  loadReference,
  referenceForward,
  referenceLoss,
  referenceNextLogits,
  type RefModel,
} from "../reference/gpt2-f64";
import { greedyTokenize } from "../reference/greedy-tokenize";
import { writeSafetensorsF32 } from "../reference/safetensors";
import { mulberry32 } from "./helpers/random";

// ---------------------------------------------------------------------------------------------
// A random synthetic model: L=2, C=8, NH=2 (HS=4), V=11, n_ctx=16, F=4C=32.

const S = { L: 2, C: 8, NH: 2, V: 11, n_ctx: 16, F: 32, eps: 0.01 }; // eps large so a hard-coded 1e-5 shows

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
    expect(m.h[1].c_fc.w.length).toBe(8 * 32);
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
      h: m.h.map((b) => ({ ...b, c_attn: { w: b.c_attn.w.slice(), b: b.c_attn.b.slice() } })),
    };
    for (const b of zeroed.h) {
      for (let i = 0; i < S.C; i++) b.c_attn.w.fill(0, i * 3 * S.C, i * 3 * S.C + 2 * S.C); // q, k columns
      b.c_attn.b.fill(0, 0, 2 * S.C);
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

// ---------------------------------------------------------------------------------------------
// The bundled model: L=4, C=256, NH=4, V=2048, n_ctx=256.
const TINY = fileURLToPath(new URL("../../weights/tiny-shakespeare", import.meta.url));

// Coriolanus I.i, the opening of the Tiny Shakespeare corpus (so training text: the model's train
// loss is 3.66 nats, held-out 4.15; greedy tokenization costs a little more than true BPE).
const PASSAGE = `First Citizen:
Before we proceed any further, hear me speak.

All:
Speak, speak.

First Citizen:
You are all resolved rather to die than to famish?

All:
Resolved. resolved.

First Citizen:
First, you know Caius Marcius is chief enemy to the people.

All:
We know't, we know't.

First Citizen:
Let us kill him, and we'll have corn at our own price.
Is't a verdict?

All:
No more talking on't; let it be done: away, away!

Second Citizen:
One word, good citizens.

First Citizen:
We are accounted poor citizens, the patricians good.
What authority surfeits on would relieve us: if they
would yield us but the superfluity, while it were
wholesome, we might guess they relieved us humanely;
`;

describe("reference forward pass on tiny-shakespeare", () => {
  let m: RefModel;
  let vocab: Record<string, number>;
  beforeAll(() => {
    m = loadReference(TINY);
    vocab = JSON.parse(readFileSync(join(TINY, "vocab.json"), "utf8"));
  });

  it("Should give finite logits and causal attention rows that sum to 1", () => {
    const tokens = greedyTokenize(vocab, PASSAGE).slice(0, 64);
    const { logits, attention } = referenceForward(m, tokens, { attention: true });
    expect(logits.length).toBe(64);
    for (const row of logits) {
      expect(row.length).toBe(2048);
      expect(row.every(Number.isFinite)).toBe(true);
    }
    expect(attention!.length).toBe(4);
    for (const layer of attention!) {
      expect(layer.length).toBe(4);
      for (const head of layer) {
        for (let t = 0; t < 64; t++) {
          const row = head.subarray(t * 64, (t + 1) * 64);
          expect(row.reduce((a, p) => a + p, 0)).toBeCloseTo(1, 12);
          expect(row.subarray(t + 1).every((p) => p === 0)).toBe(true);
        }
      }
    }
  });

  it("Should score a Shakespeare passage well below the uniform ln(2048) = 7.62 nats", () => {
    const tokens = greedyTokenize(vocab, PASSAGE).slice(0, 200);
    expect(tokens.length).toBe(200);
    const loss = referenceLoss(m, tokens);
    expect(loss).toBeLessThan(5.5); // measured 3.39
    expect(loss).toBeGreaterThan(1); // a much lower loss would mean the targets leak
  });

  it("Should greedily continue 'ROMEO:\\n' with the known 30 tokens", () => {
    // A golden vector for the engine too: the smallest top-1/top-2 logit gap on the way is 0.008,
    // far above float32 kernel error (~1e-5), so an f32 engine must produce the same ids.
    const tokens = [vocab["ROMEO"], vocab[":"], vocab["Ċ"]];
    expect(tokens).toEqual([858, 25, 198]);
    for (let i = 0; i < 30; i++) {
      const logits = referenceNextLogits(m, tokens);
      let best = 0;
      for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
      tokens.push(best);
    }
    // "ROMEO:\nI'll not a man.\n\nROMEO:\nI'll not, I'll not.\n\nROMEO:\nI'll not, I'll"
    expect(tokens.slice(3)).toEqual([
      40, 455, 321, 258, 460, 13, 198, 198, 858, 25, 198, 40, 455, 321, 11, 291, 455, 321, 13, 198,
      198, 858, 25, 198, 40, 455, 321, 11, 291, 455,
    ]);
  });
});
