// The `stages` bench section: real GPT-2 shapes (random weights) cut into Durable Object stages
// at 112 MiB each, uploaded to a local R2 state and served by `npm run dev` (the gateway and
// every stage in one wrangler dev session), measured through HTTP: decode tokens/s of one
// stream and of N at once, time to first token of a 32- and a 512-token prompt, the cost of a
// hop between stages, and one stage against many. BENCH_STAGES picks the models: medium
// (default), gpt2, large, xl, xl-s8, comma-separated. Alone: npx tsx test/bench/stages.ts

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Manifest } from "../../src/model/manifest.js";
import { stagedModels } from "../../weights/stage-configs.js";
import { startDevServer } from "../helpers/dev-server.js";
import { ROOT } from "../setup/paths.js";
import { median, type Row } from "./row.js";
import { streamTimes } from "./serve.js";
import {
  BENCH_DIR,
  convertedCase,
  GATEWAY_BUDGET_MB,
  GROUPS,
  type StageCase,
} from "./stages-models.js";

const RUNS = 3; // each figure is the median of this many
const DECODE_TOKENS = 64;
const STREAM_TOKENS = 64;

/** `len` prompt ids spread over the vocabulary, different for each `seed`. */
const ids = (len: number, seed: number) =>
  Array.from({ length: len }, (_, i) => (i * 7919 + seed * 104729 + 13) % 50000);

const load = () => `load ${loadavg()[0].toFixed(1)}`;

export async function benchStages(): Promise<Row[]> {
  const groups = (process.env.BENCH_STAGES ?? "medium").split(",").map((g) => g.trim());
  const unknown = groups.filter((g) => !(g in GROUPS));
  if (unknown.length)
    throw new Error(`BENCH_STAGES: unknown ${unknown.join(", ")}; one of ${Object.keys(GROUPS)}`);
  const rows: Row[] = [];
  for (const g of groups) {
    const got = await benchGroup(g);
    for (const r of got)
      process.stderr.write(`  ${r.name}: ${r.value.toFixed(2)} ${r.unit} (${r.note})\n`);
    rows.push(...got);
  }
  return rows;
}

/** A group's models, uploaded together, served by one `npm run dev` session, measured in turn. */
async function benchGroup(group: string): Promise<Row[]> {
  const cases = GROUPS[group].map((c) => ({ c, ...convertedCase(c) }));
  const base = join(BENCH_DIR, "stages-run", group);
  const [stagesDir, persistTo] = [join(base, "configs"), join(base, "state")];
  uploadGroup(cases, stagesDir, persistTo);
  const scripts = cases.reduce((n, { manifest }) => n + (manifest.stages?.list.length ?? 0), 1);
  process.stderr.write(`bench: npm run dev with ${scripts} Worker scripts (${group})...\n`);
  const budget = GATEWAY_BUDGET_MB[group];
  const server = await startDevServer({
    persistTo,
    stagesDir,
    readyTimeoutMs: 600_000,
    vars: budget ? { MEMORY_BUDGET_MB: String(budget) } : {},
  });
  try {
    const rows: Row[] = [];
    for (const { c, manifest } of cases) rows.push(...(await benchCase(server.url, c, manifest)));
    if (group === "medium") rows.push(...(await overhead(server.url)));
    return rows;
  } catch (e) {
    process.stderr.write(`bench: ${group} failed; wrangler's last lines:\n${server.log()}\n`);
    throw e;
  } finally {
    await server.stop();
  }
}

/** `upload --local` of every model of a group into its own state and configs, unless done. */
function uploadGroup(
  cases: { dir: string; manifest: Manifest }[],
  stagesDir: string,
  persistTo: string,
) {
  const marker = join(persistTo, "uploaded.json");
  const stamp = JSON.stringify(cases.map(({ manifest: m }) => [m.name, m.source?.converted_at]));
  const done = existsSync(marker) && readFileSync(marker, "utf8") === stamp;
  const staged = cases.filter(({ manifest }) => manifest.stages).length;
  if (done && stagedModels(stagesDir).length === staged) return;
  rmSync(persistTo, { recursive: true, force: true }); // nothing stale served beside them
  rmSync(stagesDir, { recursive: true, force: true });
  for (const { dir, manifest } of cases) {
    process.stderr.write(`bench: uploading ${manifest.name} to ${persistTo}...\n`);
    const r = spawnSync(
      "npx",
      ["tsx", "weights/cli.ts", "upload", dir, "--local", "--persist-to", persistTo],
      { cwd: ROOT, encoding: "utf8", env: { ...process.env, GPT_EDGE_STAGES_DIR: stagesDir } },
    );
    if (r.status !== 0) throw new Error(`upload failed: ${r.stderr || r.stdout}`);
  }
  writeFileSync(marker, stamp);
}

