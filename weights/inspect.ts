// `inspect <out-dir>`: what a converted model contains (tensor table, bytes per dtype, shards),
// whether its files are intact (sizes and SHA-256s), and how much memory it (or each of its
// pipeline stages) needs.
import fs from "node:fs";
import path from "node:path";
import {
  ALIGN,
  expectedTensors,
  MODEL_NAME_RE,
  tensorLayout,
  type Manifest,
  type StagePlan,
} from "../src/model/manifest.js";
import { ModelTooLargeError, planMemory, planServing, type MemoryPlan } from "../src/model/plan.js";
import { stageManifest, stagePlanOptions } from "../src/model/stages.js";
import { sha256File } from "./shard.js";
import { memoryBudgetMB } from "./wrangler-config.js";

/** What the Worker plans with (src/index.ts, src/engine/registry.ts): 64 rows, 8 logit rows. */
export const PLAN_ROWS = 64;
export const PLAN_LOGIT_ROWS = 8;
/** The default MAX_SLOTS of the Worker. */
export const PLAN_SLOTS = 16;

export function readManifest(dir: string): Manifest {
  const file = path.join(dir, "manifest.json");
  if (!fs.existsSync(file))
    throw new Error(`${file} not found: is ${dir} a converted model? (run "convert" first)`);
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}); reconvert the model`);
  }
  const bad = (what: string) => new Error(`${file}: ${what}; reconvert the model`);
  if (!m || typeof m !== "object" || !m.config || !Array.isArray(m.tensors) || !m.tokenizer)
    throw bad("not a converted model's manifest (no config, tensors or tokenizer)");
  // The name becomes R2 keys and a directory of stage configs that upload replaces
  if (typeof m.name !== "string" || !MODEL_NAME_RE.test(m.name))
    throw bad(`model name ${JSON.stringify(m.name)} does not match ${MODEL_NAME_RE}`);
  if (!Array.isArray(m.shards)) throw bad("no shard list");
  return m;
}

/** Size and SHA-256 of every file the manifest lists, plus the shard tiling. Returns problems. */
export function verifyModelDir(dir: string, m: Manifest, log: (s: string) => void = () => {}) {
  const problems: string[] = [];
  // The tensors the runtime looks up, in order, with their shapes (a stage runs only its own)
  const want = expectedTensors(m.config).map((t) => `${t.name} [${t.shape}]`);
  const have = m.tensors.map((t) => `${t.name} [${t.shape}]`);
  const missing = want.filter((t) => !have.includes(t));
  const extra = have.filter((t) => !want.includes(t));
  if (missing.length || extra.length)
    problems.push(
      `the tensor list is not GPT-2's for its config` +
        (missing.length ? `; missing ${missing.slice(0, 3).join(", ")}` : "") +
        (extra.length ? `; unexpected ${extra.slice(0, 3).join(", ")}` : ""),
    );
  let expect = 0;
  for (const s of m.shards) {
    if (s.offset !== expect) problems.push(`${s.file} starts at ${s.offset}, expected ${expect}`);
    expect = s.offset + s.bytes;
  }
  if (expect !== m.image_bytes) problems.push(`shards cover ${expect} of ${m.image_bytes} bytes`);
  for (const t of m.tensors) {
    if (t.offset % ALIGN || t.offset + t.bytes > m.image_bytes)
      problems.push(`tensor ${t.name} at ${t.offset}+${t.bytes} is misaligned or past the image`);
    const want = tensorLayout(t.shape, t.dtype);
    const scales = t.scales_offset === undefined ? undefined : t.scales_offset - t.offset;
    if (t.bytes !== want.bytes || scales !== want.scales)
      problems.push(
        `tensor ${t.name}: ${t.dtype} [${t.shape}] is not laid out as manifest.ts says`,
      );
  }
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
    `${"tensor".padEnd(28)} ${"shape".padEnd(14)} dtype ${"offset".padStart(12)} ` +
      `${"bytes".padStart(11)} ${"scales at".padStart(12)}`,
  );
  for (const t of m.tensors)
    out(
      (
        `${t.name.padEnd(28)} ${`[${t.shape.join(",")}]`.padEnd(14)} ${t.dtype.padEnd(5)} ` +
        `${String(t.offset).padStart(12)} ${String(t.bytes).padStart(11)} ` +
        `${String(t.scales_offset ?? "").padStart(12)}`
      ).trimEnd(),
    );
  const perDtype = new Map<string, { bytes: number; params: number }>();
  for (const t of m.tensors) {
    const e = perDtype.get(t.dtype) ?? { bytes: 0, params: 0 };
    e.bytes += t.bytes;
    e.params += t.shape.reduce((a, b) => a * b, 1);
    perDtype.set(t.dtype, e);
  }
  out("");
  for (const [d, e] of perDtype)
    out(
      `${d}: ${e.bytes} bytes (${mb(e.bytes)}) for ${e.params} values, ` +
        `${(e.bytes / e.params).toFixed(3)} bytes each${d === "f32" ? "" : " incl. scales"}`,
    );
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
  if (m.stages) problems.push(...printStagePlans(m, out));
  else printPlans(m, memoryBudgetMB(), out);
  out(
    problems.length
      ? `${problems.length} problem(s): reconvert or re-copy the files`
      : "all files verified",
  );
  return problems.length === 0;
}

