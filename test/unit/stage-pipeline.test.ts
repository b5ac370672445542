// The engine over a pipeline of stages in Node, with the Durable Objects' own code (Pipeline,
// StageLayers, SequenceSlots) and the RPC replaced by calls in this process: greedy text equal
// to the unstaged engine's, batched and queued; a stage that comes back empty mid-generation
// re-prefilled from the first stage's token ids; ended sequences freed in every stage.

import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.js";
import type { LoadedModel } from "../../src/model/loader.js";
import { Pipeline, type StageLink } from "../../src/stage/pipeline.js";
import { generate, greedyRequest, PROMPTS } from "./helpers/generate.js";
import { immediate, loadStaged, LocalStages, pipelined } from "./helpers/local-stages.js";

let whole: LoadedModel;
let parts: LoadedModel[];

beforeAll(async () => {
  ({ whole, parts } = await loadStaged());
});

const unstaged = () => new Engine(whole, { maxQueue: 64, prefillChunk: 16, yieldFn: immediate });

const greedy = (prompt: string, maxTokens = 24) =>
  greedyRequest(whole.tokenizer.encode(prompt), maxTokens);

const prompts = PROMPTS;

describe("Engine over a pipeline of 3 stages", () => {
  it("Should generate the unstaged model's greedy tokens, 6 prompts at once in 4 slots", async () => {
    const want = [];
    for (const p of prompts) want.push(await generate(unstaged(), greedy(p)));
    const stages = new LocalStages(parts);
    const e = pipelined(stages);
    const got = await Promise.all(prompts.map((p) => generate(e, greedy(p))));
    expect(got).toEqual(want);
    expect(e.stats.steps).toBeLessThan(want.flat().length); // steps were shared
    expect(stages.calls).toBeGreaterThan(0);
  });

  it("Should serve a model cut into one stage (no later stage) with the unstaged greedy tokens", async () => {
    const want = [];
    for (const p of prompts) want.push(await generate(unstaged(), greedy(p)));
    const pipeline = new Pipeline(whole.model, [], whole.plan.slots);
    const e = new Engine(
      { ...whole, model: pipeline },
      { maxQueue: 64, prefillChunk: 16, yieldFn: immediate },
    );
    const got = await Promise.all(prompts.map((p) => generate(e, greedy(p))));
    expect(got).toEqual(want);
  });

  it("Should re-prefill a stage that comes back empty mid-generation and give the same text", async () => {
    const reqs = [greedy(prompts[1], 40), greedy(prompts[3], 40)];
    const e0 = unstaged(); // one engine: two would share the model's KV slots
    const want = await Promise.all(reqs.map((r) => generate(e0, r)));
    const stages = new LocalStages(parts);
    const e = pipelined(stages);
    let evicted = 0;
    const got = await Promise.all(
      reqs.map((r, i) =>
        generate(e, r, (n) => {
          // stage 2 after 10 tokens of the first, stage 1 after 25: both come back empty
          if (i === 0 && n === 10 && evicted === 0) (stages.evict(2), evicted++);
          if (i === 0 && n === 25 && evicted === 1) (stages.evict(1), evicted++);
        }),
      ),
    );
    expect(evicted).toBe(2);
    expect(got).toEqual(want);
    expect((e.lm.model as Pipeline).replays).toBe(4); // both sequences, twice
  });

  it("Should free a cancelled sequence's slot in every stage within a step", async () => {
    const stages = new LocalStages(parts);
    const e = pipelined(stages);
    const a = e.submit(greedy(prompts[0], 200));
    const b = e.submit(greedy(prompts[5], 200));
    let tokens = 0;
    const runs = [a, b].map((s) => e.run(s, () => void tokens++));
    while (tokens < 8) await immediate();
    expect(stages.used).toEqual([2, 2]);
    a.cancelled = true;
    await runs[0];
    for (let i = 0; i < 20 && stages.used.some((u) => u !== 1); i++) await immediate();
    expect(stages.used).toEqual([1, 1]);
    b.cancelled = true;
    await runs[1];
    // Nothing else runs: the frees go down on their own.
    for (let i = 0; i < 20 && stages.used[0] !== 0; i++) await new Promise((r) => setTimeout(r, 1));
    expect(stages.used).toEqual([0, 0]);
    expect(e.snapshot()).toMatchObject({ running: 0, waiting: 0 });
  });

  it("Should re-prefill the others when a stage is evicted in the step that cancels a sequence", async () => {
    const e0 = unstaged();
    const want = await generate(e0, greedy(prompts[2], 30));
    const stages = new LocalStages(parts);
    const e = pipelined(stages);
    const gone = e.submit(greedy(prompts[1], 200));
    let tokens = 0;
    const goneRun = e.run(gone, () => void tokens++);
    const kept = generate(e, greedy(prompts[2], 30));
    while (tokens < 5) await immediate();
    // mid-step: the client of `gone` leaves, then stage 2 answers from an empty object
    stages.onCall = (i) => {
      if (i !== 2) return;
      stages.onCall = undefined;
      gone.cancelled = true;
      e.snapshot(); // retires it while the step is in flight
      stages.evict(2);
    };
    expect(await kept).toEqual(want);
    expect(await goneRun).toBeNull();
    for (let i = 0; i < 20 && stages.used.some((u) => u); i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(stages.used).toEqual([0, 0]);
  });

  it("Should fail the step's sequences with the stage's fault and serve the next request", async () => {
    const stages = new LocalStages(parts);
    const links = stages.links();
    let down = true;
    const flaky: StageLink = {
      index: 2,
      forward: (b) =>
        down
          ? Promise.resolve({ fault: { code: "stage_over_budget", message: "too big" } })
          : links[1].forward(b),
    };
    const pipeline = new Pipeline(parts[0].model, [links[0], flaky], parts[0].plan.slots);
    const e = new Engine({ ...parts[0], model: pipeline }, { maxQueue: 4, prefillChunk: 16 });
    await expect(generate(e, greedy("ROMEO:"))).rejects.toThrow("too big");
    down = false;
    expect(await generate(e, greedy("ROMEO:"))).toEqual(
      await generate(unstaged(), greedy("ROMEO:")),
    );
  });

  it("Should stop computing and calling the stages once one says the weights changed", async () => {
    const stages = new LocalStages(parts);
    const links = stages.links();
    const seen: (string | undefined)[] = [];
    let changed = false;
    const last: StageLink = {
      index: 2,
      forward: (b) => {
        seen.push(b.expect);
        if (!changed) return links[1].forward(b);
        return Promise.resolve({ fault: { code: "weights_changed", message: "re-uploaded" } });
      },
    };
    const pipeline = new Pipeline(parts[0].model, [links[0], last], parts[0].plan.slots, 1, [
      "key-1",
      "key-2",
    ]);
    const e = new Engine({ ...parts[0], model: pipeline }, { maxQueue: 4, prefillChunk: 16 });
    expect(await generate(e, greedy("ROMEO:", 4))).toEqual(
      await generate(unstaged(), greedy("ROMEO:", 4)),
    );
    expect(new Set(seen)).toEqual(new Set(["key-2"])); // each stage is told its own key
    changed = true;
    await expect(generate(e, greedy("ROMEO:"))).rejects.toThrow("re-uploaded");
    expect(pipeline.stale?.fault.code).toBe("weights_changed");
    // From now on nothing runs here or goes down: the stage's memory may be reloaded under it.
    const calls = [stages.calls, seen.length];
    let computed = 0;
    const forwardLayers = parts[0].model.forwardLayers.bind(parts[0].model);
    parts[0].model.forwardLayers = (...a: Parameters<typeof forwardLayers>) => {
      computed++;
      return forwardLayers(...a);
    };
    try {
      await expect(generate(e, greedy("JULIET:"))).rejects.toThrow("re-uploaded");
      pipeline.release(0);
      await new Promise((r) => setTimeout(r, 10)); // the frees' flush, which must not call
    } finally {
      parts[0].model.forwardLayers = forwardLayers;
    }
    expect([stages.calls, seen.length, computed]).toEqual([...calls, 0]);
  });
});
