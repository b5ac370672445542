// Weights at GPT-2 scale: a seeded random checkpoint with gpt2's (124M) shapes, converted to
// f32 / q8 / q4: bytes on disk, the Worker's memory plan at 112 MiB, cold-start load time (Node:
// loadModel from the converted folder; and for q4 under `wrangler dev` from local R2, then from
// the Cache API after a restart), and decode tokens/s per dtype (Node, the model's forward pass,
// T = 1 steps at context 128).
// Checkpoints live in build/bench/ and are reused. Alone: npx tsx test/bench/weights.ts

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel, type LoadedModel } from "../../src/model/loader.js";
import type { DType } from "../../src/model/manifest.js";
import { ModelTooLargeError, planServing } from "../../src/model/plan.js";
import { uploadLocal } from "../helpers/dev-server.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { ROOT } from "../setup/paths.js";
import { convertedGpt2 } from "./gpt2-random.js";
import { median, type Row } from "./row.js";

const MiB = 2 ** 20;
const BUDGET = 112 * MiB;
const LOAD_RUNS = 3;
const DECODE_RUNS = 3;
const DECODE_STEPS = 32;
const CONTEXT = 128;

const VARIANTS: { name: string; dtype: DType; embeddingDtype?: DType }[] = [
  { name: "f32", dtype: "f32" },
  { name: "q8", dtype: "q8" },
  { name: "q4", dtype: "q4" },
  { name: "q8 + q4 wte", dtype: "q8", embeddingDtype: "q4" },
];

const load = (dir: string, budgetBytes: number) =>
  loadModel(modelDirStore(dir, "gpt2-random"), "gpt2-random", {
    kernels: loadKernelModule(),
    budgetBytes,
    slots: 1,
    cache: null,
  });

/** Prefill CONTEXT tokens, then DECODE_STEPS single-token steps: tokens/s of the steps. */
function decodeRate(lm: LoadedModel): { decode: number; prefill: number } {
  const ids = Array.from({ length: CONTEXT + DECODE_STEPS }, (_, i) => (i * 7919) % 50000);
  const prefills: number[] = [];
  const decodes: number[] = [];
  for (let r = 0; r < DECODE_RUNS; r++) {
    let t0 = performance.now();
    for (let p = 0; p < CONTEXT; p += lm.plan.rows) {
      const chunk = ids.slice(p, Math.min(CONTEXT, p + lm.plan.rows));
      lm.model.forward([{ slot: 0, pos0: p, ids: chunk, logits: "last" }], () => {});
    }
    prefills.push((CONTEXT / (performance.now() - t0)) * 1000);
    t0 = performance.now();
    for (let p = CONTEXT; p < CONTEXT + DECODE_STEPS; p++) {
      lm.model.forward([{ slot: 0, pos0: p, ids: [ids[p]], logits: "last" }], () => {});
    }
    decodes.push((DECODE_STEPS / (performance.now() - t0)) * 1000);
  }
  return { decode: median(decodes), prefill: median(prefills) };
}

/** A free port in 8820-8829 (the range this project's benchmarks use for wrangler dev). */
async function port(): Promise<number> {
  for (let p = 8820; p <= 8829; p++) {
    const free = await new Promise<boolean>((ok) => {
      const s = createServer().once("error", () => ok(false));
      s.listen(p, "127.0.0.1", () => s.close(() => ok(true)));
    });
    if (free) return p;
  }
  throw new Error("no free port in 8820-8829");
}

/**
 * `wrangler dev` over `persistTo`: ms of the first completion (which loads the model) minus a
 * warm one, and the server's own loadModel time from GET /v1/status (NaN if not reported).
 */
