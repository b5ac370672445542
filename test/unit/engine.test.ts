// The continuous-batching engine on the real default model in Node: isolation between
// sequences, back-pressure, cancellation freeing slots, prompt scoring, and what production
// does to it: a step killed at the CPU limit, a clock that stands still, a driver that vanishes,
// a client whose writes stall (the write watch of src/routes/write-watch.ts).

import vm from "node:vm";
import { beforeAll, describe, expect, it, vi } from "vitest";
import {
  Engine,
  EngineSaturatedError,
  flopsPerToken,
  MAX_ROUND_STEPS,
  SequenceAbandonedError,
} from "../../src/engine/engine.js";
import type { GenerationRequest, TokenEvent } from "../../src/engine/sequence.js";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../src/model/loader.js";
import { WriteWatch, WRITE_STALL_ROUNDS } from "../../src/routes/write-watch.js";
import { defaultSamplingParams } from "../../src/sampler/index.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { generate, PROMPTS } from "./helpers/generate.js";
import { FIXTURE_DIR } from "../setup/paths.js";

let lm: LoadedModel;
const immediate = () => new Promise<void>((r) => setImmediate(r));

beforeAll(async () => {
  lm = await loadModel(modelDirStore(FIXTURE_DIR, "tiny-shakespeare"), "tiny-shakespeare", {
    kernels: loadKernelModule(),
    budgetBytes: 112 * 2 ** 20,
    slots: 4,
  });
});

const engine = (maxQueue = 64) =>
  new Engine(lm, { maxQueue, prefillChunk: 16, yieldFn: immediate });

function request(
  prompt: string,
  seed: number,
  extra: Partial<GenerationRequest> = {},
): GenerationRequest {
  return {
    prompt: lm.tokenizer.encode(prompt),
    maxTokens: 24,
    sampling: { ...defaultSamplingParams(), temperature: 0.9, top_k: 40 },
    seed: BigInt(seed),
    stopTokens: new Set([lm.tokenizer.eot!]),
    logprobs: null,
    echoLogprobs: false,
    ...extra,
  };
}

const prompts = PROMPTS;

