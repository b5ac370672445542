// Sampler benchmark: milliseconds to sample one token from GPT-2's 50257 logits, per set of
// cut-offs (none, top_k + top_p, top_p, min_p): the median over 7 runs of 100 tokens each.
// Alone: npx tsx test/bench/sampler.ts

import { fileURLToPath } from "node:url";
import {
  defaultSamplingParams,
  Rng,
  Sampler,
  type SamplingParams,
} from "../../src/sampler/index.js";
import { median, type Row } from "./row.js";

const V = 50257;
const RUNS = 7;
const TOKENS = 100;

export async function benchSampler(): Promise<Row[]> {
  const r = new Rng(8);
  const logits = Float32Array.from({ length: V }, () => (r.nextFloat() * 2 - 1) * 6);
  const cases: [string, Partial<SamplingParams>][] = [
    ["temperature only", {}],
    ["top_k 40 + top_p 0.95", { top_k: 40, top_p: 0.95 }],
    ["top_p 0.9", { top_p: 0.9 }],
    ["min_p 0.05", { min_p: 0.05 }],
  ];
  return cases.map(([name, p]) => {
    const s = new Sampler({ ...defaultSamplingParams(), ...p }, new Rng(20), V);
    for (let i = 0; i < TOKENS; i++) s.sample(logits); // warm-up
    const ms: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now();
      for (let i = 0; i < TOKENS; i++) s.sample(logits);
      ms.push((performance.now() - t0) / TOKENS);
    }
    return { name: `sampler V=${V}: ${name}`, value: median(ms), unit: "ms/token" };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const row of await benchSampler())
    console.log(`${row.name}: ${row.value.toFixed(3)} ${row.unit}`);
}
