// Clients that hang up, through `wrangler dev` (the enable_request_signal flag, the dev proxy,
// real sockets): a 16-choice stream aborted after 512 bytes, or a plain request aborted while
// it generates, must free every slot within a second, and the next request be as fast as on an
// idle server. Latencies are compared as ratios to the idle server's, never as absolute times.
//
// Local workerd reports a hang-up through request.signal only sometimes: wrangler dev's proxy
// (a Durable Object whose fetch to the Worker outlives the client's request) hides one before
// the response headers, and after them it can leave the body's pump waiting forever. What frees
// the slots then is the write watch (src/routes/write-watch.ts): writes that stall for 16 engine
// steps mean the client is gone; plain requests commit after 2 steps and write spaces, so they
// have writes to watch (json-keepalive.ts). Measured 2026-12-04 (AMD EPYC, 2 cores, shared):
// streams 20/20 freed, median 38 ms, max 759 ms; plain 20/20, median 79 ms, max 141 ms; the
// greedy request after each at 0.55-0.97× its idle median (max 1.84×); ~37 s in all.

import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../helpers/dev-server.js";
import { FIXTURE_DIR } from "../setup/paths.js";

const TRIES = 20;
const heavy = { prompt: "ROMEO:", n: 16, max_tokens: 250, ignore_eos: true, temperature: 0.9 };
const greedy = { prompt: "JULIET:\n", max_tokens: 24, temperature: 0 };

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ models: [FIXTURE_DIR] });
});

afterAll(() => server?.stop());

const post = (body: object) =>
  fetch(`${server.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny-shakespeare", ...body }),
  });

/** A request on its own connection, so hanging up closes a socket as a real client would. */
function open(body: object) {
  const req = http.request(`${server.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    agent: false,
  });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once("response", resolve);
    req.once("error", reject);
  });
  response.catch(() => {}); // hanging up before the response is expected
  req.end(JSON.stringify({ model: "tiny-shakespeare", ...body }));
  return { response, hangUp: () => req.destroy() };
}

async function engineState(): Promise<{ running: number; waiting: number; slots: number }> {
  const s = (await (await fetch(`${server.url}/v1/status`)).json()) as any;
  return s.models.find((m: { id: string }) => m.id === "tiny-shakespeare");
}

/** Milliseconds until the engine runs and queues nothing, or Infinity past `limitMs`. */
async function msUntilIdle(limitMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const s = await engineState();
    const ms = performance.now() - t0;
    if (s.running === 0 && s.waiting === 0) return ms;
    if (ms > limitMs) return Infinity;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Wall time of one greedy request, and its text. */
async function timedGreedy(): Promise<{ ms: number; text: string }> {
  const t0 = performance.now();
  const res = await post(greedy);
  const json = (await res.json()) as any;
  expect(res.status, JSON.stringify(json)).toBe(200);
  return { ms: performance.now() - t0, text: json.choices[0].text };
}

let streamed = true;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Abort TRIES heavy requests with `abort`: every slot must be free within 1 s each time, and the
 * greedy request after each be as fast as on the idle server.
 */
async function abortRuns(label: string, abort: (client: ReturnType<typeof open>) => Promise<void>) {
  const idle: number[] = [];
  for (let i = 0; i < 5; i++) idle.push((await timedGreedy()).ms);
  const expected = (await timedGreedy()).text;
  const freeMs: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < TRIES; i++) {
    await abort(open({ ...heavy, seed: i, stream: streamed }));
    freeMs.push(await msUntilIdle(1000));
    const after = await timedGreedy();
    expect(after.text).toBe(expected);
    ratios.push(after.ms / median(idle));
  }
  console.log(`${label}:`, JSON.stringify(summary({ freeMs, ratios, idleMs: median(idle) })));
  expect(
    freeMs.every((ms) => ms <= 1000),
    `slots freed after ${freeMs} ms`,
  ).toBe(true);
  expect(median(ratios)).toBeLessThan(3);
  expect(Math.max(...ratios)).toBeLessThan(20); // a leaked batch made it ~200× (7 s vs 40 ms)
}

describe("Cancelled clients through wrangler dev", () => {
  it("Should free all 16 slots of a stream aborted after 512 bytes, 20 times out of 20", async () => {
    await timedGreedy(); // loads the model
    expect((await engineState()).slots).toBe(16);
    streamed = true;
    await abortRuns("stream aborts", async (client) => {
      const res = await client.response;
      expect(res.statusCode).toBe(200);
      let got = 0;
      await new Promise<void>((resolve) =>
        res.on("data", (chunk: Buffer) => void ((got += chunk.length) >= 512 && resolve())),
      );
      res.pause();
      expect(await engineState()).toMatchObject({ running: 16 }); // still generating
      client.hangUp();
    });
  });

  it("Should free all 16 slots of a non-streaming request aborted mid-generation, 20 of 20", async () => {
    streamed = false;
    await abortRuns("plain aborts", async (client) => {
      // Hang up once its sequences are generating.
      for (let s = await engineState(); s.running < 16; s = await engineState())
        await new Promise((r) => setTimeout(r, 5));
      client.hangUp();
    });
  });
});

function summary(r: { freeMs: number[]; ratios: number[]; idleMs: number }) {
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    idle_greedy_ms: round(r.idleMs),
    free_ms_median: round(median(r.freeMs)),
    free_ms_max: round(Math.max(...r.freeMs)),
    ratio_median: round(median(r.ratios)),
    ratio_max: round(Math.max(...r.ratios)),
  };
}