describe("Engine", () => {
  it("Should give each sequence the same tokens alone as beside 11 others (4 slots, queueing)", async () => {
    const reqs = Array.from({ length: 12 }, (_, i) =>
      request(prompts[i % prompts.length], 100 + i),
    );
    const alone: number[][] = [];
    for (const r of reqs) alone.push(await generate(engine(), r));
    const e = engine();
    const together = await Promise.all(reqs.map((r) => generate(e, r)));
    expect(together).toEqual(alone);
    expect(e.stats.steps).toBeLessThan(alone.flat().length); // decode steps were shared
  });

  it("Should refuse past slots + queue with EngineSaturatedError, then recover", async () => {
    const e = engine(2);
    const seqs = Array.from({ length: 6 }, (_, i) => e.submit(request("A", i)));
    expect(() => e.submit(request("A", 99))).toThrow(EngineSaturatedError);
    await Promise.all(seqs.map((s) => e.run(s, () => {})));
    expect(await generate(e, request("A", 99))).toHaveLength(24);
  });

  it("Should free the slot of a sequence whose client goes away", async () => {
    const e = engine(0);
    const seqs = Array.from({ length: 4 }, (_, i) =>
      e.submit(request("ROMEO:", i, { maxTokens: 200 })),
    );
    expect(() => e.submit(request("A", 9))).toThrow(EngineSaturatedError);
    // One client disconnects after its first tokens: its emit throws, as a closed stream would.
    const gone = e.run(seqs[0], () => {
      throw new Error("client disconnected");
    });
    await expect(gone).rejects.toThrow("client disconnected");
    expect(seqs[0].cancelled).toBe(true);
    const next = e.submit(request("A", 9)); // the freed slot takes a new sequence
    seqs.slice(1).forEach((s) => (s.cancelled = true));
    expect(await e.run(next, () => {})).toBe("length");
  });

  it("Should score a prompt with echo logprobs and max_tokens 0", async () => {
    const e = engine();
    const req = request("To be, or not to be", 1, {
      maxTokens: 0,
      echoLogprobs: true,
      logprobs: 2,
    });
    const events: TokenEvent[] = [];
    const seq = e.submit(req);
    expect(await e.run(seq, (evs) => void events.push(...evs))).toBe("length");
    expect(events.map((ev) => ev.id)).toEqual(req.prompt);
    expect(events[0].logprob).toBeNull();
    for (const ev of events.slice(1)) {
      expect(ev.logprob).toBeLessThan(0);
      // the top 2 alternatives, plus the scored token itself when it is not among them
      expect(ev.top!.length).toBe(ev.top!.slice(0, 2).some((t) => t.id === ev.id) ? 2 : 3);
      expect(ev.top!.some((t) => t.id === ev.id)).toBe(true);
    }
  });

  it("Should stop at <|endoftext|>, emitting it only as an end event", async () => {
    const e = engine();
    const eot = lm.tokenizer.eot!;
    const bias = new Map([[eot, 100]]); // force <|endoftext|> as the first sampled token
    const req = request("A", 1, { sampling: { ...defaultSamplingParams(), logit_bias: bias } });
    const seq = e.submit(req);
    const events: TokenEvent[] = [];
    expect(await e.run(seq, (evs) => void events.push(...evs))).toBe("stop");
    expect(events).toEqual([{ id: eot, prompt: false, logprob: null, top: null, end: true }]);
    expect(seq.tokens).not.toContain(eot); // not part of the sequence
  });

  it("Should free every slot of cancelled sequences at once, even with their drivers stuck", async () => {
    const e = engine(0);
    const seqs = Array.from({ length: 4 }, (_, i) =>
      e.submit(request("ROMEO:", i, { maxTokens: 200 })),
    );
    let wrote = 0;
    // Each driver's first write never completes, as a write to a vanished client may not.
    const stuck = seqs.map((s) => e.run(s, () => new Promise<void>(() => void wrote++)));
    while (wrote < 4) await immediate();
    expect(e.snapshot().running).toBe(4);
    for (const s of seqs) s.cancelled = true; // what the request's abort signal does
    expect(e.snapshot()).toMatchObject({ running: 0, waiting: 0 });
    expect(await generate(e, request("A", 9))).toHaveLength(24);
    void stuck;
  });
});

// A small model's steps in rounds (roundFlops): several steps per driver turn, the same tokens.
describe("Engine rounds", () => {
  const fpt = () => flopsPerToken(lm.manifest.config);
  const rounds = (roundFlops: number) =>
    new Engine(lm, { maxQueue: 64, prefillChunk: 16, yieldFn: immediate, roundFlops });

  it("Should take up to MAX_ROUND_STEPS one-row steps per turn for one stream, with the same tokens", async () => {
    const r = request("ROMEO:", 5, { maxTokens: 40 });
    const plain = engine();
    const want = await generate(plain, r);
    const e = rounds(100 * fpt()); // room for far more than MAX_ROUND_STEPS one-row steps
    let calls = 0;
    let most = 0;
    const got = await generate(e, r, (count) => {
      most = Math.max(most, count - calls);
      calls = count;
    });
    expect(got).toEqual(want);
    expect(most).toBe(MAX_ROUND_STEPS); // a round's tokens come in one emit
    expect(e.stats.steps).toBe(plain.stats.steps);
    expect(e.stats.rounds).toBeLessThan(e.stats.steps / 4);
  });

  it("Should keep a round's rows within roundFlops: 4 streams, room for 2 steps of 4 rows", async () => {
    // one prompt, four seeds, no stop: all four prefill in the first step and decode together
    const reqs = [0, 1, 2, 3].map((i) =>
      request("ROMEO:", 300 + i, { maxTokens: 30, stopTokens: new Set() }),
    );
    const plain = engine();
    const want = await Promise.all(reqs.map((r) => generate(plain, r)));
    const e = rounds(9 * fpt()); // 4 + 4 rows fit, a third step of 4 does not
    const sizes: number[] = [];
    const seqs = reqs.map((r) => e.submit(r)); // all four before any driver's first round
    const got = await Promise.all(
      seqs.map(async (seq) => {
        const ids: number[] = [];
        await e.run(seq, (evs) => {
          sizes.push(evs.length);
          for (const ev of evs) ids.push(ev.id);
        });
        return ids;
      }),
    );
    expect(got).toEqual(want);
    expect(Math.max(...sizes)).toBe(2); // never 3 decode steps in a round of 4 streams
    expect(e.stats.rounds).toBeLessThan(e.stats.steps);
  });

  it("Should take one step per turn without roundFlops", async () => {
    const e = engine();
    await generate(e, request("ROMEO:", 6, { maxTokens: 20 }));
    expect(e.stats.rounds).toBe(e.stats.steps);
  });
});

