// Where a decode step's (or a prefill's) time goes, kernel by kernel: wraps every kernel export
// with a timer, then runs decode steps of BATCH sequences (default 1) at a context position, or
// prefills of `prefill` tokens. The wrapper costs ~1 µs a call, far below the ms the big kernels
// take. Converted models only (npm run weights -- convert; the bench leaves some in build/bench).
//   [BATCH=8] [STEPS=32] npx tsx test/bench/profile.ts <model-dir> [baseline|relaxed] [position] [prefill]
// e.g. npx tsx test/bench/profile.ts build/bench/gpt2-q4 relaxed 128

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadKernelModule, type KernelVariant, workerdCodegen } from "../../src/kernels/node.js";
import { loadModel } from "../../src/model/loader.js";
import type { Manifest } from "../../src/model/manifest.js";
import { modelDirStore } from "../helpers/fs-store.js";

const STEPS = Number(process.env.STEPS ?? 32);

const [dir, variant = "relaxed", at = "128", prefill = "0"] = process.argv.slice(2);
const P = Number(prefill);
const B = Number(process.env.BATCH ?? 1); // sequences per decode step
if (!dir) {
  console.error("usage: npx tsx test/bench/profile.ts <model-dir> [baseline|relaxed] [position]");
  process.exit(2);
}
// As the Worker compiles the kernels (explicit bounds checks) unless NODE_CODEGEN=1 asks for Node's.
if (!process.env.NODE_CODEGEN) workerdCodegen();
const m: Manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
const f32 = m.tensors.every((t) => t.dtype === "f32");
const lm = await loadModel(modelDirStore(dir, m.name), m.name, {
  kernels: loadKernelModule(variant as KernelVariant),
  budgetBytes: 2 ** 31,
  slots: B,
  rows: Math.max(B, P),
  logitRows: B,
  kv: f32 ? "f32" : "q8", // as the bench: int8 KV for quantized models
  cache: null,
});
const pos = Math.min(Number(at), m.config.n_ctx - 2 * STEPS);
if (!P && pos < 0) {
  // warm-up and timed steps both decode STEPS positions from pos: they must fit the context
  console.error(`STEPS=${STEPS}: 2 · STEPS decode positions do not fit n_ctx ${m.config.n_ctx}`);
  process.exit(2);
}
const k = lm.kernels as unknown as Record<string, unknown>;
const ms = new Map<string, number>();
for (const [name, f] of Object.entries(k)) {
  if (typeof f !== "function") continue;
  k[name] = (...args: number[]) => {
    const t0 = performance.now();
    (f as (...a: number[]) => void)(...args);
    ms.set(name, (ms.get(name) ?? 0) + performance.now() - t0);
  };
}
const token = (i: number) => (i * 7919) % m.config.n_vocab;
const prompt = Array.from({ length: P }, (_, i) => token(i));
const decode = (s: number, i: number) => ({ slot: s, pos0: pos + i, ids: [token(i + s)] });
const step = (i: number) =>
  lm.model.forward(
    P
      ? [{ slot: 0, pos0: 0, ids: prompt, logits: "last" }]
      : Array.from({ length: B }, (_, s) => ({ ...decode(s, i), logits: "last" as const })),
    () => {},
  );
for (let i = 0; i < STEPS; i++) step(i); // warm-up (V8 tiers the kernels up)
ms.clear();
const t0 = performance.now();
for (let i = STEPS; i < 2 * STEPS; i++) step(i);
const total = (performance.now() - t0) / STEPS;
console.log(
  `${m.name} (${dir}), ${variant}, ` +
    (P
      ? `prefill of ${P}: ${total.toFixed(2)} ms`
      : `decode of ${B} sequence(s) at position ${pos}: ${total.toFixed(2)} ms/step`) +
    ` (${((1000 * Math.max(B, P)) / total).toFixed(1)} tokens/s)`,
);
for (const [name, t] of [...ms].sort((a, b) => b[1] - a[1])) {
  console.log(
    `  ${name.padEnd(12)} ${(t / STEPS).toFixed(3).padStart(8)} ms  ${((100 * t) / STEPS / total).toFixed(1)}%`,
  );
}