async function post(url: string, body: object): Promise<any> {
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`completion failed: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Every hop's round trip less the later stage's compute (ms), summed over its calls so far. */
async function hopTotals(url: string, model: string): Promise<{ calls: number; ms: number }[]> {
  const res = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(120_000) });
  const status: any = await res.json();
  const staged = status.models.find((m: any) => m.id === model);
  // the bench's requests carry no cf.continent: they go to the fallback replica
  const replica = staged?.replicas?.find((r: any) => r.fallback);
  const hops: any[] = (replica?.stages ?? []).find((s: any) => s.hops)?.hops ?? [];
  if (!hops.length)
    throw new Error(`/v1/status shows no hops for ${model}: ${JSON.stringify(status)}`);
  return hops.map((h) => ({ calls: h.calls, ms: h.rpc_ms * h.calls }));
}

async function benchCase(url: string, c: StageCase, manifest: Manifest): Promise<Row[]> {
  const plan = manifest.stages;
  const name = (s: string) => `stages ${c.name}: ${s}`;
  let what = "not staged: the gateway's own isolate";
  const rows: Row[] = [];
  if (plan) {
    const largest = Math.max(...plan.list.map((s) => s.memory.total)) / 2 ** 20;
    what = `${plan.list.length} stage(s) of ${plan.slots} slot(s) at ${plan.context}, ${plan.kv} KV`;
    rows.push({
      name: name("stages"),
      value: plan.list.length,
      unit: "stages",
      note: `${what}, largest ${largest.toFixed(1)} of ${plan.budget_mb} MiB`,
    });
  }
  process.stderr.write(`bench: ${c.name}, ${what}...\n`);
  const model = c.name;
  const t0 = performance.now();
  const first = await post(url, {
    model,
    prompt: ids(8, 0),
    max_tokens: 8,
    temperature: 0,
    ignore_eos: true,
  });
  if (first.usage?.completion_tokens !== 8)
    throw new Error(`no 8 tokens: ${JSON.stringify(first)}`);
  rows.push({
    name: name("first completion, 8 greedy tokens"),
    value: performance.now() - t0,
    unit: "ms",
    note: `loads every stage from local R2; ${load()}`,
  });
  const before = c.measure.includes("hops") ? await hopTotals(url, model) : [];
  if (c.measure.includes("decode")) {
    const rates: number[] = [];
    for (let r = 0; r < RUNS; r++) rates.push(await decodeRate(url, model, r + 1));
    rows.push({
      name: name("decode, 1 stream"),
      value: median(rates),
      unit: "tokens/s",
      note: `${DECODE_TOKENS} tokens after a 32-token prompt, median of ${RUNS}; ${load()}`,
    });
  }
  if (c.measure.includes("hops")) {
    const after = await hopTotals(url, model);
    const cost = after.map((h, k) => (h.ms - before[k].ms) / (h.calls - before[k].calls));
    rows.push({
      name: name("hop cost per stage"),
      value: median(cost),
      unit: "ms",
      note: `round trip less compute, ${cost.length} hop(s) over the decode runs: ${cost.map((x) => x.toFixed(2)).join(", ")}`,
    });
  }
  if (c.measure.includes("ttft")) {
    for (const len of [32, 512]) {
      const ttft: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const t = await streamTimes(url, {
          model,
          prompt: ids(len, 100 + r),
          max_tokens: 1,
        });
        ttft.push(t[0]);
      }
      rows.push({
        name: name(`time to first token, ${len}-token prompt`),
        value: median(ttft),
        unit: "ms",
        note: `median of ${RUNS}; ${load()}`,
      });
    }
  }
  if (c.measure.includes("streams")) rows.push(...(await streams(url, c, name)));
  return rows;
}

/** One decode run: tokens/s of DECODE_TOKENS greedy tokens after a 32-token prompt. */
async function decodeRate(url: string, model: string, seed: number): Promise<number> {
  const t = await streamTimes(url, {
    model,
    prompt: ids(32, seed),
    max_tokens: DECODE_TOKENS,
    temperature: 0,
    ignore_eos: true,
  });
  return ((t.length - 1) / (t[t.length - 1] - t[0])) * 1000;
}

/**
 * c.streams concurrent streams: aggregate tokens/s over the whole run (prefills included), and
 * the median gap between two tokens of a stream once all are decoding.
 */
async function streams(url: string, c: StageCase, name: (s: string) => string): Promise<Row[]> {
  const N = c.streams!;
  const agg: number[] = [];
  const gaps: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    const runs = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        streamTimes(url, {
          model: c.name,
          prompt: ids(32, 1000 + r * N + i),
          max_tokens: STREAM_TOKENS,
          temperature: 0, // greedy, as the 1-stream runs: the gap is batching, not sampling
          ignore_eos: true,
        }),
      ),
    );
    const total = runs.reduce((s, t) => s + t.length, 0);
    if (total !== N * STREAM_TOKENS) throw new Error(`${total} tokens of ${N * STREAM_TOKENS}`);
    agg.push((total / (performance.now() - t0)) * 1000);
    const start = Math.max(...runs.map((t) => t[0])); // the last stream's first token
    gaps.push(
      median(
        runs.flatMap((t) =>
          t
            .slice(1)
            .map((x, i) => x - t[i])
            .filter((_, i) => t[i] > start),
        ),
      ),
    );
  }
  const note = `${STREAM_TOKENS} tokens each after a 32-token prompt, median of ${RUNS}; ${load()}`;
  return [
    {
      name: name(`${N} streams, aggregate`),
      value: median(agg),
      unit: "tokens/s",
      note: `whole run, prefills included; ${note}`,
    },
    {
      name: name(`${N} streams, inter-token median`),
      value: median(gaps),
      unit: "ms",
      note: `once every stream decodes: ${N} streams x 1000 / gap = ${((N * 1000) / median(gaps)).toFixed(1)} tokens/s; ${note}`,
    },
  ];
}

/**
 * One stage against many for the same model (medium q4), the pipeline's overhead on one stream:
 * decode runs of each model in turn, round after round, so a neighbour's load falls on all alike;
 * the overhead is the median over rounds of (1-stage rate / N-stage rate - 1). The same against
 * the model not staged at all (served in the gateway's isolate) is the whole cost of stages.
 */
async function overhead(url: string): Promise<Row[]> {
  const ROUNDS = 7;
  const models = ["medium-q4-1stage", "medium-q4-3stage", "medium-q4", "medium-q4-flat"];
  const label: Record<string, string> = {
    "medium-q4-1stage": "1 stage (1024 MiB, f32 KV)",
    "medium-q4-3stage": "3 stages (1024 MiB, f32 KV)",
    "medium-q4": "3 stages (112 MiB, int8 KV)",
    "medium-q4-flat": "not staged (f32 KV)",
  };
  const rates = models.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++)
    for (let k = 0; k < models.length; k++) {
      const i = (k + r) % models.length; // each model first in some rounds
      rates[i].push(await decodeRate(url, models[i], 200 + r));
    }
  const rate = (i: number) => `${label[models[i]]} ${median(rates[i]).toFixed(1)}`;
  const pairs: [number, number][] = [
    [0, 1],
    [0, 2],
    [3, 0],
    [3, 2],
  ];
  return pairs.map(([a, b]) => ({
    name: `stages: overhead, 1 stream, ${models[b]} vs ${models[a]}`,
    value: median(rates[a].map((x, r) => (x / rates[b][r] - 1) * 100)),
    unit: "%",
    note:
      `decode tokens/s, ${rate(a)} vs ${rate(b)}, medians of ${ROUNDS} interleaved rounds; ` +
      `goal <= 15; ${load()}`,
  }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.table(await benchStages());
}
