// `npm run eval`: perplexity of the default model (tiny-shakespeare) on the held-out tenth of
// Tiny Shakespeare, for each weight dtype (and the int8 KV cache), through the real forward pass
// (converter -> loadModel -> GPT2.forward with the WASM kernels). Sliding windows of 256 tokens
// with stride 128: every token after the first is scored once, with 128-255 tokens of context.
// Options: --stride N, --max-tokens N (score fewer tokens, for a quick look).

import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel } from "../../src/model/loader.js";
import type { GPT2 } from "../../src/model/gpt2.js";
import type { DType } from "../../src/model/manifest.js";
import type { KvDtype } from "../../src/model/plan.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { CORPUS_SNIPPET, ROOT, SOURCE_DIR } from "../setup/paths.js";

const WINDOW = 256;

export interface Variant {
  name: string;
  dtype: DType;
  embeddingDtype?: DType;
  kv: KvDtype;
}

export const VARIANTS: Variant[] = [
  { name: "f32", dtype: "f32", kv: "f32" },
  { name: "q8", dtype: "q8", kv: "f32" },
  { name: "q4", dtype: "q4", kv: "f32" },
  { name: "q8 + q4 wte", dtype: "q8", embeddingDtype: "q4", kv: "f32" },
  { name: "f32, int8 KV", dtype: "f32", kv: "q8" },
  { name: "q4, int8 KV", dtype: "q4", kv: "q8" },
];

export interface EvalRow {
  variant: Variant;
  imageBytes: number;
  tokens: number;
  nll: number; // mean negative log-likelihood, nats per token
  ppl: number;
  seconds: number;
}

/** The default checkpoint converted as `v` (under build/eval/) and loaded with the WASM kernels. */
export async function prepare(v: Variant) {
  const dir = join(ROOT, "build", "eval", v.name.replace(/[^a-z0-9]+/gi, "-"));
  rmSync(dir, { recursive: true, force: true });
  const { dtype, embeddingDtype } = v;
  const conv = convertCheckpoint(SOURCE_DIR, dir, { name: "eval", dtype, embeddingDtype });
  const lm = await loadModel(modelDirStore(dir, "eval"), "eval", {
    kernels: loadKernelModule(),
    budgetBytes: 1 << 30,
    slots: 1,
    rows: WINDOW,
    logitRows: 32,
    kv: v.kv,
    cache: null,
  });
  return { lm, imageBytes: conv.manifest.image_bytes };
}

/**
 * Mean NLL of `ids` under the model (KV slot 0), sliding windows of 256 with `stride`, each
 * window prefilled in passes of at most plan.rows tokens.
 */
export function perplexity(model: GPT2, ids: number[], stride: number, maxTokens = Infinity) {
  let nll = 0;
  let scored = 0;
  for (let start = 0; start + 1 < ids.length && scored < maxTokens; start += stride) {
    const win = ids.slice(start, start + WINDOW);
    const first = start === 0 ? 0 : WINDOW - stride - 1; // positions whose next token is new
    for (let p0 = 0; p0 < win.length; p0 += model.plan.rows) {
      const chunk = win.slice(p0, p0 + model.plan.rows);
      model.forward([{ slot: 0, pos0: p0, ids: chunk, logits: "all" }], (_s, i, logits) => {
        const t = p0 + i;
        if (t < first || t + 1 >= win.length || scored >= maxTokens) return;
        nll -= logSoftmaxAt(logits, win[t + 1]);
        scored++;
      });
    }
    if (start + WINDOW >= ids.length) break;
  }
  return { tokens: scored, nll: nll / scored };
}

/** log p(target) under softmax(logits), in f64 with the max subtracted. */
function logSoftmaxAt(logits: Float32Array, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[target] - max - Math.log(sum);
}

export async function runEval(stride = WINDOW / 2, maxTokens = Infinity): Promise<EvalRow[]> {
  const text = readFileSync(CORPUS_SNIPPET, "utf8");
  let ids: number[] | undefined;
  const rows: EvalRow[] = [];
  for (const v of VARIANTS) {
    process.stderr.write(`eval: ${v.name}...\n`);
    const { lm, imageBytes } = await prepare(v);
    ids ??= lm.tokenizer.encode(text);
    const t0 = performance.now();
    const { tokens, nll } = perplexity(lm.model, ids, stride, maxTokens);
    const seconds = (performance.now() - t0) / 1000;
    rows.push({ variant: v, imageBytes, tokens, nll, ppl: Math.exp(nll), seconds });
  }
  return rows;
}

export function printEval(rows: EvalRow[], out = console.log) {
  const base = rows.find((r) => r.variant.name === "f32")!;
  out(
    `perplexity of tiny-shakespeare on the held-out tenth (${base.tokens} tokens, windows of ${WINDOW})`,
  );
  out("| variant | weights MiB | ppl | vs f32 | nats/token | s |");
  out("|---|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    const d = (r.ppl / base.ppl - 1) * 100;
    const vs = r === base ? "-" : `${d >= 0 ? "+" : "-"}${Math.abs(d).toFixed(2)}%`;
    const mib = (r.imageBytes / 2 ** 20).toFixed(2);
    out(
      `| ${r.variant.name} | ${mib} | ${r.ppl.toFixed(3)} | ${vs} | ${r.nll.toFixed(4)} | ${r.seconds.toFixed(1)} |`,
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { stride: { type: "string" }, "max-tokens": { type: "string" } },
  });
  const rows = await runEval(
    Number(values.stride ?? WINDOW / 2),
    Number(values["max-tokens"] ?? Infinity),
  );
  printEval(rows);
}
