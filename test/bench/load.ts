// Load test on loopback: LOAD_CLIENTS (32) concurrent clients for LOAD_SECONDS (120) against
// `wrangler dev`, mixing seeded requests (checked against their solo answers), invalid bodies,
// unknown models, and streamed and plain requests aborted mid-way. Bounded in count and time.
// Alone: npx tsx test/bench/load.ts   (LOAD_SECONDS=20 LOAD_CLIENTS=8 for a short run)

import { readdirSync, readFileSync } from "node:fs";
import { startDevServer } from "../helpers/dev-server.js";
import { FIXTURE_DIR } from "../setup/paths.js";
import type { Row } from "./row.js";

const MODEL = "tiny-shakespeare";
const REQUEST_TIMEOUT_MS = 45_000;
const PROMPTS = ["ROMEO:", "JULIET:\nO", "First Citizen:\nBefore we proceed", "KING RICHARD II:"];
/** The seeded request i: its text must be the same alone and under load, streamed or not. */
const seeded = (i: number) => ({
  model: MODEL,
  prompt: PROMPTS[i % PROMPTS.length],
  max_tokens: 24,
  temperature: 0.8,
  seed: 1000 + i,
});
const BAD_BODIES = [
  "not json",
  JSON.stringify({ model: MODEL, max_tokens: -1 }),
  JSON.stringify({ model: MODEL, prompt: 5 }),
  '{"model":"tiny-shakespeare","n":1e400}',
  JSON.stringify({ model: MODEL, stop: ["a", "b", "c", "d", "e"] }),
  JSON.stringify({ model: MODEL, prompt: [[[[[[1]]]]]] }),
];

/** Resident set of the server's workerd processes (its process group), MiB. */
function workerdRssMiB(pgid: number): number {
  let kb = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      if (pgrp !== pgid || !comm.startsWith("workerd")) continue;
      kb += Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
    } catch {} // the process ended between the listing and the read
  }
  return kb / 1024;
}

/** xorshift32: the same mix of requests every run. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Text of a streamed completion (choice 0), from its SSE events. */
async function streamedText(res: Response): Promise<string> {
  const body = await res.text();
  let text = "";
  for (const ev of body.split("\n\n")) {
    if (!ev.startsWith("data: {")) continue;
    text += JSON.parse(ev.slice(6)).choices[0]?.text ?? "";
  }
  return text;
}

interface Tally {
  byStatus: Map<number, number>;
  mismatches: number;
  aborted: number;
  timeouts: number;
  errors: number;
}