/** The Worker's memory plans for this model (planServing), for one sequence and as served. */
export function printPlans(m: Manifest, budgetMB: number | undefined, out: (s: string) => void) {
  const budget = (budgetMB ?? 112) * MiB;
  const where = `MEMORY_BUDGET_MB=${budgetMB ?? "112 (default)"}`;
  const opts = { budgetBytes: budget, rows: PLAN_ROWS, logitRows: PLAN_LOGIT_ROWS };
  const line = (p: MemoryPlan) =>
    `weights ${mb(p.breakdown.weights)} + KV ${mb(p.breakdown.kv)} ` +
    `(${p.kvDtype === "q8" ? "int8" : "f32"}, ${p.slots} slot(s), context ${p.context}) + ` +
    `scratch ${mb(p.breakdown.scratch)} = ${mb(p.totalBytes)}`;
  out(`memory plan at ${where}, ${PLAN_ROWS}-row forward passes:`);
  try {
    out(`  one sequence: ${line(planServing(m, { ...opts, slots: 1 }))}`);
    out(
      `  served (MAX_SLOTS ${PLAN_SLOTS}): ${line(planServing(m, { ...opts, slots: PLAN_SLOTS }))}`,
    );
  } catch (e) {
    if (!(e instanceof ModelTooLargeError)) throw e;
    out(`  OVER BUDGET: ${e.message}`);
  }
}

/** The stage plan, one line per stage: layers, memory part by part, against the budget. */
export function stageLines(s: StagePlan): string[] {
  const kv = s.kv === "q8" ? "int8" : "f32";
  return [
    `${s.list.length} stage(s), each within ${s.budget_mb} MiB with ${s.slots} slot(s) at ` +
      `context ${s.context} (${kv} KV), ${s.rows}-row forward passes:`,
    ...s.list.map(({ layers: [first, end], memory: p, shards }, i) => {
      const what = `layers ${first}-${end - 1}${i === 0 ? " + wte, wpe, ln_f" : ""}`;
      const files = shards.length ? `, ${shards.length} shard(s)` : "";
      return (
        `  stage ${String(i).padStart(2)}: ${what.padEnd(30)} weights ${mb(p.weights)} + ` +
        `KV ${mb(p.kv)} + scratch ${mb(p.scratch)} = ${mb(p.total)} of ${s.budget_mb} MiB${files}`
      );
    }),
  ];
}

/**
 * The recorded stage plan, each stage re-planned by this version from its own manifest (which
 * also checks that its shards are its own). Returns the stages whose shards are not.
 */
function printStagePlans(m: Manifest, out: (s: string) => void): string[] {
  const stages = m.stages!;
  const problems: string[] = [];
  out("stage plan (convert --stages):");
  stageLines(stages).forEach((line) => out(line));
  stages.list.forEach((s, i) => {
    try {
      const p = planMemory(stageManifest(m, i), stagePlanOptions(stages));
      if (p.totalBytes !== s.memory.total)
        out(`  stage ${i}: this version plans ${mb(p.totalBytes)}, not ${mb(s.memory.total)}`);
    } catch (e) {
      if (!(e instanceof ModelTooLargeError)) problems.push((e as Error).message);
      else out(`  stage ${i} OVER BUDGET: ${e.message}`);
    }
  });
  problems.forEach((p) => out(`  BAD ${p}`));
  return problems;
}
