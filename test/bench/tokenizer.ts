// Tokenizer benchmark: encode throughput on the parity corpus (ours vs js-tiktoken's gpt2, one
// process, median of 7 runs) and cold start (fromBytes of the 50k vocabulary + the first
// encode) in fresh Node processes, where the JIT is as cold as in a new Worker isolate.
// Alone: npx tsx test/bench/tokenizer.ts

import { execFileSync } from "node:child_process";
import { buildSync } from "esbuild";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { corpus, gpt2, tiktoken } from "../fixtures/tokenizer/load.js";
import { median, type Row } from "./row.js";

const RUNS = 7;
const COLD_RUNS = 5;
const PROMPT = "Hello, my dog is cute. The quick brown fox jumps over the lazy dog! 生活 🦀";
const THIS_FILE = fileURLToPath(import.meta.url);

const megabytes = (texts: string[]) => texts.reduce((n, t) => n + Buffer.byteLength(t), 0) / 1e6;

/** Median milliseconds of fn over `runs` runs (setup, if given, runs untimed before each). */
function timeMs(fn: () => void, setup: () => void = () => {}, runs = RUNS): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    setup();
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export async function benchTokenizer(): Promise<Row[]> {
  const { bytes } = gpt2();
  const cold = coldStart(bytes, true);
  const coldNoVerify = coldStart(bytes, false);

  // The 7 "long" documents (one piece of up to 12 KB each, 2.5% of the bytes) take js-tiktoken
  // ~5 s per pass (its merge loop is quadratic), so they are timed apart, tiktoken once.
  const docs = corpus();
  const isLong = (name: string) => name.startsWith("long#");
  const texts = docs.filter((d) => !isLong(d.name)).map((d) => d.text);
  const natural = docs.filter((d) => d.name.endsWith(".txt")).map((d) => d.text);
  const long = docs.filter((d) => isLong(d.name)).map((d) => d.text);

  let tok = Tokenizer.fromBytes(bytes);
  const ref = tiktoken();
  const ours = (xs: string[]) => () => xs.forEach((t) => tok.encode(t));
  const theirs = (xs: string[]) => () => xs.forEach((t) => ref.encode(t, [], []));
  const mbps = (xs: string[], ms: number) => megabytes(xs) / (ms / 1e3);
  const describe = (xs: string[]) => `${xs.length} docs, ${(megabytes(xs) * 1e6).toFixed(0)} B`;

  const rows: Row[] = [];
  const compare = (label: string, xs: string[], tiktokenRuns = RUNS) => {
    const fresh = timeMs(ours(xs), () => (tok = Tokenizer.fromBytes(bytes)));
    const warm = timeMs(ours(xs));
    const ref = timeMs(theirs(xs), undefined, tiktokenRuns);
    const note = `${describe(xs)}; median of ${RUNS}`;
    rows.push(
      { name: `encode ${label}, ours`, value: mbps(xs, warm), unit: "MB/s", note },
      {
        name: `encode ${label}, ours, new tokenizer per run`,
        value: mbps(xs, fresh),
        unit: "MB/s",
        note: "empty piece cache",
      },
      {
        name: `encode ${label}, js-tiktoken gpt2`,
        value: mbps(xs, ref),
        unit: "MB/s",
        note: `same process, median of ${tiktokenRuns}`,
      },
      {
        name: `encode ${label}, speedup vs js-tiktoken`,
        value: ref / warm,
        unit: "x",
        note: `new tokenizer per run: ${(ref / fresh).toFixed(1)}x`,
      },
    );
  };
  compare("parity corpus without long runs", texts);
  compare("natural text (prose, code, Shakespeare)", natural);
  compare("long single-piece runs", long, 1);
  rows.push(
    {
      name: "cold start: fromBytes",
      value: cold.load,
      unit: "ms",
      note: `fresh process, median of ${COLD_RUNS}`,
    },
    {
      name: "cold start: fromBytes + first encode",
      value: cold.total,
      unit: "ms",
      note: `${PROMPT.length}-char prompt`,
    },
    {
      name: "cold start: fromBytes, verify: false",
      value: coldNoVerify.load,
      unit: "ms",
      note: "checksum skipped",
    },
    {
      name: "fromBytes, warm JIT",
      value: timeMs(() => Tokenizer.fromBytes(bytes)),
      unit: "ms",
      note: `median of ${RUNS}`,
    },
    { name: "tokenizer.bin size (GPT-2, 50257 tokens)", value: bytes.length / 1024, unit: "KiB" },
  );
  return rows.map((r) => ({ ...r, name: `tokenizer ${r.name}` }));
}

/**
 * Median cold start over fresh Node processes running the esbuild bundle of src/tokenizer (the
 * shape wrangler deploys): the module is imported first, as in a Worker, then only our work is
 * timed. (Under tsx the numbers come out ~2x higher from its loader thread.)
 */
function coldStart(bytes: Uint8Array, verify: boolean): { load: number; total: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpt-edge-tokenizer-"));
  try {
    const bundle = path.join(dir, "tokenizer.mjs");
    const bin = path.join(dir, "tokenizer.bin");
    buildSync({
      entryPoints: [path.resolve(THIS_FILE, "../../../src/tokenizer/index.ts")],
      bundle: true,
      format: "esm",
      outfile: bundle,
      logLevel: "warning",
    });
    fs.writeFileSync(bin, bytes);
    const args = ["--input-type=module", "-e", CHILD, bundle, bin, String(verify)];
    const runs = Array.from({ length: COLD_RUNS }, () => {
      const out = execFileSync(process.execPath, args, { encoding: "utf8" });
      return JSON.parse(out.trim().split("\n").at(-1)!) as { load: number; total: number };
    });
    return { load: median(runs.map((r) => r.load)), total: median(runs.map((r) => r.total)) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The child process: argv = [node, bundle, tokenizer.bin, verify]. */
const CHILD = `
import fs from "node:fs";
import { pathToFileURL } from "node:url";
const [, bundle, bin, verify] = process.argv;
const { Tokenizer } = await import(pathToFileURL(bundle).href);
const bytes = new Uint8Array(fs.readFileSync(bin));
const t0 = performance.now();
const tok = Tokenizer.fromBytes(bytes, { verify: verify !== "false" });
const t1 = performance.now();
tok.encode(${JSON.stringify(PROMPT)});
const t2 = performance.now();
console.log(JSON.stringify({ load: t1 - t0, total: t2 - t0 }));
`;

function printTable(rows: Row[]) {
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    const value = r.value >= 100 ? r.value.toFixed(0) : r.value.toFixed(2);
    console.log(
      `${r.name.padEnd(width)}  ${value.padStart(8)} ${r.unit.padEnd(5)} ${r.note ?? ""}`,
    );
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === THIS_FILE) {
  printTable(await benchTokenizer());
}