describe("Engine under production failures", () => {
  it("Should not hold other streams back for a reader that has fallen a step behind", async () => {
    let yields = 0;
    const e = new Engine(lm, {
      maxQueue: 4,
      prefillChunk: 16,
      yieldFn: () => (yields++, immediate()),
    });
    // A client gone unnoticed: its driver's write never completes.
    const stuck = e.submit(request("ROMEO:", 1, { maxTokens: 200 }));
    void e.run(stuck, () => new Promise<void>(() => {}));
    yields = 0;
    const ids = await generate(e, request("HAMLET:", 2, { maxTokens: 40 }));
    expect(ids).toHaveLength(40);
    // A step on nearly every turn, not a 25 ms wait (hundreds of turns) per token.
    expect(yields).toBeLessThan(3 * 40);
    stuck.cancelled = true;
  });

  it("Should fail the sequences of a step killed mid-forward and serve everyone else", async () => {
    const e = engine();
    const victim = e.submit(request("ROMEO:", 1, { maxTokens: 50 }));
    // A forward pass that runs into the CPU limit: the runtime terminates it, and no finally
    // block runs (vm's timeout terminates execution the same way).
    const spin = vi.spyOn(lm.model, "forward").mockImplementation(() => {
      for (;;);
    });
    try {
      const kill = () => vm.runInNewContext("step()", { step: () => e.step() }, { timeout: 100 });
      expect(kill).toThrow(/timed out/);
    } finally {
      spin.mockRestore();
    }
    const other = request("JULIET:\nO Romeo,", 2);
    expect(await generate(e, other)).toEqual(await generate(engine(), other));
    await expect(e.run(victim, () => {})).rejects.toThrow(SequenceAbandonedError);
    await expect(e.run(victim, () => {})).rejects.toThrow(/interrupted.*CPU limit/);
    expect(e.snapshot()).toMatchObject({ running: 0, waiting: 0, interrupted: 1 });
    // A killed withSlot job gives its slot back too.
    const e1 = new Engine(lm, { maxQueue: 0, prefillChunk: 16, yieldFn: immediate });
    const withSlot = (job: () => void) => e1.withSlot(job);
    const hang = () =>
      vm.runInNewContext("withSlot(() => { for (;;); })", { withSlot }, { timeout: 50 });
    for (let i = 0; i < lm.plan.slots; i++) {
      expect(hang).toThrow(/timed out/);
      await immediate(); // the next request comes in a later turn
    }
    expect(e1.withSlot((slot) => slot)).toBeGreaterThanOrEqual(0);
    // Nested jobs in one turn still each get their own slot.
    expect(e1.withSlot((a) => e1.withSlot((b) => a !== b))).toBe(true);
  }, 20_000);

  it("Should generate and stream with a clock that never moves, expiring a sequence nobody reads", async () => {
    const reqs = [
      request("ROMEO:", 3, { maxTokens: 120 }),
      request("HAMLET:", 4, { maxTokens: 40 }),
    ];
    const alone = [];
    for (const r of reqs) alone.push(await generate(engine(), r));
    const clock = vi.spyOn(performance, "now").mockReturnValue(1234.5);
    try {
      const limit = 48;
      const e = new Engine(lm, { ...engine().opts, unreadStepLimit: limit });
      // Its request was dropped: nobody will ever drain it.
      const orphan = e.submit(request("KING RICHARD III:", 5, { maxTokens: 200 }));
      // Streaming readers: every token is awaited like a write to the client.
      const streamed = await Promise.all(
        reqs.map(async (r) => {
          const ids: number[] = [];
          await e.run(e.submit(r), async (evs) => {
            await immediate();
            for (const ev of evs) ids.push(ev.id);
          });
          return ids;
        }),
      );
      expect(streamed).toEqual(alone);
      expect(orphan.error).toBeInstanceOf(SequenceAbandonedError);
      expect(orphan.generated).toBeLessThanOrEqual(limit + 1);
      expect(e.snapshot()).toMatchObject({ running: 0, waiting: 0, abandoned: 1 });
    } finally {
      clock.mockRestore();
    }
  }, 20_000);
});

