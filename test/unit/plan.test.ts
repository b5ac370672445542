// The memory plan at real GPT-2 scale, from manifests laid out exactly as the converter lays them
// out (weights/shard.ts layoutImage) but without any weights: what fits a 112 MiB isolate, which
// KV dtype and context planServing picks, and what the refusal says.

import { describe, expect, it } from "vitest";
import {
  kvAddress,
  MIN_CONTEXT,
  ModelTooLargeError,
  planMemory,
  planServing,
  type MemoryPlan,
} from "../../src/model/plan";
import { shapeManifest as manifest } from "./helpers/shapes";

const MiB = 2 ** 20;
const BUDGET = 112 * MiB; // MEMORY_BUDGET_MB in wrangler.toml
const SERVE = { budgetBytes: BUDGET, rows: 64, logitRows: 8 }; // as src/index.ts loads models

const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
const describePlan = (p: MemoryPlan) =>
  `${mib(p.totalBytes)} = weights ${mib(p.breakdown.weights)} + KV ${mib(p.breakdown.kv)} ` +
  `(${p.kvDtype}, ${p.slots} slot(s) x ${p.context}) + scratch ${mib(p.breakdown.scratch)}`;

describe("GPT-2 124M in one isolate", () => {
  it("Should fit as q4 in 112 MiB with a 1024-token context for one sequence (int8 KV)", () => {
    const m = manifest("gpt2", "q4");
    const p = planServing(m, { ...SERVE, slots: 16 });
    console.log(`gpt2 q4: ${describePlan(p)}`);
    expect(p.context).toBe(1024);
    expect(p.kvDtype).toBe("q8");
    expect(p.slots).toBeGreaterThanOrEqual(1);
    expect(p.totalBytes).toBeLessThanOrEqual(BUDGET);
    // f32 KV at 1024 is 72 MiB alone: it cannot fit next to ~77 MiB of q4 weights
    expect(() => planMemory(m, { ...SERVE, slots: 1, kv: "f32" })).toThrow(ModelTooLargeError);
  });

  it("Should size q4 at 0.625 and q8 at 1.125 bytes per quantized weight", () => {
    const f32 = manifest("gpt2", "f32").image_bytes;
    const q8 = manifest("gpt2", "q8").image_bytes;
    const q4 = manifest("gpt2", "q4").image_bytes;
    const small = 124439808 - 38597376 - 84934656; // wpe, biases, LayerNorms: f32 in every dtype
    expect(f32).toBeGreaterThanOrEqual(124439808 * 4);
    expect(Math.abs(q8 - (123532032 * 1.125 + small * 4))).toBeLessThan(4096); // alignment only
    expect(Math.abs(q4 - (123532032 * 0.625 + small * 4))).toBeLessThan(4096);
    console.log(`gpt2 image: f32 ${mib(f32)}, q8 ${mib(q8)}, q4 ${mib(q4)}`);
  });

  it("Should refuse q8 (and q8 + q4 wte) with the numbers and the q4 fix", () => {
    for (const m of [manifest("gpt2", "q8"), manifest("gpt2", "q8", "q4")]) {
      let err: unknown;
      try {
        planServing(m, { ...SERVE, slots: 1 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ModelTooLargeError);
      const msg = (err as Error).message;
      expect(msg).toMatch(/needs \d+\.\d MiB of WASM memory \(weights \d+\.\d MiB q8/);
      expect(msg).toMatch(/int8 for 1 slot\(s\) at context 256/); // the smallest plan tried
      expect(msg).toMatch(/budget is 112\.0 MiB/);
      expect(msg).toMatch(/--dtype q4\b/);
      expect(msg).not.toMatch(/--embedding-dtype/);
      expect(msg).not.toMatch(/--dtype q8 or q4/);
    }
  });

  it("Should refuse f32 with the quantization fix, and q4 under a tiny budget with stages", () => {
    expect(() => planServing(manifest("gpt2", "f32"), { ...SERVE, slots: 1 })).toThrow(
      /--dtype q8 or q4/,
    );
    expect(() =>
      planServing(manifest("gpt2", "q4"), { ...SERVE, budgetBytes: 64 * MiB, slots: 1 }),
    ).toThrow(/pipeline stages/);
  });

  it("Should cap the context (a multiple of 64, at least 256) when 1024 does not fit", () => {
    const m = manifest("gpt2", "q4");
    const p = planServing(m, { ...SERVE, budgetBytes: 90 * MiB, slots: 4 });
    console.log(`gpt2 q4 at 90 MiB: ${describePlan(p)}`);
    expect(p.slots).toBe(1);
    expect(p.context % 64).toBe(0);
    expect(p.context).toBeGreaterThanOrEqual(MIN_CONTEXT);
    expect(p.context).toBeLessThan(1024);
    expect(p.totalBytes).toBeLessThanOrEqual(90 * MiB);
    expect(() =>
      planMemory(m, {
        ...SERVE,
        budgetBytes: 90 * MiB,
        slots: 1,
        kv: "q8",
        context: p.context + 64,
      }),
    ).toThrow(ModelTooLargeError);
  });
});

describe("planServing's choices", () => {
  it("Should keep the exact f32 KV cache when every wanted slot fits (tiny shapes)", () => {
    const m = manifest("gpt2", "q4");
    const small = { ...m, config: { ...m.config, n_ctx: 256 }, image_bytes: 2 * MiB };
    const p = planServing(small, { ...SERVE, slots: 4 });
    expect([p.kvDtype, p.slots, p.context]).toEqual(["f32", 4, 256]);
  });

  it("Should trade f32 KV for int8 KV when that serves more sequences (distilgpt2 q4)", () => {
    const m = manifest("distilgpt2", "q4");
    const p = planServing(m, { ...SERVE, slots: 16 });
    console.log(`distilgpt2 q4: ${describePlan(p)}`);
    expect(p.kvDtype).toBe("q8");
    expect(p.context).toBe(1024);
    expect(p.slots).toBeGreaterThan(planServing(m, { ...SERVE, slots: 16, kv: "f32" }).slots);
  });

  it("Should honour a forced KV dtype and a shorter context", () => {
    const m = manifest("distilgpt2", "q4");
    const p = planServing(m, { ...SERVE, slots: 2, kv: "f32", context: 512 });
    expect([p.kvDtype, p.context, p.slots]).toEqual(["f32", 512, 2]);
  });

  it("Should never use int8 KV when a head is not a whole number of 32-value blocks", () => {
    const m = manifest("gpt2", "q4");
    const odd = { ...m, config: { ...m.config, n_head: 16 } }; // HS = 48
    const p = planServing(odd, { ...SERVE, slots: 1 });
    expect(p.kvDtype).toBe("f32");
    expect(p.context).toBeLessThan(1024);
  });

  it("Should lay buffers out without overlap, KV slots inside the KV region", () => {
    const m = manifest("gpt2", "q4");
    const p = planServing(m, { ...SERVE, slots: 16 });
    const c = m.config;
    const C = c.n_embd;
    const spans: [string, number, number][] = [
      ["weights", p.weights, m.image_bytes],
      ["kv", p.kv, p.slots * p.kvSlotBytes],
      ["x", p.x, 64 * C * 4],
      ["qkv", p.qkv, 64 * 3 * C * 4],
      ["fc", p.fc, 64 * 4 * C * 4],
      ["att", p.att, c.n_head * 64 * p.context * 4],
      ["logits", p.logits, 8 * c.n_vocab * 4],
      ["xq", p.xq, 64 * 4 * C],
      ["xs", p.xs, (64 * 4 * C) / 8],
    ];
    spans.sort((a, b) => a[1] - b[1]);
    for (let i = 1; i < spans.length; i++) {
      expect(spans[i][1], `${spans[i][0]} overlaps ${spans[i - 1][0]}`).toBeGreaterThanOrEqual(
        spans[i - 1][1] + spans[i - 1][2],
      );
    }
    const last = kvAddress(p, c, p.slots - 1, c.n_layer - 1, 1);
    expect(last.scales + (p.context * C) / 8).toBeLessThanOrEqual(p.kv + p.slots * p.kvSlotBytes);
    expect(spans.at(-1)![1] + spans.at(-1)![2]).toBeLessThanOrEqual(p.totalBytes);
  });
});
