// Micro-batches in flight through a pipeline of 3 stages in Node (the Durable Objects' own code,
// calls that keep a stage busy for a while): both later stages working at once, a long prompt's
// prefill chunks flowing down one after another, only the rows that need logits coming back
// from the last stage; logits, greedy text and seeded samples the same as the model in one
// piece; cancelled sequences freed and evicted stages re-prefilled with other batches in flight.

import { beforeAll, describe, expect, it, vi } from "vitest";
import { Engine } from "../../src/engine/engine.js";
import type { GenerationRequest } from "../../src/engine/sequence.js";
import type { LoadedModel } from "../../src/model/loader.js";
import type { Segment } from "../../src/model/segments.js";
import type { StageAnswer, StageBatch } from "../../src/stage/protocol.js";
import { defaultSamplingParams } from "../../src/sampler/index.js";
import { linkTo } from "../../src/stage/links.js";
import { Pipeline, type StageLink } from "../../src/stage/pipeline.js";
import { generate, PROMPTS } from "./helpers/generate.js";
import { expectBits } from "./helpers/kernel-twins.js";
import { immediate, loadStaged, LocalStages, pipelined } from "./helpers/local-stages.js";

let whole: LoadedModel;
let parts: LoadedModel[];
/** A prompt of 100 tokens: 7 prefill chunks of 16 rows (the context is 128). */
let long: number[];

beforeAll(async () => {
  ({ whole, parts } = await loadStaged());
  long = whole.tokenizer.encode(PROMPTS.join("\n").repeat(4)).slice(0, 100);
});

const unstaged = () => new Engine(whole, { maxQueue: 64, prefillChunk: 16, yieldFn: immediate });

function request(prompt: string | number[], maxTokens: number, seed = -1): GenerationRequest {
  const sampled = { ...defaultSamplingParams(), temperature: 0.9, top_p: 0.95 };
  return {
    prompt: typeof prompt === "string" ? whole.tokenizer.encode(prompt) : prompt,
    maxTokens,
    sampling: seed < 0 ? { ...defaultSamplingParams(), temperature: 0 } : sampled,
    seed: BigInt(Math.max(seed, 1)),
    stopTokens: new Set(),
    logprobs: null,
    echoLogprobs: false,
  };
}

/** Each request alone, one after another, through the model in one piece. */
async function alone(reqs: GenerationRequest[]): Promise<number[][]> {
  const e = unstaged();
  const out = [];
  for (const r of reqs) out.push(await generate(e, r));
  return out;
}

const rowsOf = (segs: { n: number }[]) => segs.reduce((n, s) => n + s.n, 0);

