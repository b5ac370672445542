// Checks of the float64 reference forward pass (test/reference/gpt2-f64.ts) on the bundled
// tiny-shakespeare model: finite logits, proper attention, a plausible loss, a golden greedy run.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  loadReference,
  referenceForward,
  referenceLoss,
  referenceNextLogits,
  type RefModel,
} from "../reference/gpt2-f64";
import { greedyTokenize } from "../reference/greedy-tokenize";

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