/** 200 tokens, never ending at <|endoftext|>. */
const long = { maxTokens: 200, stopTokens: new Set<number>() };

/** Run 4 sequences whose every event is written through `write` under one watch. */
async function serve(write: () => Promise<unknown>) {
  const e = engine(0);
  const seqs = [0, 1, 2, 3].map((i) => e.submit(request("ROMEO:", i, long)));
  let goneAt = -1;
  const watch = new WriteWatch(
    e,
    () => {
      goneAt = e.stats.steps;
      for (const s of seqs) s.cancelled = true;
    },
    30_000,
  );
  let stalledAt = -1;
  const results = await Promise.all(
    seqs.map((s) =>
      e.run(s, async () => {
        if (watch.gone) return;
        const w = write();
        if (stalledAt < 0) stalledAt = e.stats.steps;
        await watch.drive(w);
      }),
    ),
  );
  return { e, watch, results, stalledAt, goneAt };
}

// A response body's writes as the sign of a live client (src/routes/write-watch.ts): a write that
// never completes frees the request's slots within WRITE_STALL_ROUNDS steps even when every
// driver waits on it; a slow client that does take bytes keeps its stream.
describe("WriteWatch", () => {
  it("Should free every slot within WRITE_STALL_ROUNDS steps of a write that never completes", async () => {
    const { e, watch, results, stalledAt, goneAt } = await serve(() => new Promise(() => {}));
    expect(watch.gone).toBe(true);
    expect(results).toEqual([null, null, null, null]); // cancelled, not finished
    expect(goneAt - stalledAt).toBe(WRITE_STALL_ROUNDS);
    expect(e.snapshot()).toMatchObject({ running: 0, waiting: 0 });
  });

  it("Should keep a slow client that takes its bytes a few turns late", async () => {
    const slow = async () => {
      for (let i = 0; i < 5; i++) await immediate();
    };
    const { watch, results } = await serve(slow);
    expect(watch.gone).toBe(false);
    expect(results).toEqual(["length", "length", "length", "length"]);
  });

  it("Should count steps only while a write is pending", async () => {
    const e = engine(0);
    const seq = e.submit(request("ROMEO:", 7, long));
    const watch = new WriteWatch(e, () => {}, 30_000, 4);
    // 10 steps with nothing to write, then one write that completes: never gone.
    await e.run(seq, async () => {
      if (e.stats.steps === 10) await watch.drive(Promise.resolve());
      expect(watch.check()).toBe(false);
    });
    expect(e.stats.steps).toBeGreaterThan(10);
  });

  it("Should let a write go out before it drives a round", async () => {
    // The runtime moves a body's bytes once JavaScript yields: a write that completes in the next
    // event-loop turn must not wait for a round of steps first (a first token held for a round).
    const e = engine(0);
    const seq = e.submit(request("ROMEO:", 3, long));
    const watch = new WriteWatch(e, () => {}, 30_000);
    let stepsAtWrite = -1;
    let stepsAtEnd = -1;
    await e.run(seq, async (events) => {
      if (stepsAtWrite >= 0 || events.every((ev) => ev.prompt)) return;
      stepsAtWrite = e.stats.steps;
      await watch.drive(immediate());
      stepsAtEnd = e.stats.steps;
    });
    expect(stepsAtWrite).toBeGreaterThan(0);
    expect(stepsAtEnd).toBe(stepsAtWrite);
  });

  it("Should declare a client gone after stallMs once the engine has nothing to compute", async () => {
    const e = engine();
    let gone = 0;
    const watch = new WriteWatch(e, () => gone++, 20);
    await watch.drive(new Promise(() => {})); // returns: a dead client holds nothing for ever
    expect(watch.gone).toBe(true);
    expect(gone).toBe(1);
  });
});
