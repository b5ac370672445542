// HF GPT-2 directory -> gpt-edge model directory (manifest.json, tokenizer.bin, shard-NNN.bin).
// Streams: source tensors are read a few MiB at a time with positioned reads, and the image is
// written shard by shard; the largest buffer is one linear weight being transposed (4C·C floats).
// --dtype q8/q4 quantizes the linear weights (and wte, unless --embedding-dtype says otherwise);
// --stages cuts the layers into pipeline stages (src/model/stages.ts) and its shards with them.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { quantBytes, quantizeRows, scaleCount } from "../src/kernels/quant.js";
import {
  FORMAT,
  MODEL_NAME_RE,
  type DType,
  type Manifest,
  type TensorEntry,
} from "../src/model/manifest.js";
import { stageOf } from "../src/model/stages.js";
import {
  parseHfTokenizer,
  parseOpenAITokenizer,
  serializeTokenizer,
  Tokenizer,
  type TokenizerData,
} from "../src/tokenizer/index.js";
import { isLinearWeight, openHfCheckpoint, sourceDtypes, type HfCheckpoint } from "./checkpoint.js";
import { stageLines } from "./inspect.js";
import { Progress, type ProgressStream } from "./progress.js";
import { FileHandles, numel, readF32, type SourceTensor } from "./safetensors.js";
import { DEFAULT_MAX_SHARD_BYTES, layoutImage, planShards, ShardWriter } from "./shard.js";
import { planModelStages, stageShards, type StageRequest } from "./stage-plan.js";

export interface ConvertOptions {
  /** Model id (R2 prefix models/<name>/ and API model name). Default: basename of the HF dir. */
  name?: string;
  /** Runtime dtype of the linear weights (and of wte unless embeddingDtype is given). */
  dtype?: DType;
  /** Runtime dtype of wte, the embedding and tied unembedding. Default: dtype. */
  embeddingDtype?: DType;
  maxShardBytes?: number;
  /** Cut the layers into pipeline stages; default: one model, no stage plan. */
  stages?: StageRequest;
  log?: (line: string) => void;
  /** Where progress goes (default stderr; shown only on a TTY). */
  progress?: ProgressStream;
}

export interface ConvertResult {
  manifest: Manifest;
  warnings: string[];
  seconds: number;
}

export const TOKENIZER_FILE = "tokenizer.bin";
/** Source elements per positioned read: 1 Mi floats = 4 MiB, whatever the source dtype. */
const CHUNK_ELEMS = 1 << 20;
/** Model names become R2 key segments and API ids: keep them URL- and path-safe. */

