// The peer to beat (issue #13): onnxruntime-web (transformers.js's engine; WASM SIMD, one
// thread) against the Worker, on the very same random GPT-2 124M weights, in the same run.
// ../shared/peer/run.sh exports the checkpoint it writes to ONNX and times 128 greedy tokens
// after a 128-token prompt of ids (1 + 1009 i) mod V; this section converts that checkpoint to
// f32, serves it through `wrangler dev` (the relaxed-SIMD kernels workerd picks), decodes the
// same prompt the same way (both rates: NEW decode steps over their time), and checks that both
// engines chose the same tokens. The two engines take turns, one run each per round (the peer a
// fresh run.sh of one timed run after its warm-up), and the ratio is the median of the per-round
// ratios: this host slows down for seconds at a time, so runs side by side compare fairly.
// Skipped (one row saying why) when ../shared/peer or Debian's python3-torch is missing.
// Alone: npx tsx test/bench/peer.ts

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { convertCheckpoint } from "../../weights/convert.js";
import { startDevServer, uploadLocal } from "../helpers/dev-server.js";
import { ROOT } from "../setup/paths.js";
import { median, type Row } from "./row.js";
import { streamTimes } from "./serve.js";

const RUN_SH = join(ROOT, "..", "shared", "peer", "run.sh");
const CHECKPOINT = join(process.env.PEER_DIR ?? "/tmp/gpt-edge-peer", "small124m");
const OUT = join(ROOT, "build", "bench", "peer-f32");
const NAME = "gpt2-peer";
const PROMPT = 128;
const NEW = 128;
const RUNS = 5;

interface PeerResult {
  decode_tok_s: { median: number; min: number; max: number };
  prefill_ms: { median: number };
  greedy_tokens: number[];
  foreign_cpu_pct?: number;
}

const skipped = (why: string): Row[] => [{ name: "peer: skipped", value: 0, unit: "", note: why }];

/**
 * One run.sh. Spawned, not spawnSync: a blocked event loop keeps undici from retiring a pooled
 * socket before wrangler dev's proxy drops it at 5 s idle, and the next request fails on it.
 */
async function runPeer(runs: number): Promise<PeerResult | string> {
  if (!existsSync(RUN_SH)) return `${RUN_SH} not found`;
  const child = spawn("bash", [RUN_SH, "small124m", String(runs)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (status === 2) return "PyTorch missing: apt-get install -y python3-torch";
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (status !== 0 || !line) return `run.sh failed (${status}): ${stderr.slice(-300)}`;
  return JSON.parse(line.slice("RESULT ".length)) as PeerResult;
}

async function post(url: string, path: string, body: object): Promise<any> {
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: NAME, ...body }),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

export async function benchPeer(): Promise<Row[]> {
  const peer = await runPeer(1); // also writes the checkpoint and its ONNX export the first time
  if (typeof peer === "string") return skipped(peer);
  // Converted again whenever run.sh wrote a newer checkpoint than the one converted last.
  const manifest = join(OUT, "manifest.json");
  const weights = join(CHECKPOINT, "model.safetensors");
  if (!existsSync(manifest) || statSync(manifest).mtimeMs < statSync(weights).mtimeMs) {
    process.stderr.write("bench peer: converting the peer's checkpoint to f32...\n");
    convertCheckpoint(CHECKPOINT, OUT, { name: NAME, dtype: "f32" });
  }
  const config = JSON.parse(readFileSync(join(CHECKPOINT, "config.json"), "utf8"));
  const V = config.vocab_size as number;
  const prompt = Array.from({ length: PROMPT }, (_, i) => (1 + 1009 * i) % V);
  const persistTo = mkdtempSync(join(tmpdir(), "gpt-edge-peer-"));
  const rates: number[] = [];
  const peerRates: number[] = [];
  let same = "";
  try {
    uploadLocal(OUT, persistTo);
    // 475 MiB of f32 weights: more than one isolate's 112 MiB, a local-only budget.
    const server = await startDevServer({
      persistTo,
      vars: { MEMORY_BUDGET_MB: "1024", MAX_CONTEXT: "384" },
    });
    try {
      // The peer's greedy_tokens are the prefill's token and NEW decode steps: NEW + 1 tokens.
      const greedy = { prompt, max_tokens: NEW + 1, temperature: 0, ignore_eos: true };
      const ours = (await post(server.url, "/v1/completions", greedy)).choices[0].text as string;
      const theirs = (await post(server.url, "/v1/detokenize", { tokens: peer.greedy_tokens }))
        .prompt as string;
      same = ours === theirs ? `same ${NEW + 1} greedy tokens as the peer` : "greedy text DIFFERS";
      for (let r = 0; r < RUNS; r++) {
        const t = await streamTimes(server.url, { model: NAME, stream: true, ...greedy });
        rates.push(((t.length - 1) / (t[t.length - 1] - t[0])) * 1000);
        const p = await runPeer(1);
        if (typeof p === "string") throw new Error(`peer run ${r + 1}: ${p}`);
        peerRates.push(p.decode_tok_s.median);
      }
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(persistTo, { recursive: true, force: true });
  }
  const ours = median(rates);
  const theirs = median(peerRates);
  const perRound = median(rates.map((x, r) => x / peerRates[r]));
  const best = Math.max(...rates) / Math.max(...peerRates);
  const busy = peer.foreign_cpu_pct ? `, other load ${peer.foreign_cpu_pct.toFixed(0)}% CPU` : "";
  return [
    {
      name: "peer: onnxruntime-web f32 decode",
      value: theirs,
      unit: "tokens/s",
      note:
        `gpt2 124M random, WASM SIMD, 1 thread, ${PROMPT}+${NEW} greedy, median of ${RUNS} ` +
        `runs, each after a warm-up${busy}`,
    },
    {
      name: "peer: gpt-edge served f32 decode",
      value: ours,
      unit: "tokens/s",
      note: `same weights and prompt through wrangler dev (SSE), median of ${RUNS}; ${same}`,
    },
    {
      name: "peer: gpt-edge served / onnxruntime-web",
      value: perRound,
      unit: "x",
      note: `median of ${RUNS} per-round ratios (best / best ${best.toFixed(2)}x); target 1.5x`,
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const r of await benchPeer())
    console.log(`${r.name.padEnd(44)} ${r.value.toFixed(2).padStart(9)} ${r.unit} ${r.note}`);
}
