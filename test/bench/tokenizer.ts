// Tokenizer benchmark: encode throughput on the parity corpus (ours vs js-tiktoken's gpt2, in
// one process, median of 7 runs) and cold start (fromBytes of the 50k vocabulary + the first
// encode) in fresh Node processes, where the JIT is as cold as in a new Worker isolate.
// Alone: npx tsx test/bench/tokenizer.ts

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { corpus, gpt2, tiktoken } from "../fixtures/tokenizer/load.js";

export interface Row {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

const RUNS = 7;
const COLD_RUNS = 5;
const PROMPT = "Hello, my dog is cute. The quick brown fox jumps over the lazy dog! 生活 🦀";
const THIS_FILE = fileURLToPath(import.meta.url);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Median milliseconds of fn over RUNS runs (setup, if given, runs untimed before each). */
function timeMs(fn: () => void, setup: () => void = () => {}): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    setup();
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export async function benchTokenizer(): Promise<Row[]> {
  const { bytes } = gpt2();
  const cold = coldStart(bytes);
  const texts = corpus().map((d) => d.text);
  const MB = texts.reduce((n, t) => n + Buffer.byteLength(t), 0) / 1e6;
  const corpusNote = `${texts.length} documents, ${(MB * 1e6).toFixed(0)} bytes, median of ${RUNS}`;

  let tok = Tokenizer.fromBytes(bytes);
  const encodeAll = () => texts.forEach((t) => tok.encode(t));
  const freshCache = timeMs(encodeAll, () => (tok = Tokenizer.fromBytes(bytes)));
  encodeAll();
  const warm = timeMs(encodeAll);
  const ref = tiktoken();
  const tiktokenMs = timeMs(() => texts.forEach((t) => ref.encode(t, [], [])));
  const warmLoad = timeMs(() => Tokenizer.fromBytes(bytes));

  return [
    {
      name: "tokenizer encode, ours (warm piece cache)",
      value: MB / (warm / 1e3),
      unit: "MB/s",
      note: corpusNote,
    },
    {
      name: "tokenizer encode, ours (fresh tokenizer per run)",
      value: MB / (freshCache / 1e3),
      unit: "MB/s",
      note: "cold piece cache",
    },
    {
      name: "tokenizer encode, js-tiktoken gpt2",
      value: MB / (tiktokenMs / 1e3),
      unit: "MB/s",
      note: "same corpus, same process",
    },
    {
      name: "tokenizer encode speedup vs js-tiktoken",
      value: tiktokenMs / warm,
      unit: "x",
      note: `fresh cache: ${(tiktokenMs / freshCache).toFixed(1)}x`,
    },
    {
      name: "tokenizer cold start: fromBytes",
      value: cold.load,
      unit: "ms",
      note: `fresh process, median of ${COLD_RUNS}`,
    },
    {
      name: "tokenizer cold start: fromBytes + first encode",
      value: cold.total,
      unit: "ms",
      note: `${PROMPT.length}-char prompt`,
    },
    {
      name: "tokenizer fromBytes, warm JIT",
      value: warmLoad,
      unit: "ms",
      note: `median of ${RUNS}`,
    },
    { name: "tokenizer file size (GPT-2, 50257 tokens)", value: bytes.length / 1024, unit: "KiB" },
  ];
}

/** Median cold start over fresh processes that load the module, then time the tokenizer. */
function coldStart(bytes: Uint8Array): { load: number; total: number } {
  const file = path.join(os.tmpdir(), `gpt-edge-tokenizer-${process.pid}.bin`);
  fs.writeFileSync(file, bytes);
  try {
    const runs = Array.from({ length: COLD_RUNS }, () => {
      const out = execFileSync(
        process.execPath,
        ["--import", "tsx", THIS_FILE, "--cold-child", file],
        {
          encoding: "utf8",
        },
      );
      return JSON.parse(out.trim().split("\n").at(-1)!) as { load: number; total: number };
    });
    return { load: median(runs.map((r) => r.load)), total: median(runs.map((r) => r.total)) };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** The child: the module is already imported (as a Worker's would be); time only our work. */
function coldChild(file: string) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const t0 = performance.now();
  const tok = Tokenizer.fromBytes(bytes);
  const t1 = performance.now();
  tok.encode(PROMPT);
  const t2 = performance.now();
  console.log(JSON.stringify({ load: t1 - t0, total: t2 - t0 }));
}

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
  const child = process.argv.indexOf("--cold-child");
  if (child >= 0) coldChild(process.argv[child + 1]);
  else printTable(await benchTokenizer());
}
