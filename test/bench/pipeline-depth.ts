// Bench section `pipeline-depth`: what micro-batches in flight buy, measured in Node: 3 stages
// whose work takes time as a real stage's does (a + c·rows ms a call in a later stage, remote, so
// this thread goes on meanwhile; 6/9 of that in the first, computed here, blocking this thread),
// 8 streams decoding with one batch in the pipeline at a time and with 3, and a 112-token prompt
// prefilled in 7 chunks. c = 2 ms a row: four 768-wide q4 layers of this code (0.5 ms a row each,
// measured in Node on the build machine), about a quarter of a gpt2-medium stage (9 layers 1024
// wide). Ideally 3 in flight decode ~2.7x and prefill ~2.2x as fast as 1; Node's timers (a ms at
// least) and its yields take some of it. A speed figure, so a bench row, not a test.
// Alone: npx tsx test/bench/pipeline-depth.ts

import { fileURLToPath } from "node:url";
import type { GenerationRequest } from "../../src/engine/sequence.js";
import type { GPT2 } from "../../src/model/gpt2.js";
import type { LoadedModel } from "../../src/model/loader.js";
import type { Segment } from "../../src/model/segments.js";
import { median, type Row } from "./row.js";
import { generate, greedyRequest, PROMPTS } from "../unit/helpers/generate.js";
import { loadStaged, LocalStages, pipelined } from "../unit/helpers/local-stages.js";

const [A_MS, C_MS] = [0.5, 2]; // a later stage's work on a call: A_MS + C_MS per row
const cost = (rows: number) => A_MS + C_MS * rows;
/** The first stage holds wte as well, so it gets fewer layers: 6 to the others' 9 (gpt2-medium q4). */
const FIRST = 6 / 9;

let whole: LoadedModel;
let parts: LoadedModel[];
/** The first stage's model, its layers taking cost(rows) of this thread as well. */
let first: GPT2;

async function setup() {
  ({ whole, parts } = await loadStaged(8));
  const own = parts[0].model;
  first = Object.create(own) as GPT2;
  first.forwardLayers = (segs: Segment[], input?: Float32Array) => {
    const x = own.forwardLayers(segs, input);
    const until = performance.now() + FIRST * cost(segs.reduce((n, s) => n + s.ids.length, 0));
    while (performance.now() < until); // compute: nothing else runs on this thread meanwhile
    return x;
  };
}

const greedy = greedyRequest;

/**
 * Run `reqs` at once through the 3 stages with `depth` batches in flight: tokens, ms in all, and
 * ms from the moment every stream has its first token (prefill done) to the end.
 */
async function timed(reqs: GenerationRequest[], depth: number) {
  const stages = new LocalStages(parts, (_i, b) => cost(b.segs.reduce((n, s) => n + s.n, 0)));
  // yield as workerd does, with setTimeout(0): a stage's answer that came in meanwhile goes first
  const yieldFn = () => new Promise<void>((r) => setTimeout(r, 0));
  const e = pipelined(stages, { depth, model: first, prefillChunk: 16, yieldFn });
  const t0 = performance.now();
  let decoding = 0;
  let started = 0;
  const out = await Promise.all(
    reqs.map((r) =>
      generate(e, r, (n) => {
        if (n === 1 && ++started === reqs.length) decoding = performance.now();
      }),
    ),
  );
  const end = performance.now();
  return { tokens: out.flat().length, ms: end - t0, decodeMs: end - decoding };
}

const ROUNDS = 5;

/** Decode tok/s of 8 streams and a 112-token prompt's time to first token at depth 1 and 3. */
export async function benchPipelineDepth(): Promise<Row[]> {
  await setup();
  const streams = Array.from({ length: 8 }, (_, i) =>
    greedy(whole.tokenizer.encode(PROMPTS[i % 6]), 32),
  );
  const prompt = whole.tokenizer.encode(PROMPTS.join("\n").repeat(4)).slice(0, 112);
  const rate: Record<number, number[]> = { 1: [], 3: [] };
  const prefill: Record<number, number[]> = { 1: [], 3: [] };
  // interleaved rounds: a neighbour's load falls on both depths alike
  for (let round = 0; round < ROUNDS; round++) {
    for (const depth of [1, 3]) {
      const d = await timed(streams, depth);
      rate[depth].push(((d.tokens - streams.length) / d.decodeMs) * 1000);
      prefill[depth].push((await timed([greedy(prompt, 1)], depth)).ms);
    }
  }
  const note = `3 stages in Node, a later stage's call ${A_MS} + ${C_MS}·rows ms; median of ${ROUNDS} interleaved rounds`;
  const [r1, r3, p1, p3] = [
    median(rate[1]),
    median(rate[3]),
    median(prefill[1]),
    median(prefill[3]),
  ];
  return [
    { name: "pipeline: 8 streams decoding, 1 batch in flight", value: r1, unit: "tok/s", note },
    {
      name: "pipeline: 8 streams decoding, 3 batches in flight",
      value: r3,
      unit: "tok/s",
      note: `${(r3 / r1).toFixed(2)}x of 1 in flight (ideal ~2.7x)`,
    },
    { name: "pipeline: 112-token prompt to first token, 1 in flight", value: p1, unit: "ms", note },
    {
      name: "pipeline: 112-token prompt to first token, 3 in flight",
      value: p3,
      unit: "ms",
      note: `${(p1 / p3).toFixed(2)}x as fast as 1 in flight (ideal ~2.2x)`,
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const row of await benchPipelineDepth())
    console.log(`${row.name}: ${row.value.toFixed(1)} ${row.unit} ${row.note ?? ""}`);
}