export function convertCheckpoint(
  hfDir: string,
  outDir: string,
  opts: ConvertOptions = {},
): ConvertResult {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const name = opts.name ?? path.basename(path.resolve(hfDir));
  if (!MODEL_NAME_RE.test(name))
    throw new Error(
      `model name "${name}" must match ${MODEL_NAME_RE} (it becomes models/<name>/ in R2)`,
    );
  const dtype = opts.dtype ?? "f32";
  const embeddingDtype = opts.embeddingDtype ?? dtype;
  const ck = openHfCheckpoint(hfDir);
  const warnings = [...ck.warnings];
  // Every refusal comes before the output directory is touched: a refused conversion leaves
  // what an earlier one wrote there.
  const tok = readTokenizer(ck, warnings);
  const config = { ...ck.config, eot_token: tok.eot };
  const { tensors, imageBytes } = layoutImage(config, { dtype, embeddingDtype });
  const kept = tensors.filter(
    (t) => t.dtype !== (t.name === "wte" ? embeddingDtype : isLinearWeight(t.name) ? dtype : "f32"),
  );
  if (kept.length)
    warnings.push(
      `${kept.length} matrices stay f32 (e.g. ${kept[0].name} [${kept[0].shape}]): ` +
        `q8/q4 need rows that are a multiple of 32 values`,
    );
  const manifest: Manifest = {
    format: FORMAT,
    name,
    config,
    tokenizer: tok.entry,
    image_bytes: imageBytes,
    tensors,
    shards: [],
  };
  if (opts.stages) manifest.stages = planModelStages(manifest, opts.stages);
  const files = new FileHandles();
  try {
    if (ck.lmHead) checkTied(files, ck.tensors.get("wte")!, ck.lmHead);
  } catch (e) {
    files.closeAll();
    throw e;
  }
  fs.mkdirSync(outDir, { recursive: true });
  removeOldOutput(outDir);
  fs.writeFileSync(path.join(outDir, TOKENIZER_FILE), tok.bytes);
  const stages = manifest.stages?.list;
  const plan = planShards(
    tensors,
    imageBytes,
    opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES,
    stages && ((name) => stageOf(name, stages)),
  );
  const dtypes = dtype === embeddingDtype ? dtype : `${dtype}, wte ${embeddingDtype}`;
  log(`${name}: ${tensors.length} tensors, ${mib(imageBytes)} (${dtypes}), ${plan.length} shards`);
  if (manifest.stages) stageLines(manifest.stages).forEach((line) => log(line));

  const writer = new ShardWriter(outDir, plan);
  const sourceBytes = tensors.reduce((n, t) => n + ck.tensors.get(t.name)!.bytes, 0);
  const progress = new Progress(`converting ${name}`, sourceBytes, opts.progress);
  const say = progress.wrap(log);
  try {
    for (const t of tensors) {
      writer.padTo(t.offset);
      const bad = writeTensor(writer, files, t, ck.tensors.get(t.name)!, progress);
      if (bad) warnings.push(`${t.name} has ${bad} NaN/inf values`);
      if (t.name.endsWith(".ln_1.weight")) say(`  ${t.name.split(".").slice(0, 2).join(".")}`);
    }
    writer.padTo(imageBytes);
  } finally {
    writer.abort();
    files.closeAll();
  }
  progress.finish();
  manifest.shards = writer.finish();
  stages?.forEach((s, i) => (s.shards = stageShards(manifest, i)));
  const seconds = (performance.now() - t0) / 1000;
  manifest.source = {
    hf_dir: path.resolve(hfDir),
    source_dtype: sourceDtypes(ck),
    dtype,
    embedding_dtype: embeddingDtype,
    converter: "weights/convert.ts",
    converted_at: new Date().toISOString(),
    seconds: Math.round(seconds * 100) / 100,
  };
  // Written last: a directory with a manifest is a complete conversion.
  fs.writeFileSync(path.join(outDir, "manifest.json"), manifestJson(manifest));
  for (const w of warnings) log(`warning: ${w}`);
  return { manifest, warnings, seconds };
}

/** Deletes what a previous conversion left (manifest first, so it never points at new shards). */
function removeOldOutput(outDir: string): void {
  fs.rmSync(path.join(outDir, "manifest.json"), { force: true });
  for (const f of fs.readdirSync(outDir))
    if (f === TOKENIZER_FILE || /^shard-\d+\.bin$/.test(f)) fs.rmSync(path.join(outDir, f));
}

