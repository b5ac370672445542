// Serving benchmark under `wrangler dev` (local workerd, local R2): cold start (fresh server,
// first request loads the model from R2) and single-stream decode tokens/s from the SSE stream.
// Alone: npx tsx test/bench/serve.ts

import { startDevServer, uploadLocal } from "../helpers/dev-server.js";
import { sseJson } from "../helpers/sse.js";
import { FIXTURE_DIR, ROOT } from "../setup/paths.js";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, type Row } from "./row.js";

const RESTARTS = 3;
const DECODE_RUNS = 5;

async function completion(url: string, body: Record<string, unknown>): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny-shakespeare", ...body }),
  });
  if (!res.ok) throw new Error(`completion failed: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  return performance.now() - t0;
}

/** Streams a completion (with logprobs, to count tokens); returns each token's arrival time (ms). */
export async function streamTimes(url: string, body: object): Promise<number[]> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny-shakespeare", stream: true, logprobs: 0, ...body }),
  });
  if (!res.ok || !res.body) throw new Error(`stream failed: ${res.status} ${await res.text()}`);
  const times: number[] = [];
  for await (const chunk of sseJson(res.body)) {
    const n = chunk.choices[0]?.logprobs?.tokens.length ?? 0;
    for (let k = 0; k < n; k++) times.push(performance.now() - t0);
  }
  return times;
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

/** N concurrent streams of `tokens` tokens: aggregate tokens/s, TTFT and inter-token latency. */
export async function concurrency(
  url: string,
  n: number,
  tokens: number,
  model: string,
): Promise<Row[]> {
  const t0 = performance.now();
  const runs = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      streamTimes(url, {
        model,
        prompt: "ROMEO:",
        max_tokens: tokens,
        temperature: 0.8,
        seed: i,
        ignore_eos: true,
      }),
    ),
  );
  const wall = performance.now() - t0;
  const total = runs.reduce((s, t) => s + t.length, 0);
  const gaps = runs.flatMap((t) => t.slice(1).map((x, i) => x - t[i]));
  const note = `${model}, ${tokens} tokens/stream`;
  return [
    {
      name: `serve: ${n} streams, aggregate`,
      value: (total / wall) * 1000,
      unit: "tokens/s",
      note,
    },
    {
      name: `serve: ${n} streams, time to first token`,
      value: median(runs.map((t) => t[0])),
      unit: "ms",
      note: "median over streams",
    },
    { name: `serve: ${n} streams, inter-token median`, value: median(gaps), unit: "ms", note },
    { name: `serve: ${n} streams, inter-token p95`, value: pct(gaps, 0.95), unit: "ms", note },
  ];
}

/** The random gpt2-shaped q4 checkpoint that the weights bench converts (build/bench/gpt2-q4). */
const GPT2_Q4 = join(ROOT, "build", "bench", "gpt2-q4");

/** Fresh server: first /v1/tokenize (manifest + 50k-vocab tokenizer from R2) minus a warm one. */
async function tokenizerColdStart(persistTo: string, model: string): Promise<number> {
  const server = await startDevServer({ persistTo });
  const call = async () => {
    const t0 = performance.now();
    const res = await fetch(`${server.url}/v1/tokenize`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, prompt: "Hello, my dog is cute" }),
    });
    if (!res.ok) throw new Error(`tokenize failed: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    return performance.now() - t0;
  };
  try {
    const cold = await call();
    const warm = median([await call(), await call(), await call()]);
    return cold - warm;
  } finally {
    await server.stop();
  }
}

/** gpt2-shaped q4 under wrangler dev: tokenizer cold start and concurrent-stream scaling. */
export async function benchServeGpt2(): Promise<Row[]> {
  if (!existsSync(join(GPT2_Q4, "manifest.json"))) {
    return [
      { name: "serve gpt2 q4: skipped", value: 0, unit: "", note: "run the weights bench first" },
    ];
  }
  const name = JSON.parse(readFileSync(join(GPT2_Q4, "manifest.json"), "utf8")).name as string;
  const persistTo = mkdtempSync(join(tmpdir(), "gpt-edge-bench-"));
  const rows: Row[] = [];
  try {
    uploadLocal(GPT2_Q4, persistTo);
    const cold: number[] = [];
    for (let r = 0; r < 3; r++) cold.push(await tokenizerColdStart(persistTo, name));
    rows.push({
      name: "serve: tokenizer cold start, 50k vocab",
      value: median(cold),
      unit: "ms",
      note: "fresh wrangler dev: R2 fetch + fromBytes + encode, median of 3",
    });
    // 16 slots of gpt2 need more than one isolate's 112 MiB: a local-only budget (see note).
    const server = await startDevServer({
      persistTo,
      vars: { MEMORY_BUDGET_MB: "512", MAX_CONTEXT: "256" },
    });
    try {
      await completion(server.url, { model: name, prompt: "A", max_tokens: 1 }); // load
      for (const n of [1, 2, 4, 8, 16]) rows.push(...(await concurrency(server.url, n, 32, name)));
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(persistTo, { recursive: true, force: true });
  }
  return rows.map((r) =>
    r.name.includes("streams")
      ? {
          ...r,
          name: r.name.replace("serve:", "serve gpt2 q4:"),
          note: "random gpt2 q4, context 256, 16 slots (MEMORY_BUDGET_MB=512)",
        }
      : r,
  );
}

export async function benchServe(): Promise<Row[]> {
  const persistTo = mkdtempSync(join(tmpdir(), "gpt-edge-bench-"));
  const cold: number[] = [];
  const decode: number[] = [];
  const ttft: number[] = [];
  const scaling: Row[] = [];
  try {
    uploadLocal(FIXTURE_DIR, persistTo);
    for (let r = 0; r < RESTARTS; r++) {
      const server = await startDevServer({ persistTo });
      try {
        const first = await completion(server.url, { prompt: "A", max_tokens: 1 });
        const warmRuns: number[] = [];
        for (let i = 0; i < 3; i++)
          warmRuns.push(await completion(server.url, { prompt: "A", max_tokens: 1 }));
        const warm = median(warmRuns);
        cold.push(first - warm);
        if (r > 0) continue;
        for (const n of [1, 2, 4, 8, 16])
          scaling.push(...(await concurrency(server.url, n, 100, "tiny-shakespeare")));
        for (let i = 0; i < DECODE_RUNS; i++) {
          const t = await streamTimes(server.url, {
            prompt: "ROMEO:",
            max_tokens: 200,
            temperature: 0.8,
            seed: i,
          });
          ttft.push(t[0]);
          decode.push(((t.length - 1) / (t[t.length - 1] - t[0])) * 1000);
        }
      } finally {
        await server.stop();
      }
    }
  } finally {
    rmSync(persistTo, { recursive: true, force: true });
  }
  return [
    {
      name: "serve: cold start (load from local R2)",
      value: median(cold),
      unit: "ms",
      note: `tiny-shakespeare f32, median of ${RESTARTS} restarts (first request minus a warm one)`,
    },
    {
      name: "serve: time to first token",
      value: median(ttft),
      unit: "ms",
      note: "2-token prompt, warm",
    },
    {
      name: "serve: decode, 1 stream",
      value: median(decode),
      unit: "tokens/s",
      note: `tiny-shakespeare f32, 200 tokens, median of ${DECODE_RUNS}`,
    },
    ...scaling,
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.table(await benchServe());
}
