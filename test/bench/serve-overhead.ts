// What serving costs on top of the forward pass: the same model decoding bare (the relaxed
// kernels, the forward pass alone, the Worker's memory plan) in Node and inside workerd (the
// bench Worker in bare-worker/), and served (`wrangler dev`: HTTP, SSE, greedy sampling,
// detokenizing), from a 128-token prompt for 128 new tokens, one stream and 8 concurrent
// streams, all runs interleaved; each served rate is printed with its ratio to Node's bare rate
// (issue #13's target: ≥ 90%) and to workerd's (what the serving path itself costs).
// Alone: npx tsx test/bench/serve-overhead.ts [tiny] [gpt2-f32] [gpt2-q8] [gpt2-q4]

import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadKernelModule, workerdCodegen } from "../../src/kernels/node.js";
import { loadModel } from "../../src/model/loader.js";
import type { DType, Manifest } from "../../src/model/manifest.js";
import { startDevServer, type DevServer } from "../helpers/dev-server.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { FIXTURE_DIR, ROOT } from "../setup/paths.js";
import { convertedGpt2 } from "./gpt2-random.js";
import { median, type Row } from "./row.js";
import { type BareRates, bareRequests, NEW, promptIds } from "./serve-shape.js";

const BATCH = 8;
const BARE_WORKER = join(ROOT, "test", "bench", "bare-worker", "wrangler.toml");
const RUNS = Number(process.env.RUNS ?? 5);

interface Target {
  label: string;
  dir: () => string;
  /** The Worker's vars, mirrored in the bare model's plan. */
  budgetMb: number;
  slots: number;
  context: number;
}

const gpt2 = (dtype: DType): Target => ({
  label: `gpt2 124M ${dtype}`,
  dir: () => convertedGpt2(dtype).dir,
  budgetMb: 1024, // f32 gpt2 needs ~0.6 GiB: a local-only budget, the same for every dtype
  slots: BATCH,
  context: 256,
});

const TARGETS: Record<string, Target> = {
  tiny: {
    label: "tiny-shakespeare f32",
    dir: () => FIXTURE_DIR,
    budgetMb: 112,
    slots: 16,
    context: 256,
  },
  "gpt2-f32": gpt2("f32"),
  "gpt2-q8": gpt2("q8"),
  "gpt2-q4": gpt2("q4"),
};

/**
 * Every request on a connection of its own. bareRequests blocks this process's event loop for
 * seconds (f32, 8 streams: ~30 s), so undici's 4-s idle timer cannot retire a pooled socket
 * before wrangler's proxy closes it at 5 s idle; the next request then goes out on the dead
 * socket and fails with "fetch failed" (SocketError: other side closed): what cut the f32 target
 * short (a pooled socket idle ~3.9 s, then the Node run of f32).
 */
const FRESH = { connection: "close" };

/**
 * One served stream, read to its end; checks it generated NEW tokens. Returns when (performance
 * .now()) the chunks holding its first and its last token event arrived.
 */
