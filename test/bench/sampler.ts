// Sampler benchmark: milliseconds to pick one token from GPT-2's 50,257 logits, per set of
// sampling parameters, and to score one (logprobs), as the Worker runs them: the logits in the
// relaxed kernel module's memory, compiled as workerd compiles it, so greedy, temperature alone,
// top_p, min_p and logprobs take the SIMD passes (src/sampler/logit-ops.ts). Beside each, the
// same on the f64 loops (logits outside any kernel memory). Medians over 7 runs of 100 tokens,
// the two interleaved.
// Alone: npx tsx test/bench/sampler.ts

import { fileURLToPath } from "node:url";
import { createKernels, workerdCodegen } from "../../src/kernels/node.js";
import { RESERVED_BYTES } from "../../src/kernels/types.js";
import {
  defaultSamplingParams,
  kernelLogitOps,
  logprobsOf,
  plainLogitOps,
  Rng,
  Sampler,
  type LogitOps,
  type SamplingParams,
} from "../../src/sampler/index.js";
import { median, type Row } from "./row.js";

const V = 50257;
const RUNS = 7;
const TOKENS = 100;

export async function benchSampler(): Promise<Row[]> {
  const { kernels } = createKernels(RESERVED_BYTES + 4 * V, "relaxed");
  const logits = new Float32Array(kernels.memory.buffer, RESERVED_BYTES, V);
  const r = new Rng(8);
  for (let i = 0; i < V; i++) logits[i] = (r.nextFloat() * 2 - 1) * 6;
  const cases: [string, Partial<SamplingParams> | "logprobs"][] = [
    ["greedy", { temperature: 0 }],
    ["temperature only", {}],
    ["top_k 40 + top_p 0.95", { top_k: 40, top_p: 0.95 }],
    ["top_p 0.9", { top_p: 0.9 }],
    ["min_p 0.05", { min_p: 0.05 }],
    ["logprobs (5 top)", "logprobs"],
  ];
  const fast = kernelLogitOps(kernels);
  return cases.map(([name, p]) => {
    const pick = (ops: LogitOps): (() => void) => {
      if (p === "logprobs") return () => void logprobsOf(logits, 17, 5, ops);
      const s = new Sampler({ ...defaultSamplingParams(), ...p }, new Rng(20), V, ops);
      return () => void s.sample(logits);
    };
    const [onKernels, onLoops] = [pick(fast), pick(plainLogitOps)];
    const time = (f: () => void) => {
      const t0 = performance.now();
      for (let i = 0; i < TOKENS; i++) f();
      return (performance.now() - t0) / TOKENS;
    };
    time(onKernels); // warm-up: tiers both up
    time(onLoops);
    const k: number[] = [];
    const l: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      k.push(time(onKernels));
      l.push(time(onLoops));
    }
    const [mk, ml] = [median(k), median(l)];
    return {
      name: `sampler V=${V}: ${name}`,
      value: mk,
      unit: "ms/token",
      note: `f64 loops ${ml.toFixed(3)} ms (${(ml / mk).toFixed(1)}x)`,
    };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  workerdCodegen();
  for (const row of await benchSampler())
    console.log(`${row.name}: ${row.value.toFixed(3)} ${row.unit}; ${row.note}`);
}
