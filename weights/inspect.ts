// `inspect <out-dir>`: what a converted model contains (tensor table, bytes per dtype, shards),
// whether its files are intact (sizes and SHA-256s), and roughly how much memory it needs.
import fs from "node:fs";
import path from "node:path";
import { ALIGN, type Manifest, type ModelConfig } from "../src/model/manifest.js";
import { sha256File } from "./shard.js";
import { memoryBudgetMB } from "./wrangler-config.js";

/** Rows per prefill pass assumed for scratch; the engine's real plan lives in src/model. */
export const PREFILL_ROWS = 64;

/**
 * Rough memory for one KV slot at full context. KV: keys and values (2) per layer, n_ctx
 * positions of C f32s. Scratch for T = PREFILL_ROWS rows: residual, LayerNorm out, qkv (3C),
 * attention out, MLP hidden (4C) = 10C floats per row, attention probabilities [NH][T][n_ctx],
 * and one row of logits [V].
 */
export function memoryPlan(c: ModelConfig, weightsBytes: number, T = PREFILL_ROWS) {
  const kvCache = 2 * c.n_layer * c.n_ctx * c.n_embd * 4;
  const scratch = (T * 10 * c.n_embd + c.n_head * T * c.n_ctx + c.n_vocab) * 4;
  return { weights: weightsBytes, kvCache, scratch, total: weightsBytes + kvCache + scratch };
}

export function readManifest(dir: string): Manifest {
  const file = path.join(dir, "manifest.json");
  if (!fs.existsSync(file))
    throw new Error(`${file} not found: is ${dir} a converted model? (run "convert" first)`);
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

/** Size and SHA-256 of every file the manifest lists, plus the shard tiling. Returns problems. */
export function verifyModelDir(dir: string, m: Manifest, log: (s: string) => void = () => {}) {
  const problems: string[] = [];
  let expect = 0;
  for (const s of m.shards) {
    if (s.offset !== expect) problems.push(`${s.file} starts at ${s.offset}, expected ${expect}`);
    expect = s.offset + s.bytes;
  }
  if (expect !== m.image_bytes) problems.push(`shards cover ${expect} of ${m.image_bytes} bytes`);
  for (const t of m.tensors)
    if (t.offset % ALIGN || t.offset + t.bytes > m.image_bytes)
      problems.push(`tensor ${t.name} at ${t.offset}+${t.bytes} is misaligned or past the image`);
  for (const f of [m.tokenizer, ...m.shards]) {
    const file = path.join(dir, f.file);
    if (!fs.existsSync(file)) {
      problems.push(`${f.file} is missing`);
      continue;
    }
    const size = fs.statSync(file).size;
    if (size !== f.bytes) problems.push(`${f.file} has ${size} bytes, manifest says ${f.bytes}`);
    else if (sha256File(file) !== f.sha256) problems.push(`${f.file} SHA-256 mismatch`);
    else log(`  ok  ${f.file}`);
  }
  return problems;
}

/** MiB, as the Worker budgets WASM memory (MEMORY_BUDGET_MB · 2^20, in 64 KiB pages). */
const MiB = 1024 * 1024;
const mb = (n: number) => `${(n / MiB).toFixed(2)} MiB`;

/** Prints the report; returns false if any file is damaged. */
export function inspectModel(dir: string, out: (s: string) => void = console.log): boolean {
  const m = readManifest(dir);
  const c = m.config;
  out(`model ${m.name} (${m.format})`);
  if (m.source)
    out(
      `source: ${Object.entries(m.source)
        .map(([k, v]) => `${k}=${v}`)
        .join("  ")}`,
    );
  out(
    `config: V=${c.n_vocab} n_ctx=${c.n_ctx} C=${c.n_embd} L=${c.n_layer} NH=${c.n_head} ` +
      `eps=${c.eps} eot=${c.eot_token}`,
  );
  out("");
  out(
    `${"tensor".padEnd(28)} ${"shape".padEnd(14)} dtype ${"offset".padStart(12)} ${"bytes".padStart(11)}`,
  );
  for (const t of m.tensors)
    out(
      `${t.name.padEnd(28)} ${`[${t.shape.join(",")}]`.padEnd(14)} ${t.dtype.padEnd(5)} ` +
        `${String(t.offset).padStart(12)} ${String(t.bytes).padStart(11)}`,
    );
  const perDtype = new Map<string, number>();
  for (const t of m.tensors) perDtype.set(t.dtype, (perDtype.get(t.dtype) ?? 0) + t.bytes);
  out("");
  for (const [d, b] of perDtype) out(`${d}: ${b} bytes (${mb(b)})`);
  out(`image: ${m.image_bytes} bytes (${mb(m.image_bytes)}) incl. alignment padding`);
  out("");
  out(`tokenizer ${m.tokenizer.file} ${m.tokenizer.bytes} bytes`);
  out(`${m.shards.length} shards:`);
  for (const s of m.shards)
    out(`  ${s.file}  offset ${s.offset}  ${s.bytes} bytes  ${s.sha256.slice(0, 16)}…`);
  out("verifying sizes and SHA-256:");
  const problems = verifyModelDir(dir, m, out);
  for (const p of problems) out(`  BAD ${p}`);
  out("");
  const plan = memoryPlan(c, m.image_bytes);
  const budget = memoryBudgetMB();
  out(`memory plan (1 KV slot at n_ctx=${c.n_ctx}, ${PREFILL_ROWS}-row prefill scratch):`);
  out(`  weights ${mb(plan.weights)} + KV ${mb(plan.kvCache)} + scratch ~${mb(plan.scratch)}`);
  const fits = budget === undefined ? "" : plan.total <= budget * MiB ? " (fits" : " (OVER";
  out(
    `  total ~${mb(plan.total)}${fits ? `${fits} MEMORY_BUDGET_MB=${budget} in wrangler.toml)` : ""}`,
  );
  out(
    problems.length
      ? `${problems.length} problem(s): reconvert or re-copy the files`
      : "all files verified",
  );
  return problems.length === 0;
}