export async function benchLoad(): Promise<Row[]> {
  const seconds = Number(process.env.LOAD_SECONDS ?? 120);
  const clients = Number(process.env.LOAD_CLIENTS ?? 32);
  const server = await startDevServer({ models: [FIXTURE_DIR] });
  const url = server.url;
  // No request may wait longer than REQUEST_TIMEOUT_MS: the run stays bounded, and timeouts count.
  const post = (path: string, body: string, signal?: AbortSignal) => {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    return fetch(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  };
  try {
    // Solo answers first (this also loads the model), then the starting memory.
    const solo: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await (await post("/v1/completions", JSON.stringify(seeded(i)))).json();
      solo.push((r as { choices: { text: string }[] }).choices[0].text);
    }
    const status = async () =>
      (await (await fetch(`${url}/v1/status`)).json()) as {
        models: { id: string; load_ms: number; steps: number; running: number; waiting: number }[];
      };
    const first = (await status()).models.find((m) => m.id === MODEL)!;
    await new Promise((r) => setTimeout(r, 1000));
    const rssStart = workerdRssMiB(server.pgid);

    const tally: Tally = { byStatus: new Map(), mismatches: 0, aborted: 0, timeouts: 0, errors: 0 };
    const count = (s: number) => tally.byStatus.set(s, (tally.byStatus.get(s) ?? 0) + 1);
    const end = Date.now() + seconds * 1000;
    let rssPeak = rssStart;
    let unloaded = 0;
    let lastSteps = first.steps;
    const monitor = (async () => {
      while (Date.now() < end) {
        await new Promise((r) => setTimeout(r, 2000));
        rssPeak = Math.max(rssPeak, workerdRssMiB(server.pgid));
        const m = (await status()).models.find((x) => x.id === MODEL);
        // Gone, or a new engine (its step counter started again): the model was reloaded.
        if (!m || m.load_ms !== first.load_ms || m.steps < lastSteps) unloaded++;
        lastSteps = m?.steps ?? 0;
      }
    })();

    const client = async (c: number) => {
      const rand = rng(0x10ad + c);
      while (Date.now() < end) {
        const kind = rand();
        const i = Math.floor(rand() * 8);
        try {
          if (kind < 0.15) {
            const res = await post("/v1/completions", JSON.stringify(seeded(i)));
            count(res.status);
            const r = (await res.json()) as { choices?: { text: string }[] };
            if (res.ok && r.choices?.[0].text !== solo[i]) tally.mismatches++;
          } else if (kind < 0.3) {
            const res = await post(
              "/v1/completions",
              JSON.stringify({ ...seeded(i), stream: true }),
            );
            count(res.status);
            if (res.ok && (await streamedText(res)) !== solo[i]) tally.mismatches++;
          } else if (kind < 0.5) {
            const res = await post("/v1/completions", BAD_BODIES[i % BAD_BODIES.length]);
            count(res.status);
            await res.arrayBuffer();
          } else if (kind < 0.65) {
            const path = ["/v1/completions", "/v1/inspect", "/v1/tokenize"][i % 3];
            const res = await post(path, JSON.stringify({ model: `nope-${i}`, prompt: "x" }));
            count(res.status);
            await res.arrayBuffer();
          } else if (kind < 0.85) {
            // A stream of 4 long sequences, dropped after 512 bytes.
            const ac = new AbortController();
            const body = { ...seeded(i), n: 4, max_tokens: 200, ignore_eos: true, stream: true };
            const res = await post("/v1/completions", JSON.stringify(body), ac.signal);
            count(res.status);
            let got = 0;
            for await (const chunk of res.body!) {
              got += (chunk as Uint8Array).length;
              if (got >= 512) break;
            }
            ac.abort();
            tally.aborted++;
          } else {
            // A plain request for 4 long sequences, given up after 100 ms.
            const ac = new AbortController();
            const body = { ...seeded(i), n: 4, max_tokens: 200, ignore_eos: true };
            setTimeout(() => ac.abort(), 100);
            const res = await post("/v1/completions", JSON.stringify(body), ac.signal);
            count(res.status);
            await res.arrayBuffer();
          }
        } catch (e) {
          const name = (e as Error).name;
          if (name === "TimeoutError") tally.timeouts++;
          else if (name === "AbortError") tally.aborted++;
          else tally.errors++;
        }
      }
    };
    await Promise.all([monitor, ...Array.from({ length: clients }, (_, c) => client(c))]);

    // Drained: nothing running or waiting; then the memory once idle.
    const t0 = Date.now();
    let idle = false;
    while (!idle && Date.now() - t0 < 30_000) {
      const m = (await status()).models.find((x) => x.id === MODEL);
      idle = m !== undefined && m.running === 0 && m.waiting === 0;
      if (!idle) await new Promise((r) => setTimeout(r, 100));
    }
    const drainMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 2000));
    const rssEnd = workerdRssMiB(server.pgid);

    const total = [...tally.byStatus.values()].reduce((a, b) => a + b, 0);
    const fivexx = [...tally.byStatus].filter(([s]) => s >= 500).reduce((a, [, n]) => a + n, 0);
    const statuses = [...tally.byStatus]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s}×${n}`)
      .join(" ");
    const note = `${clients} clients, ${seconds} s`;
    return [
      { name: "load: requests answered", value: total, unit: "requests", note: statuses },
      { name: "load: 5xx answers", value: fivexx, unit: "requests", note },
      { name: "load: seeded texts unlike solo", value: tally.mismatches, unit: "requests", note },
      { name: "load: client-side aborts", value: tally.aborted, unit: "requests", note },
      { name: "load: timed out (45 s)", value: tally.timeouts, unit: "requests", note },
      { name: "load: failed fetches (not aborts)", value: tally.errors, unit: "requests", note },
      { name: "load: model unloaded or reloaded", value: unloaded, unit: "times", note },
      { name: "load: drained after the clients stop", value: drainMs, unit: "ms", note },
      { name: "load: workerd RSS at start", value: rssStart, unit: "MiB" },
      { name: "load: workerd RSS peak", value: rssPeak, unit: "MiB", note: "sampled every 2 s" },
      { name: "load: workerd RSS at the end", value: rssEnd, unit: "MiB", note: "2 s idle" },
    ];
  } finally {
    await server.stop();
  }
}

if (process.argv[1]?.endsWith("load.ts")) {
  for (const r of await benchLoad()) console.log(`${r.name}: ${r.value} ${r.unit} ${r.note ?? ""}`);
}
