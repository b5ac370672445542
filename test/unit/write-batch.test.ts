// How often a response body is written while a model generates (src/routes/write-batch.ts).

import { describe, expect, it } from "vitest";
import { flopsPerToken } from "../../src/engine/engine.js";
import type { ModelConfig } from "../../src/model/manifest.js";
import { MAX_STEPS_PER_WRITE, stepsPerWrite, WRITE_FLOPS } from "../../src/routes/write-batch.js";

const config = (L: number, C: number, V: number): ModelConfig => ({
  n_layer: L,
  n_embd: C,
  n_vocab: V,
  n_head: 4,
  n_ctx: 256,
  eps: 1e-5,
  eot_token: V - 1,
});

describe("stepsPerWrite", () => {
  it("Should write every step for GPT-2 124M and larger", () => {
    const gpt2 = config(12, 768, 50257);
    expect(flopsPerToken(gpt2)).toBe(2 * (12 * 12 * 768 * 768 + 50257 * 768));
    expect(stepsPerWrite(gpt2)).toBe(1);
    expect(stepsPerWrite(config(48, 1600, 50257))).toBe(1);
  });

  it("Should give the default tiny model's tokens at least WRITE_FLOPS per write", () => {
    const tiny = config(4, 256, 2048);
    const every = stepsPerWrite(tiny);
    expect(every).toBe(9);
    expect(every * flopsPerToken(tiny)).toBeGreaterThanOrEqual(WRITE_FLOPS);
    expect((every - 1) * flopsPerToken(tiny)).toBeLessThan(WRITE_FLOPS);
  });

  it("Should cap the steps a write waits for", () => {
    expect(stepsPerWrite(config(1, 32, 64))).toBe(MAX_STEPS_PER_WRITE);
  });
});