/** Reads and checks the tokenizer files: tokenizer.bin's bytes and manifest entry, the eot id. */
function readTokenizer(ck: HfCheckpoint, warnings: string[]) {
  const has = (f: string) => fs.existsSync(path.join(ck.dir, f));
  const read = (f: string) => fs.readFileSync(path.join(ck.dir, f), "utf8");
  let data;
  let mergesFile = "merges.txt";
  if (has("vocab.json") && has("merges.txt"))
    data = parseHfTokenizer(read("vocab.json"), read("merges.txt"));
  else if (has("encoder.json") && has("vocab.bpe"))
    [data, mergesFile] = [
      parseOpenAITokenizer(read("encoder.json"), read("vocab.bpe")),
      "vocab.bpe",
    ];
  else
    throw new Error(
      `${ck.dir}: no tokenizer. Expected vocab.json + merges.txt (Hugging Face) or ` +
        `encoder.json + vocab.bpe (OpenAI)` +
        (has("tokenizer.json") ? "; tokenizer.json alone is not supported yet" : ""),
    );
  const orphans = unmergedTokens(data);
  if (orphans.length) {
    const some = orphans.slice(0, 3).map((id) => JSON.stringify(latin1(data.tokens[id])));
    throw new Error(
      `${ck.dir}: ${orphans.length} tokens of the vocabulary (ids ${orphans.slice(0, 3)}..., ` +
        `bytes ${some.join(", ")}) are neither single bytes, special tokens nor made by a merge ` +
        `in ${mergesFile} (${data.merges.length} merges), so text would be cut into other ` +
        `tokens than the model was trained on. Is ${mergesFile} cut short? Download it again.`,
    );
  }
  const bytes = serializeTokenizer(data);
  const tokenizer = Tokenizer.fromBytes(bytes);
  const V = ck.config.n_vocab;
  if (tokenizer.vocabSize > V)
    throw new Error(
      `${ck.dir}: the tokenizer has ${tokenizer.vocabSize} tokens but config.json vocab_size is ` +
        `${V}: ids past ${V - 1} would have no embedding. Wrong tokenizer files?`,
    );
  if (tokenizer.vocabSize < V)
    warnings.push(
      `config.json vocab_size is ${V} but the tokenizer has ${tokenizer.vocabSize} tokens: ids ` +
        `${tokenizer.vocabSize}..${V - 1} have no text, so they are never sampled (padded or ` +
        `added rows; added_tokens.json is not read)`,
    );
  // <|endoftext|> from the tokenizer's specials; config's eos_token_id only as a fallback.
  let eot = tokenizer.eot ?? ck.eosTokenId ?? V - 1;
  if (tokenizer.eot === undefined)
    warnings.push(`tokenizer has no <|endoftext|>; eot = ${eot} (from config.json or V-1)`);
  else if (ck.eosTokenId !== undefined && ck.eosTokenId !== eot)
    warnings.push(
      `config eos_token_id ${ck.eosTokenId} != tokenizer <|endoftext|> ${eot}; using ${eot}`,
    );
  if (!(eot >= 0 && eot < V)) throw new Error(`${ck.dir}: eot id ${eot} is outside [0, ${V})`);
  const entry = {
    file: TOKENIZER_FILE,
    bytes: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
  return { bytes, entry, eot };
}

const latin1 = (b: Uint8Array) => String.fromCharCode(...b);

/**
 * Ids of a BPE vocabulary's tokens that BPE can never produce: not one byte, not a special
 * token, and not the join of any merge's pair. A whole GPT-2-family vocabulary has none (its
 * 50,257 tokens are 256 bytes, 50,000 merges and <|endoftext|>); a merges file cut short
 * leaves the tokens of its lost merges.
 */
export function unmergedTokens(data: TokenizerData): number[] {
  const made = new Set<string>();
  for (const [l, r] of data.merges) made.add(latin1(data.tokens[l]) + latin1(data.tokens[r]));
  const special = new Set(Object.values(data.specials));
  const orphans: number[] = [];
  data.tokens.forEach((b, id) => {
    if (b.length > 1 && !special.has(id) && !made.has(latin1(b))) orphans.push(id);
  });
  return orphans;
}

/** Refuses an untied lm_head: compares it with wte bit for bit, chunk by chunk. */
function checkTied(files: FileHandles, wte: SourceTensor, lmHead: SourceTensor): void {
  const n = numel(wte.shape);
  const C = wte.shape[1];
  for (let first = 0; first < n; first += CHUNK_ELEMS) {
    const count = Math.min(CHUNK_ELEMS, n - first);
    const a = readF32(files.fd(wte.file), wte, first, count);
    const b = readF32(files.fd(lmHead.file), lmHead, first, count);
    const ua = new Uint32Array(a.buffer, a.byteOffset, count);
    const ub = new Uint32Array(b.buffer, b.byteOffset, count);
    for (let i = 0; i < count; i++)
      if (ua[i] !== ub[i]) {
        const e = first + i;
        throw new Error(
          `lm_head.weight differs from wte at [${Math.floor(e / C)}][${e % C}] (${b[i]} vs ` +
            `${a[i]}): GPT-2 ties them and the runtime unembeds with wte, so an untied head ` +
            `cannot be served. Drop lm_head.weight only if it is a copy of wte.`,
        );
      }
  }
}

/** Writes one tensor in runtime layout and dtype; returns the count of non-finite values. */
function writeTensor(
  w: ShardWriter,
  files: FileHandles,
  t: TensorEntry,
  s: SourceTensor,
  progress: Progress,
) {
  const fd = files.fd(s.file);
  const read = (first: number, count: number) => {
    const x = readF32(fd, s, first, count);
    progress.add((count * s.bytes) / numel(s.shape));
    return x;
  };
  let nonFinite = 0;
  const out = new TensorOut(w, t);
  const emit = (x: Float32Array) => {
    for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) nonFinite++;
    out.rows(x);
  };
  if (isLinearWeight(t.name)) {
    // HF Conv1D computes y = x @ W with W [in][out]; the kernels compute out = W · x with W
    // [out][in] so each output is one contiguous dot product. Transpose: dst[o][i] = src[i][o].
    const [nOut, nIn] = t.shape;
    const dst = new Float32Array(nOut * nIn); // [out][in]
    const rows = Math.max(1, Math.floor(CHUNK_ELEMS / nOut));
    for (let i0 = 0; i0 < nIn; i0 += rows) {
      const r = Math.min(rows, nIn - i0);
      const src = read(i0 * nOut, r * nOut); // source rows i0..i0+r-1, [r][out]
      // o outer: writes are contiguous and the r source rows' cache lines stay hot across o.
      for (let o = 0; o < nOut; o++)
        for (let i = 0, di = o * nIn + i0, si = o; i < r; i++, si += nOut) dst[di + i] = src[si];
    }
    emit(dst);
  } else {
    // wte [V][C], wpe [n_ctx][C], biases and LayerNorm params: same layout, whole rows per read.
    const rowLen = t.shape[t.shape.length - 1];
    const rows = numel(t.shape) / rowLen;
    const step = Math.max(1, Math.floor(CHUNK_ELEMS / rowLen));
    for (let r0 = 0; r0 < rows; r0 += step)
      emit(read(r0 * rowLen, Math.min(step, rows - r0) * rowLen));
  }
  out.finish();
  return nonFinite;
}

