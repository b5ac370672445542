// `npm run bench`: every benchmark in one run, printed as one table. Figures are medians (the
// kernels: the best of interleaved rounds, with the median beside; test/bench/kernels.ts says why);
// targets live here, never in timed tests.

import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { workerdCodegen } from "../../src/kernels/node.js";
import { benchKernels } from "./kernels.js";
import { benchLoad } from "./load.js";
import { benchPeer } from "./peer.js";
import { benchPipelineDepth } from "./pipeline-depth.js";
import { benchServe, benchServeGpt2 } from "./serve.js";
import { benchServeOverhead } from "./serve-overhead.js";
import type { Row } from "./row.js";
import { benchSampler } from "./sampler.js";
import { benchStages } from "./stages.js";
import { benchTokenizer } from "./tokenizer.js";
import { benchWeights } from "./weights.js";

const sections: [string, () => Promise<Row[]>][] = [
  ["tokenizer", benchTokenizer],
  ["sampler", benchSampler],
  ["weights", benchWeights],
  ["kernels", () => benchKernels()],
  ["serve", benchServe],
  ["serve-gpt2", benchServeGpt2],
  ["serve-overhead", () => benchServeOverhead()],
  ["peer", benchPeer],
  ["pipeline-depth", benchPipelineDepth],
  ["load", benchLoad],
  ["stages", benchStages],
];

// Every module this process compiles, compiled as a warm Worker runs it (explicit bounds checks,
// TurboFan from the first call), so bare figures are the Worker's kernels: not faster ones Node's
// trap handler would give, nor slower Liftoff code a short warm-up would time.
workerdCodegen();

const only = process.argv.slice(2);
const rows: Row[] = [];
for (const [name, run] of sections) {
  if (only.length && !only.includes(name)) continue;
  process.stderr.write(`bench: ${name}...\n`);
  const got = await run();
  rows.push(...got);
  // Each section's rows as they land, so a run cut short still leaves its figures behind.
  for (const r of got) process.stderr.write(`  ${r.name}: ${r.value} ${r.unit} ${r.note ?? ""}\n`);
}

/** The machine every figure belongs to: CPU model, family/model numbers, AVX-512, cores, commit. */
function machine(): string {
  let info = "";
  try {
    info = readFileSync("/proc/cpuinfo", "utf8");
  } catch {} // not Linux: the model name from os.cpus() alone
  const field = (name: string) => info.match(new RegExp(`^${name}\\s*: (.*)$`, "m"))?.[1];
  const family = field("cpu family");
  const avx512 = / avx512f /.test(field("flags") ?? "") ? "AVX-512" : "no AVX-512";
  let commit = "unknown commit";
  try {
    commit = execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim();
  } catch {}
  const id = family ? ` (family ${family}, model ${field("model")}, ${avx512})` : "";
  return `${cpus()[0]?.model ?? "unknown CPU"}${id}, ${cpus().length} cores, node ${process.version} (V8 ${process.versions.v8}), ${commit}, ${new Date().toISOString().slice(0, 16)}Z, WASM compiled as workerd does (explicit bounds checks)`;
}

const fmt = (v: number) =>
  Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
const table = rows.map((r) => [r.name, fmt(r.value), r.unit, r.note ?? ""]);
const head = ["workload", "value", "unit", "note"];
const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
const line = (cells: string[]) =>
  "| " +
  cells.map((c, i) => (i === 1 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(" | ") +
  " |";
console.log(machine());
console.log(line(head));
console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
for (const r of table) console.log(line(r));
