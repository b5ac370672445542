// Load test on loopback: LOAD_CLIENTS (32) concurrent clients for LOAD_SECONDS (120) against
// `wrangler dev`, mixing seeded requests (checked against their solo answers), invalid bodies,
// unknown models, and streamed and plain requests aborted mid-way. Bounded in count and time.
// LOAD_ROUNDS (1) repeats the run against the same server: memory that grows round after round
// is a leak, memory that rises once and stays is a high-water mark. RSS is reported per workerd
// process: wrangler's proxy (it listens on the server's port) apart from the Worker's runtime.
// Alone: npx tsx test/bench/load.ts   (LOAD_SECONDS=20 LOAD_CLIENTS=8 for a short run)

import { freePort, startDevServer } from "../helpers/dev-server.js";
import { FIXTURE_DIR } from "../setup/paths.js";
import { isolateHeap, type HeapReader } from "./isolate-heap.js";
import type { Row } from "./row.js";
import { listenerPid, workerdRss } from "./workerd-rss.js";

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
/** The mix: each kind of request and its share. */
const MIX: [kind: string, share: number][] = [
  ["plain", 0.15],
  ["stream", 0.15],
  ["invalid", 0.2],
  ["unknown model", 0.15],
  ["aborted stream", 0.2],
  ["aborted plain", 0.15],
];
const BAD_BODIES = [
  "not json",
  JSON.stringify({ model: MODEL, max_tokens: -1 }),
  JSON.stringify({ model: MODEL, prompt: 5 }),
  '{"model":"tiny-shakespeare","n":1e400}',
  JSON.stringify({ model: MODEL, stop: ["a", "b", "c", "d", "e"] }),
  JSON.stringify({ model: MODEL, prompt: [[[[[[1]]]]]] }),
];

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
  /** Answers by status, and for errors by status and code (e.g. "503 overloaded"). */
  byStatus: Map<string, number>;
  mismatches: number;
  aborted: number;
  timeouts: number;
  errors: number;
  /** Failed fetches by error. */
  failures: Map<string, number>;
  /** Requests whose promise never settled, by kind. */
  hung: Map<string, number>;
}

type Status = {
  models: { id: string; load_ms: number; steps: number; running: number; waiting: number }[];
};

export async function benchLoad(): Promise<Row[]> {
  const seconds = Number(process.env.LOAD_SECONDS ?? 120);
  const clients = Number(process.env.LOAD_CLIENTS ?? 32);
  const rounds = Number(process.env.LOAD_ROUNDS ?? 1);
  const inspectorPort = await freePort();
  const server = await startDevServer({ models: [FIXTURE_DIR], inspectorPort });
  const url = server.url;
  const heap = await isolateHeap(inspectorPort).catch((e) => {
    console.error(`load: isolate heap not measured: ${e}`);
    return null;
  });
  const proxyPid = listenerPid(Number(new URL(url).port));
  /** RSS of wrangler's proxy and of the Worker's workerd, MiB. */
  const rss = () => {
    const all = [...workerdRss(server.pgid)];
    const proxy = all.find(([pid]) => pid === proxyPid)?.[1] ?? NaN;
    return {
      proxy,
      worker: all.filter(([pid]) => pid !== proxyPid).reduce((a, [, m]) => a + m, 0),
    };
  };
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
  const status = async () =>
    (await (
      await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
    ).json()) as Status;
  try {
    // Solo answers first (this also loads the model), then the starting memory.
    const solo: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await (await post("/v1/completions", JSON.stringify(seeded(i)))).json();
      solo.push((r as { choices: { text: string }[] }).choices[0].text);
    }
    const first = (await status()).models.find((m) => m.id === MODEL)!;
    await new Promise((r) => setTimeout(r, 1000));
    const rows: Row[] = [];
    const start = rss();
    rows.push(
      { name: "load: workerd RSS at start, proxy", value: start.proxy, unit: "MiB" },
      { name: "load: workerd RSS at start, Worker", value: start.worker, unit: "MiB" },
      ...(await heapRows(heap, "at start", status)),
    );
    for (let round = 1; round <= rounds; round++) {
      const pids = [...workerdRss(server.pgid).keys()].join(",");
      const r = await loadRound({ seconds, clients, solo, post, status, rss, first });
      const note = `round ${round} of ${rounds}: ${clients} clients, ${seconds} s`;
      const after = [...workerdRss(server.pgid).keys()].join(",");
      // A workerd that restarted (wrangler starts a new one when the runtime dies) is a failure.
      if (after !== pids) {
        console.error(`workerd processes changed: ${pids} -> ${after}\n${server.log()}`);
      }
      console.error(
        `${note}: ${r.map((x) => `${x.name.slice(6)} ${Math.round(x.value)}`).join("; ")}`,
      );
      r.push(...(await heapRows(heap, "after, 2 s idle", status)));
      rows.push(...r.map((row) => ({ ...row, note: row.note ? `${note}; ${row.note}` : note })));
    }
    return rows;
  } finally {
    heap?.close();
    await server.stop();
  }
}