async function wranglerColdStart(persistTo: string): Promise<{ cold: number; loadMs: number }> {
  const p = await port();
  const args = [
    "wrangler",
    "dev",
    "--port",
    `${p}`,
    "--ip",
    "127.0.0.1",
    "--persist-to",
    persistTo,
  ];
  const env = {
    ...process.env,
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
  };
  const child = spawn("npx", args, { cwd: ROOT, env, stdio: "ignore", detached: true });
  const url = `http://127.0.0.1:${p}`;
  const get = (path: string) =>
    fetch(url + path).then(
      (r) => (r.ok ? r.json() : null),
      () => null,
    );
  const complete = async () => {
    const t0 = performance.now();
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt2-random", prompt: "Hello", max_tokens: 1 }),
    });
    if (!res.ok) throw new Error(`completion failed: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    return performance.now() - t0;
  };
  try {
    for (
      const t = Date.now();
      !(await get("/v1/models"));
      await new Promise((r) => setTimeout(r, 250))
    )
      if (Date.now() - t > 60_000) throw new Error("wrangler dev did not start in 60 s");
    const first = await complete();
    const warm = median([await complete(), await complete(), await complete()]);
    const status = (await get("/v1/status")) as { models?: { id: string; load_ms?: number }[] };
    const loadMs = status?.models?.find((m) => m.id === "gpt2-random")?.load_ms ?? NaN;
    return { cold: first - warm, loadMs };
  } finally {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {}
    await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(null)));
  }
}

/** Cold starts of the q4 model under wrangler dev: from local R2, then (restarted) cached. */
async function coldStarts(dir: string): Promise<Row[]> {
  const persistTo = mkdtempSync(join(tmpdir(), "gpt-edge-bench-weights-"));
  try {
    process.stderr.write("bench weights: wrangler dev cold starts (q4 from local R2)...\n");
    uploadLocal(dir, persistTo);
    const r2 = await wranglerColdStart(persistTo);
    const again = await wranglerColdStart(persistTo); // a new isolate, same local state
    const note = (r: { loadMs: number }, from: string) =>
      `wrangler dev, 112 MiB; loadModel ${r.loadMs.toFixed(0)} ms; ${from}`;
    return [
      {
        name: "weights gpt2 124M q4: cold start, local R2",
        value: r2.cold,
        unit: "ms",
        note: note(r2, "empty Cache API"),
      },
      {
        name: "weights gpt2 124M q4: cold start after restart",
        value: again.cold,
        unit: "ms",
        note: note(again, "shards the first run cached"),
      },
    ];
  } finally {
    rmSync(persistTo, { recursive: true, force: true });
  }
}

export async function benchWeights(): Promise<Row[]> {
  const rows: Row[] = await coldStarts(convertedGpt2("q4").dir);
  for (const v of VARIANTS) {
    const { dir, manifest: m, seconds: s } = convertedGpt2(v.dtype, v.embeddingDtype);
    rows.push({
      name: `weights gpt2 124M ${v.name}: converted size`,
      value: m.image_bytes / MiB,
      unit: "MiB",
      note: `${m.shards.length} shards, converted in ${s.toFixed(1)} s`,
    });
    const opts = { budgetBytes: BUDGET, rows: 64, logitRows: 8 };
    let fits = false;
    try {
      const p = planServing(m, { ...opts, slots: 16 });
      fits = true;
      rows.push({
        name: `weights gpt2 124M ${v.name}: memory plan at 112 MiB`,
        value: p.totalBytes / MiB,
        unit: "MiB",
        note:
          `weights ${(p.breakdown.weights / MiB).toFixed(1)} + KV ${(p.breakdown.kv / MiB).toFixed(1)} ` +
          `(${p.kvDtype === "q8" ? "int8" : "f32"}, ${p.slots} slot x ${p.context}) + scratch ` +
          `${(p.breakdown.scratch / MiB).toFixed(1)}`,
      });
    } catch (e) {
      if (!(e instanceof ModelTooLargeError)) throw e;
      rows.push({
        name: `weights gpt2 124M ${v.name}: memory plan at 112 MiB`,
        value: e.plan.totalBytes / MiB,
        unit: "MiB",
        note: "refused: the smallest plan (1 slot, int8 KV, shortest context) is over budget",
      });
    }
    // Over-budget dtypes still get speed numbers, in Node with room to spare.
    const budget = fits ? BUDGET : 2 ** 31;
    const loads: number[] = [];
    let lm: LoadedModel | undefined;
    for (let r = 0; r < LOAD_RUNS; r++) {
      lm = await load(dir, budget);
      loads.push(lm.loadMs);
    }
    rows.push({
      name: `weights gpt2 124M ${v.name}: cold load (Node, from disk)`,
      value: median(loads),
      unit: "ms",
      note: `loadModel: read + SHA-256 + copy into WASM memory, median of ${LOAD_RUNS}`,
    });
    const { decode, prefill } = decodeRate(lm!);
    const kv = lm!.plan.kvDtype === "q8" ? "int8" : "f32";
    rows.push({
      name: `weights gpt2 124M ${v.name}: decode`,
      value: decode,
      unit: "tokens/s",
      note: `T=1 at context ${CONTEXT}, ${kv} KV, median of ${DECODE_RUNS}`,
    });
    rows.push({
      name: `weights gpt2 124M ${v.name}: prefill`,
      value: prefill,
      unit: "tokens/s",
      note: `${CONTEXT} tokens in 64-row passes`,
    });
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.table(await benchWeights());
}