async function serveStream(
  url: string,
  model: string,
  ids: number[],
): Promise<{ first: number; last: number }> {
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...FRESH },
    body: JSON.stringify({
      model,
      prompt: ids,
      max_tokens: NEW,
      temperature: 0,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!res.ok || !res.body) throw new Error(`stream failed: ${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let first = 0; // when the first token event came (a token whose text is held back has none)
  let last = 0; // and the last token's, the one with finish_reason "length"
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    const at = performance.now();
    text += decoder.decode(r.value, { stream: true });
    if (!first && text.includes('"finish_reason"')) first = at;
    if (!last && text.includes('"finish_reason":"length"')) last = at;
  }
  const usage = text.match(/"completion_tokens":(\d+)/);
  if (Number(usage?.[1]) !== NEW || !text.trimEnd().endsWith("data: [DONE]")) {
    throw new Error(`stream did not give ${NEW} tokens: ...${text.slice(-300)}`);
  }
  return { first, last };
}

/**
 * B concurrent served requests, each PROMPT + NEW tokens: their tokens (B · NEW) per second from
 * sending the first to the last byte of the last, as bareRequests counts them. Whole requests,
 * not inter-chunk times: on a loaded machine the client reads SSE chunks in bursts. For one
 * stream also its decode rate at the client: NEW - 1 tokens from its first token's arrival to
 * its last's (beside bareRequests' decode steps; without the request's fixed costs, e.g. the
 * hop through wrangler dev's proxy, ~6.5 ms a request here, and the prefill).
 */
async function servedRequests(url: string, model: string, V: number, B: number) {
  const t0 = performance.now();
  const spans = await Promise.all(
    Array.from({ length: B }, (_, s) => serveStream(url, model, promptIds(V, s))),
  );
  const whole = (B * NEW * 1000) / (performance.now() - t0);
  const { first, last } = spans[0];
  return { whole, decode: B === 1 ? ((NEW - 1) * 1000) / (last - first) : NaN };
}

/** An error and its causes, each with its stack: undici's "fetch failed" says why only in its cause. */
function causes(e: unknown): string[] {
  const out: string[] = [];
  for (let c = e; c !== undefined && out.length < 8; c = c instanceof Error ? c.cause : undefined) {
    const code = (c as { code?: unknown })?.code;
    out.push(`${c instanceof Error ? c.stack : String(c)}${code ? ` (code ${code})` : ""}`);
  }
  return out;
}

async function measure(t: Target): Promise<Row[]> {
  const dir = t.dir();
  const m: Manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  const V = m.config.n_vocab;
  const plan = { mb: t.budgetMb, slots: t.slots, context: t.context };
  const lm = await loadModel(modelDirStore(dir, m.name), m.name, {
    kernels: loadKernelModule("relaxed"), // the build workerd instantiates, compiled as it does
    budgetBytes: plan.mb * 2 ** 20,
    slots: plan.slots,
    rows: 64,
    logitRows: 8,
    context: plan.context,
    cache: null,
  });
  const vars = {
    MEMORY_BUDGET_MB: String(plan.mb),
    MAX_SLOTS: String(plan.slots),
    MAX_CONTEXT: String(plan.context),
  };
  const runs: Record<string, number[]> = {};
  const keep = (key: string, v: number) => (runs[key] ??= []).push(v);
  let served: DevServer | undefined;
  let bare: DevServer | undefined;
  try {
    served = await startDevServer({ models: [dir], vars });
    bare = await startDevServer({ persistTo: served.persistTo, config: BARE_WORKER });
    const query = `model=${m.name}&mb=${plan.mb}&slots=${plan.slots}&context=${plan.context}`;
    const workerd = async (B: number) => {
      const res = await fetch(`${bare!.url}/?${query}&batch=${B}`, { headers: FRESH });
      if (!res.ok) throw new Error(`bare worker: ${res.status} ${await res.text()}`);
      return (await res.json()) as BareRates;
    };
    const keepBare = (where: string, B: number, r: BareRates) => {
      keep(`${where} ${B}`, r.tokensPerSecond);
      keep(`${where} prefill ${B}`, r.prefill);
      keep(`${where} decode ${B}`, r.decode);
    };
    // Warm-up: loads the model in both Workers, tiers the kernels up.
    await serveStream(served.url, m.name, promptIds(V, 0));
    await workerd(1);
    bareRequests(lm, 1);
    for (let r = 0; r < RUNS; r++) {
      for (const B of [1, BATCH]) {
        const s = await servedRequests(served.url, m.name, V, B);
        keep(`served ${B}`, s.whole);
        if (B === 1) keep(`served decode ${B}`, s.decode);
        keepBare("workerd", B, await workerd(B));
        keepBare("node", B, bareRequests(lm, B));
      }
    }
  } catch (e) {
    const logs = `served:\n${served?.log().slice(-2000)}\nbare:\n${bare?.log().slice(-2000)}`;
    throw new Error(`${t.label}: ${causes(e).join("\n  caused by: ")}\n${logs}`, { cause: e });
  } finally {
    await bare?.stop();
    await served?.stop();
  }
  const kv = lm.plan.kvDtype === "q8" ? "int8" : "f32";
  const note = `prefill + decode; ${kv} KV, context ${plan.context}; medians of ${RUNS} interleaved runs`;
  const rows: Row[] = [];
  for (const B of [1, BATCH]) {
    const [node, workerd, served] = ["node", "workerd", "served"].map((k) =>
      median(runs[`${k} ${B}`]),
    );
    // A ratio of two figures is the median of its per-run ratios: the two runs it divides sat
    // next to each other, so a slow phase of the host (seconds long) mostly hits both.
    const ratio = (a: string, b: string) =>
      100 * median(runs[`${a} ${B}`].map((x, r) => x / runs[`${b} ${B}`][r]));
    const what = `${t.label}, ${B} stream${B > 1 ? "s" : ""}`;
    // The parts, in each runtime: workerd's V8 (a newer one) and its bounds checks are what the
    // Worker's kernels run on; Node's figures are the kernels bench's (assembly/PERF.md).
    const [nd, wd, np, wp] = [
      "node decode",
      "workerd decode",
      "node prefill",
      "workerd prefill",
    ].map((k) => median(runs[`${k} ${B}`]));
    rows.push(
      {
        name: `${what}: decode steps alone, bare Node / workerd`,
        value: nd,
        unit: "tokens/s",
        note: `workerd ${wd.toFixed(1)} (${ratio("workerd decode", "node decode").toFixed(0)}% of Node)`,
      },
      {
        name: `${what}: prefills alone, bare Node / workerd`,
        value: np,
        unit: "tokens/s",
        note: `workerd ${wp.toFixed(1)} (${ratio("workerd prefill", "node prefill").toFixed(0)}% of Node)`,
      },
    );
    rows.push(
      { name: `${what}: bare, Node`, value: node, unit: "tokens/s", note },
      { name: `${what}: bare, workerd`, value: workerd, unit: "tokens/s", note },
      {
        name: `${what}: served`,
        value: served,
        unit: "tokens/s",
        note: "wrangler dev, greedy, SSE",
      },
      {
        name: `${what}: served / bare Node`,
        value: ratio("served", "node"),
        unit: "%",
        note: "target ≥ 90; median of per-run ratios",
      },
      {
        name: `${what}: served / bare workerd`,
        value: ratio("served", "workerd"),
        unit: "%",
        note: "the serving path's own cost; median of per-run ratios",
      },
    );
    if (B === 1) {
      const sd = median(runs[`served decode ${B}`]);
      rows.push({
        name: `${what}: served decode`,
        value: sd,
        unit: "tokens/s",
        note:
          `first to last token at the client; ${ratio("served decode", "workerd decode").toFixed(0)}% ` +
          `of bare workerd's decode steps, ${ratio("served decode", "node decode").toFixed(0)}% of ` +
          `Node's (target ≥ 90; medians of per-run ratios)`,
      });
    }
  }
  return rows;
}

export async function benchServeOverhead(which = Object.keys(TARGETS)): Promise<Row[]> {
  process.stderr.write(`serve-overhead on ${cpus()[0]?.model ?? "an unknown CPU"}\n`);
  workerdCodegen(); // bare Node's kernels compiled as workerd compiles them (explicit bounds checks)
  const rows: Row[] = [];
  for (const key of which) {
    const t = TARGETS[key];
    if (!t) throw new Error(`unknown target ${key}; one of ${Object.keys(TARGETS).join(", ")}`);
    process.stderr.write(`serve-overhead: ${t.label}...\n`);
    // One target failing (a server that died) is a row of the table, not the end of the bench.
    try {
      rows.push(...(await measure(t)));
    } catch (e) {
      process.stderr.write(`${e instanceof Error ? e.message : e}\n`);
      const why = causes(e instanceof Error ? (e.cause ?? e) : e)
        .map((c) => c.split("\n")[0])
        .join(" <- ");
      rows.push({ name: `serve-overhead ${t.label}: FAILED`, value: 0, unit: "", note: why });
    }
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const which = process.argv.slice(2);
  console.log(cpus()[0]?.model);
  console.table(await benchServeOverhead(which.length ? which : undefined));
}