describe("Micro-batches in flight through 3 stages", () => {
  it("Should give the whole model's logits bit for bit, rows wanting all, the last and none", async () => {
    const ids = long.slice(0, 40);
    const segs: Segment[] = [
      { slot: 0, pos0: 0, ids: ids.slice(0, 9), logits: "all" },
      { slot: 2, pos0: 0, ids: ids.slice(10, 15), logits: "last" },
      { slot: 1, pos0: 0, ids: ids.slice(20, 29), logits: "none" },
    ];
    const next: Segment[] = [
      { slot: 1, pos0: 9, ids: ids.slice(29, 33), logits: "last" },
      { slot: 0, pos0: 9, ids: [ids[9]], logits: "last" },
    ];
    const stages = new LocalStages(parts);
    const pipeline = new Pipeline(parts[0].model, stages.links(), parts[0].plan.slots);
    for (const step of [segs, next]) {
      const want: [number, number, Float32Array][] = [];
      whole.model.forward(step, (s, t, l) => want.push([s, t, l.slice()]));
      const got: [number, number, Float32Array][] = [];
      await pipeline.forward(step, (s, t, l) => got.push([s, t, l.slice()]));
      expect(got.map(([s, t]) => [s, t])).toEqual(want.map(([s, t]) => [s, t]));
      got.forEach(([, , l], i) => expectBits(l, want[i][2]));
    }
  });

  it("Should keep both later stages working at once with 6 streams, with the same greedy text", async () => {
    const reqs = PROMPTS.map((p) => request(p, 20));
    const want = await alone(reqs);
    const busy: number[] = [];
    for (const depth of [1, 3]) {
      const stages = new LocalStages(parts, () => 2);
      const e = pipelined(stages, { depth });
      expect(await Promise.all(reqs.map((r) => generate(e, r)))).toEqual(want);
      busy.push(stages.maxBusy);
    }
    expect(busy).toEqual([1, 2]); // one batch at a time leaves one stage idle; three do not
  });

  it("Should decode 4 streams together when every step is back before the next one starts", async () => {
    // later stages that answer within this turn, as stage objects on workerd's one thread do
    // under wrangler dev: a step's share of the decoding sequences used to go to the same ones
    // whenever theirs came back first, the others waiting for them to finish
    const N = 30;
    const reqs = PROMPTS.slice(0, 4).map((p) => request(p, N));
    const want = await alone(reqs);
    const stages = new LocalStages(parts);
    const quick: StageLink[] = stages.layers.map((l, k) => ({
      index: k + 1,
      forward: async (b) => l.forward(structuredClone(b)),
    }));
    const pipeline = new Pipeline(parts[0].model, quick, parts[0].plan.slots);
    const e = new Engine({ ...parts[0], model: pipeline }, { maxQueue: 8, prefillChunk: 16 });
    const got = reqs.map(() => 0);
    let whenFirstDone: number[] | null = null;
    const out = await Promise.all(
      reqs.map((r, i) =>
        generate(e, r, (n) => {
          got[i] = n;
          if (n === N) whenFirstDone ??= got.slice();
        }),
      ),
    );
    expect(out).toEqual(want);
    // each within a few tokens of the first to finish (unequal prompts start them apart)
    expect(Math.min(...whenFirstDone!), `${whenFirstDone}`).toBeGreaterThanOrEqual(N - 4);
  });

  it("Should send a long prompt's chunks down one after another, each stage in position order", async () => {
    const [want] = await alone([request(long, 8)]);
    const stages = new LocalStages(parts, () => 2);
    const e = pipelined(stages);
    expect(await generate(e, request(long, 8))).toEqual(want);
    expect(stages.maxBusy).toBe(2); // chunk k+1 at stage 1 while chunk k is at stage 2
    expect(stages.maxCalls).toBe(1);
    for (const stage of [1, 2]) {
      const pos = stages.log.filter((c) => c.stage === stage).flatMap((c) => c.batch.segs);
      expect(pos.map((s) => s.pos0)).toEqual(pos.map((_, i) => (i < 7 ? 16 * i : 100 + i - 7)));
    }
  });

  it("Should get back from the last stage only the rows that need logits", async () => {
    const C = whole.manifest.config.n_embd;
    const stages = new LocalStages(parts);
    const e = pipelined(stages);
    await Promise.all([generate(e, request(long, 4)), generate(e, request(PROMPTS[1], 4))]);
    const [first, last] = [1, 2].map((i) => stages.log.filter((c) => c.stage === i));
    for (const c of first) expect(c.floats).toBe(rowsOf(c.batch.segs) * C); // every row onward
    for (const c of last) expect(c.floats).toBe(c.batch.keep!.length * C);
    // a prefill chunk before a prompt's last sends nothing back; a decode row sends back its own
    expect(last.filter((c) => rowsOf(c.batch.segs) === 16 && c.floats === 0).length).toBe(6);
    expect(last.every((c) => c.batch.keep!.length <= c.batch.segs.length)).toBe(true);
    // a row the batch does not have is refused, not sent back as zeros
    const bad = { epoch: "e", free: [], segs: [{ id: 1, pos0: 0, n: 2 }], keep: [2] };
    const answer = stages.layers[1].forward({ ...bad, rows: new Float32Array(2 * C) });
    expect(answer).toMatchObject({ fault: { message: expect.stringMatching(/rows 2 of 2/) } });
  });

  it("Should give 16 concurrent seeded sampled requests the text each gets alone, calls of uneven delay", async () => {
    const reqs = Array.from({ length: 16 }, (_, i) =>
      request(i % 5 === 0 ? long.slice(0, 40 + i) : PROMPTS[i % 6], 12, 1000 + i),
    );
    const want = await alone(reqs);
    let k = 7;
    const stages = new LocalStages(parts, () => (k = (k * 1103515245 + 12345) % 2 ** 31) % 4);
    const e = pipelined(stages);
    expect(await Promise.all(reqs.map((r) => generate(e, r)))).toEqual(want);
    expect(stages.maxBusy).toBe(2);
    expect(stages.maxCalls).toBe(1); // each stage takes its batches one at a time, in order
  });

  it("Should free cancelled sequences in every stage while other batches are in flight", async () => {
    const stages = new LocalStages(parts, () => 1);
    const e = pipelined(stages);
    const seqs = PROMPTS.slice(0, 4).map((p) => e.submit(request(p, 100)));
    let tokens = 0;
    const runs = seqs.map((s) => e.run(s, () => void tokens++));
    while (tokens < 12) await immediate();
    expect(stages.used).toEqual([4, 4]);
    seqs[0].cancelled = seqs[2].cancelled = true;
    const at = e.stats.steps;
    expect(await Promise.all([runs[0], runs[2]])).toEqual([null, null]);
    while (stages.used.some((u) => u !== 2)) await new Promise((r) => setTimeout(r, 1));
    expect(e.stats.steps - at).toBeLessThanOrEqual(2 * e.depth); // within a round or two
    // the others leave mid-step: their drivers are gone before their rows come back
    stages.onCall = () => {
      stages.onCall = undefined;
      seqs[1].cancelled = seqs[3].cancelled = true;
    };
    await Promise.all(runs);
    for (let i = 0; i < 50 && stages.used.some((u) => u); i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(stages.used).toEqual([0, 0]);
    expect(e.snapshot()).toMatchObject({ running: 0, waiting: 0 });
  });

  it("Should re-prefill a stage evicted while a long prompt's chunks and other batches are in flight", async () => {
    const reqs = [request(long, 10), request(PROMPTS[2], 30), request(PROMPTS[3], 30)];
    const e0 = unstaged(); // together: one engine, since two would share the model's KV slots
    const want = await Promise.all(reqs.map((r) => generate(e0, r)));
    const stages = new LocalStages(parts, () => 1);
    let calls = 0;
    stages.onCall = (i) => {
      if (i === 2 && ++calls === 4) stages.evict(1); // stage 1 empties with chunks at both stages
    };
    const e = pipelined(stages);
    expect(await Promise.all(reqs.map((r) => generate(e, r)))).toEqual(want);
    expect(e.lm.model.replays).toBeGreaterThan(0);
  });

  it("Should fail every batch waiting on a stage that stops answering within one timeout, then serve", async () => {
    const stages = new LocalStages(parts, () => 1);
    const [one, two] = stages.links();
    let answering = true;
    let unanswered = 0; // calls that reached stage 2 while it was silent
    // stage 2 through the real link (timeout 100 ms, one retry) to an object that may go silent
    const rpc = {
      forward: (b: StageBatch) =>
        answering ? two.forward(b) : (unanswered++, new Promise<StageAnswer>(() => {})),
    };
    const silent = linkTo({ getByName: () => rpc }, 2, "default", undefined, 100);
    const pipeline = new Pipeline(parts[0].model, [one, silent], parts[0].plan.slots);
    const e = new Engine({ ...parts[0], model: pipeline }, { maxQueue: 8, prefillChunk: 64 });
    let tokens = 0;
    const runs = PROMPTS.slice(1, 4).map((p) =>
      generate(e, request(p, 60), () => {
        if (++tokens === 9) answering = false; // three batches in flight
      }),
    );
    const results = await Promise.allSettled(runs);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/stage 2 is unreachable/);
    expect(unanswered).toBe(2); // one call and its retry time out; the batches behind it fail with it
    for (let i = 0; i < 50 && stages.used[0]; i++) await new Promise((r) => setTimeout(r, 2));
    expect(stages.used[0]).toBe(0); // the failed sequences are freed in the stage that answers
    answering = true;
    const [want] = await alone([request(PROMPTS[1], 4)]);
    expect(await generate(e, request(PROMPTS[1], 4))).toEqual(want);
  });

  it("Should fail a step in flight past the engine's limit at once, and hold its slots until it settles", async () => {
    const stages = new LocalStages(parts);
    const [one, two] = stages.links();
    let [hold, letGo] = [false, null as (() => void) | null];
    const held: StageLink = {
      index: 2,
      forward: (b) =>
        new Promise((r) => {
          const go = () => r(two.forward(b));
          if (hold && b.segs.length) letGo = go;
          else go();
        }),
    };
    const pipeline = new Pipeline(parts[0].model, [one, held], parts[0].plan.slots);
    const e = new Engine({ ...parts[0], model: pipeline }, { maxQueue: 8, prefillChunk: 16 });
    const seq = e.submit(request(PROMPTS[0], 50));
    let tokens = 0;
    const run = e.run(seq, () => void (++tokens === 3 && (hold = true)));
    while (!letGo) await immediate(); // a step's call to stage 2 is held
    const real = performance.now.bind(performance);
    const clock = vi.spyOn(performance, "now").mockImplementation(() => real() + 11 * 60_000);
    try {
      await expect(run).rejects.toThrow(/interrupted/); // its step has been in flight 11 min
    } finally {
      clock.mockRestore();
    }
    // failed, but its slot is kept: its rows are still in the pipeline
    expect(e.snapshot()).toMatchObject({ running: 1, interrupted: 1 });
    expect(stages.used).toEqual([1, 1]);
    hold = false;
    letGo();
    for (let i = 0; i < 50 && stages.used.some((u) => u); i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(stages.used).toEqual([0, 0]);
    expect(e.snapshot()).toMatchObject({ running: 0 });
  });
});