/**
 * One tensor's bytes, fed whole rows in order. f32 rows are written as they come; q8/q4 rows are
 * quantized as they come into the tensor's quants and scales (q4 interleaves rows by 4, so rows
 * land all over its quants: 19 MiB for gpt2's wte), both written at the end.
 */
class TensorOut {
  private row = 0;
  private readonly quants?: Uint8Array;
  private readonly scales?: Float32Array;

  constructor(
    private w: ShardWriter,
    private t: TensorEntry,
  ) {
    if (t.dtype === "f32") return;
    const [d, n] = t.shape;
    this.quants = new Uint8Array(quantBytes(d, n, t.dtype));
    this.scales = new Float32Array(scaleCount(d, n));
  }

  rows(x: Float32Array): void {
    const { dtype, shape } = this.t;
    if (dtype === "f32") return this.w.write(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    const n = shape[1];
    const count = x.length / n;
    quantizeRows(x, count, n, dtype, this.quants!, this.scales!, this.row);
    this.row += count;
  }

  finish(): void {
    if (!this.scales) return;
    this.w.write(this.quants!);
    this.w.padTo(this.t.scales_offset!);
    this.w.write(new Uint8Array(this.scales.buffer));
  }
}

/** Pretty JSON with one line per tensor, per shard and per stage (gpt2-xl has 580 tensors). */
export function manifestJson(m: Manifest): string {
  const { tensors, shards, stages, ...rest } = m;
  const list = (xs: object[], indent = "  ") =>
    `[\n${xs.map((x) => indent + "  " + JSON.stringify(x)).join(",\n")}\n${indent}]`;
  let head = JSON.stringify(rest, null, 2).slice(0, -2); // drop the closing "\n}"
  if (stages) {
    const { list: each, ...plan } = stages;
    const fields = Object.entries(plan).map(([k, v]) => `    "${k}": ${JSON.stringify(v)},\n`);
    head += `,\n  "stages": {\n${fields.join("")}    "list": ${list(each, "    ")}\n  }`;
  }
  return `${head},\n  "tensors": ${list(tensors)},\n  "shards": ${list(shards)}\n}\n`;
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