/** The isolate's JS heap (V8's used and total), or one row saying why it is not measured. */
async function heapRows(
  heap: HeapReader | null,
  when: string,
  kick: () => Promise<unknown>,
): Promise<Row[]> {
  if (!heap) {
    const note = "needs NODE_OPTIONS=--experimental-websocket (npm run bench sets it)";
    return [{ name: "load: isolate JS heap: not measured", value: 0, unit: "", note }];
  }
  const before = await heap.usage();
  await heap.collect(kick);
  const after = await heap.usage();
  return [
    { name: `load: isolate JS heap used, ${when}`, value: before.used, unit: "MiB" },
    {
      name: `load: isolate JS heap used after GC, ${when}`,
      value: after.used,
      unit: "MiB",
      note: `V8 heap total ${after.total.toFixed(1)} MiB (before the GC ${before.total.toFixed(1)})`,
    },
  ];
}

/** One round of `clients` clients for `seconds`, then the drain and the memory once idle. */
async function loadRound(o: {
  seconds: number;
  clients: number;
  solo: string[];
  post: (path: string, body: string, signal?: AbortSignal) => Promise<Response>;
  status: () => Promise<Status>;
  rss: () => { proxy: number; worker: number };
  first: { load_ms: number; steps: number };
}): Promise<Row[]> {
  const { seconds, clients, solo, post, status, rss, first } = o;
  const tally: Tally = {
    byStatus: new Map(),
    mismatches: 0,
    aborted: 0,
    timeouts: 0,
    errors: 0,
    failures: new Map(),
    hung: new Map(),
  };
  /** Count an answer by status, an error also by its code (the body is read here). */
  const count = async (res: Response) => {
    let key = String(res.status);
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      let code: string | null | undefined;
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
      } catch {}
      // Not OpenAI's shape (e.g. wrangler's proxy answering for a restarted runtime): its text.
      key += ` ${code ?? (code === null ? "null" : JSON.stringify(text.slice(0, 60)))}`;
    }
    tally.byStatus.set(key, (tally.byStatus.get(key) ?? 0) + 1);
  };
  const end = Date.now() + seconds * 1000;
  const peak = rss();
  let unloaded = 0;
  let busiest = 0;
  let lastSteps = (await status()).models.find((x) => x.id === MODEL)?.steps ?? 0;
  const monitor = (async () => {
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 2000));
      const now = rss();
      peak.proxy = Math.max(peak.proxy, now.proxy);
      peak.worker = Math.max(peak.worker, now.worker);
      const m = (await status()).models.find((x) => x.id === MODEL);
      // Gone, or a new engine (its step counter started again): the model was reloaded.
      if (!m || m.load_ms !== first.load_ms || m.steps < lastSteps) unloaded++;
      busiest = Math.max(busiest, (m?.running ?? 0) + (m?.waiting ?? 0));
      lastSteps = m?.steps ?? 0;
    }
  })();

  const client = async (c: number) => {
    const rand = rng(0x10ad + c);
    while (Date.now() < end) {
      const kind = rand();
      const i = Math.floor(rand() * 8);
      let label = MIX[MIX.length - 1][0];
      for (let at = 0, k = 0; k < MIX.length; k++) {
        if (kind < (at += MIX[k][1])) {
          label = MIX[k][0];
          break;
        }
      }
      const one = async () => {
        if (label === "plain") {
          const res = await post("/v1/completions", JSON.stringify(seeded(i)));
          await count(res);
          if (res.ok) {
            const r = (await res.json()) as { choices?: { text: string }[] };
            if (r.choices?.[0].text !== solo[i]) tally.mismatches++;
          }
        } else if (label === "stream") {
          const res = await post("/v1/completions", JSON.stringify({ ...seeded(i), stream: true }));
          await count(res);
          if (res.ok && (await streamedText(res)) !== solo[i]) tally.mismatches++;
        } else if (label === "invalid") {
          const res = await post("/v1/completions", BAD_BODIES[i % BAD_BODIES.length]);
          await count(res);
        } else if (label === "unknown model") {
          const path = ["/v1/completions", "/v1/inspect", "/v1/tokenize"][i % 3];
          await count(await post(path, JSON.stringify({ model: `nope-${i}`, prompt: "x" })));
        } else if (label === "aborted stream") {
          // A stream of 4 long sequences, dropped after 512 bytes.
          const ac = new AbortController();
          const body = { ...seeded(i), n: 4, max_tokens: 200, ignore_eos: true, stream: true };
          const res = await post("/v1/completions", JSON.stringify(body), ac.signal);
          await count(res);
          if (res.ok) {
            let got = 0;
            for await (const chunk of res.body!) {
              got += (chunk as Uint8Array).length;
              if (got >= 512) break;
            }
            ac.abort();
            tally.aborted++;
          }
        } else {
          // A plain request for 4 long sequences, given up after 100 ms.
          const ac = new AbortController();
          const body = { ...seeded(i), n: 4, max_tokens: 200, ignore_eos: true };
          setTimeout(() => ac.abort(), 100);
          const res = await post("/v1/completions", JSON.stringify(body), ac.signal);
          await count(res);
          if (res.ok) await res.arrayBuffer();
        }
      };
      try {
        // A request whose promise never settles (it has happened: no socket left, no timer) is
        // counted as hung by its kind, and the client goes on.
        let guard: ReturnType<typeof setTimeout> | undefined;
        const hung = new Promise<never>((_, reject) => {
          guard = setTimeout(
            () => reject(Object.assign(new Error(label), { name: "Hung" })),
            REQUEST_TIMEOUT_MS + 15_000,
          );
        });
        await Promise.race([one(), hung]).finally(() => clearTimeout(guard));
      } catch (e) {
        const name = (e as Error).name;
        if (name === "Hung") tally.hung.set(label, (tally.hung.get(label) ?? 0) + 1);
        else if (name === "TimeoutError") tally.timeouts++;
        else if (name === "AbortError") tally.aborted++;
        else {
          tally.errors++;
          const why = `${name}: ${(e as Error).message}`.slice(0, 80);
          tally.failures.set(why, (tally.failures.get(why) ?? 0) + 1);
        }
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
  const after = rss();

  const total = [...tally.byStatus.values()].reduce((a, b) => a + b, 0);
  const fivexx = [...tally.byStatus]
    .filter(([s]) => Number(s.split(" ")[0]) >= 500)
    .reduce((a, [, n]) => a + n, 0);
  const statuses = [...tally.byStatus]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([s, n]) => `${s}×${n}`)
    .join(", ");
  return [
    { name: "load: requests answered", value: total, unit: "requests", note: statuses },
    { name: "load: 5xx answers", value: fivexx, unit: "requests" },
    { name: "load: seeded texts unlike solo", value: tally.mismatches, unit: "requests" },
    { name: "load: client-side aborts", value: tally.aborted, unit: "requests" },
    { name: "load: timed out (45 s)", value: tally.timeouts, unit: "requests" },
    {
      name: "load: failed fetches (not aborts)",
      value: tally.errors,
      unit: "requests",
      note: [...tally.failures].map(([k, n]) => `${k} ×${n}`).join(", "),
    },
    {
      name: "load: client promises that never settled",
      value: [...tally.hung.values()].reduce((a, b) => a + b, 0),
      unit: "requests",
      note: [...tally.hung].map(([k, n]) => `${k}×${n}`).join(", "),
    },
    { name: "load: model unloaded or reloaded", value: unloaded, unit: "times" },
    {
      name: "load: most sequences running + waiting",
      value: busiest,
      unit: "sequences",
      note: "sampled every 2 s; 503 overloaded past slots + MAX_QUEUE",
    },
    { name: "load: drained after the clients stop", value: drainMs, unit: "ms" },
    { name: "load: workerd RSS peak, proxy", value: peak.proxy, unit: "MiB" },
    { name: "load: workerd RSS peak, Worker", value: peak.worker, unit: "MiB" },
    { name: "load: workerd RSS after, proxy", value: after.proxy, unit: "MiB", note: "2 s idle" },
    { name: "load: workerd RSS after, Worker", value: after.worker, unit: "MiB", note: "2 s idle" },
  ];
}

if (process.argv[1]?.endsWith("load.ts")) {
  for (const r of await benchLoad()) console.log(`${r.name}: ${r.value} ${r.unit} ${r.note ?? ""}`);
}
