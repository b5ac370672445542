// The weights CLI: `npm run weights -- <command>` (tsx weights/cli.ts). Converts HF GPT-2
// checkpoints, uploads them to R2 (local or remote), inspects and packs converted models.
// Exit codes: 0 ok, 1 the command failed, 2 bad usage.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { convertCheckpoint } from "./convert.js";
import type { StageRequest } from "./stage-plan.js";
import { inspectModel } from "./inspect.js";
import { packModelDir } from "./pack.js";
import type { DType } from "../src/model/manifest.js";
import { writeRandomCheckpoint, SHAPES, type ShapeName } from "./random.js";
import { DEFAULT_MAX_SHARD_BYTES } from "./shard.js";
import { uploadModel } from "./upload.js";

const USAGE = `usage: npm run weights -- <command> [options]

  convert <hf-dir> <out-dir> [--name NAME] [--max-shard-bytes N] [--dtype f32|q8|q4]
          [--embedding-dtype f32|q8|q4] [--stages auto|N [--stage-slots S]
          [--stage-context CTX] [--stage-kv auto|f32|q8] [--budget-mb MB]]
      Hugging Face GPT-2 dir (config.json, model.safetensors or model.safetensors.index.json,
      vocab.json + merges.txt or encoder.json + vocab.bpe) -> manifest.json, tokenizer.bin,
      shard-NNN.bin. NAME defaults to the hf-dir's basename. N: bytes, or 512KiB / 16MiB
      (default 16MiB; multiple of 16). --dtype: the linear weights, f32 (exact, default), q8
      (int8 blocks of 32 with a scale, 1.125 bytes/weight) or q4 (4-bit blocks of 32,
      0.625 bytes/weight); --embedding-dtype: wte (also the tied unembedding), default --dtype.
      Biases, LayerNorm and wpe stay f32. gpt2 (124M) fits one 112 MiB isolate as q4.
      --stages: cut the layers into pipeline stages (a Durable Object each, see upload), the
      fewest that fit (auto) or N, each within MB MiB (default MEMORY_BUDGET_MB in
      wrangler.toml, or 112) with S KV slots (default 1) of CTX positions (default n_ctx);
      KV auto: f32 unless int8 needs fewer stages. The first stage also holds wte, wpe, ln_f.

  random <out-hf-dir> --shape ${Object.keys(SHAPES).join("|")} [--layers N] [--seed S]
         [--dtype F32|BF16] [--max-shard-mb MB]
      A seeded random checkpoint with real shapes (HF layout, weights ~ N(0, 0.02) as GPT-2's
      init, the real GPT-2 tokenizer), to convert, serve and benchmark. --dtype: F32 (default)
      or BF16 (rounded to nearest even; half the bytes); --max-shard-mb: Hugging Face's sharded
      layout (model-00001-of-0000N.safetensors + model.safetensors.index.json), files of at most
      MB MiB of tensors (default: one model.safetensors).

  upload <out-dir> [--local | --remote] [--persist-to DIR] [--bucket NAME] [--dry-run]
      Put every file under models/<name>/ in R2, manifest.json last.
      --local (default): wrangler's local state, served by \`wrangler dev\` run from the project
        root with the same --persist-to (default .wrangler/state).
      --remote: \`wrangler r2 object put --remote\` per file (needs \`wrangler login\`; wrangler
        refuses files over 300 MiB, shards are 16 MiB).
      --bucket defaults to the bucket bound as WEIGHTS in wrangler.toml.
      A staged model (convert --stages) also gets a Worker config per stage, and a gateway
        config binding them, under build/stages/: \`npm run dev\` runs them all (\`npm run dev
        -- --persist-to DIR\` for an upload to DIR), \`npm run deploy\` deploys them.

  inspect <out-dir>
      Tensor table, bytes per dtype, shards, memory plan (or the stage plan, one line per
      stage); verifies sizes and SHA-256s (exit 1 on any mismatch).

  pack <out-dir> <file.bin>
      One-file bundle of a converted model (for workerd tests: unpackModel in weights/unpack.ts).

example:
  npm run weights -- convert weights/tiny-shakespeare build/models/tiny-shakespeare
  npm run weights -- upload build/models/tiny-shakespeare --local`;

class UsageError extends Error {}

const OPTIONS = {
  name: { type: "string" },
  "max-shard-bytes": { type: "string" },
  dtype: { type: "string" },
  "embedding-dtype": { type: "string" },
  stages: { type: "string" },
  "stage-slots": { type: "string" },
  "stage-context": { type: "string" },
  "stage-kv": { type: "string" },
  "budget-mb": { type: "string" },
  shape: { type: "string" },
  layers: { type: "string" },
  seed: { type: "string" },
  "max-shard-mb": { type: "string" },
  local: { type: "boolean" },
  remote: { type: "boolean" },
  "persist-to": { type: "string" },
  bucket: { type: "string" },
  "dry-run": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Which options each command accepts (parseArgs knows them all; we reject the rest). */
const ALLOWED: Record<string, string[]> = {
  convert: [
    "name",
    "max-shard-bytes",
    "dtype",
    "embedding-dtype",
    ...["stages", "stage-slots", "stage-context", "stage-kv", "budget-mb"],
  ],
  random: ["shape", "layers", "seed", "dtype", "max-shard-mb"],
  upload: ["local", "remote", "persist-to", "bucket", "dry-run"],
  inspect: [],
  pack: [],
};
const ARITY: Record<string, number> = { convert: 2, random: 1, upload: 1, inspect: 1, pack: 2 };
const DTYPES: DType[] = ["f32", "q8", "q4"];

/** "1048576", "512KiB", "16MiB", "1M" -> bytes. */
export function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(|k|ki|kib|kb|m|mi|mib|mb|g|gi|gib|gb)$/i.exec(s.trim());
  if (!m) throw new UsageError(`--max-shard-bytes ${s}: expected a number like 1048576 or 16MiB`);
  const unit = m[2].toLowerCase()[0] as "k" | "m" | "g" | undefined;
  return Math.round(Number(m[1]) * (unit ? { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit] : 1));
}

const DIR_HINTS: Record<string, string> = {
  "hf-dir":
    "a Hugging Face GPT-2 directory (config.json, model.safetensors, vocab.json, merges.txt)",
  "out-dir": 'a converted model directory (made by "convert")',
};

function dirArg(p: string, what: "hf-dir" | "out-dir"): string {
  if (!fs.existsSync(p) || !fs.statSync(p).isDirectory())
    throw new Error(`${what} ${p} is not a directory; expected ${DIR_HINTS[what]}`);
  return p;
}

export async function main(argv: string[], out = console.log): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const [cmd, ...args] = positionals;
  if (v.help || cmd === "help" || cmd === undefined) {
    (cmd === undefined && !v.help ? console.error : out)(USAGE);
    return cmd === undefined && !v.help ? 2 : 0;
  }
  try {
    if (!(cmd in ALLOWED)) throw new UsageError(`unknown command "${cmd}"`);
    const extra = Object.keys(v).filter((k) => !ALLOWED[cmd].includes(k));
    if (extra.length) throw new UsageError(`${cmd} does not take --${extra.join(", --")}`);
    if (args.length !== ARITY[cmd])
      throw new UsageError(`${cmd} takes ${ARITY[cmd]} argument(s), got ${args.length}`);
    return await run(cmd, args, v, out);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`error: ${(e as Error).message}`);
    return 1;
  }
}

async function run(
  cmd: string,
  args: string[],
  v: Record<string, string | boolean | undefined>,
  out: (s: string) => void,
) {
  const str = (k: string) => v[k] as string | undefined;
  switch (cmd) {
    case "convert": {
      const dtypeArg = (key: string, def?: DType) => {
        const d = str(key) ?? def;
        if (d !== undefined && !DTYPES.includes(d as DType))
          throw new UsageError(`--${key} ${d}: expected one of ${DTYPES.join(", ")}`);
        return d as DType | undefined;
      };
      const dtype = dtypeArg("dtype", "f32")!;
      const embeddingDtype = dtypeArg("embedding-dtype");
      const maxShardBytes = str("max-shard-bytes")
        ? parseBytes(str("max-shard-bytes")!)
        : DEFAULT_MAX_SHARD_BYTES;
      if (maxShardBytes < 16 || maxShardBytes % 16)
        throw new UsageError(
          `--max-shard-bytes ${maxShardBytes}: must be a positive multiple of 16`,
        );
      const r = convertCheckpoint(dirArg(args[0], "hf-dir"), args[1], {
        name: str("name"),
        dtype,
        embeddingDtype,
        maxShardBytes,
        stages: stageRequest(str),
        log: out,
      });
      out(
        `wrote ${path.join(args[1], "manifest.json")} (${r.manifest.shards.length} shards) in ${r.seconds.toFixed(2)} s`,
      );
      return 0;
    }
    case "random": {
      const shape = str("shape");
      if (!shape || !(shape in SHAPES))
        throw new UsageError(
          `--shape ${shape ?? "(missing)"}: one of ${Object.keys(SHAPES).join(", ")}`,
        );
      const layers = positive(str, "layers");
      const dtype = (str("dtype") ?? "F32").toUpperCase();
      if (dtype !== "F32" && dtype !== "BF16")
        throw new UsageError(`--dtype ${str("dtype")}: F32 or BF16 for a random checkpoint`);
      const shardMb = str("max-shard-mb") === undefined ? undefined : Number(str("max-shard-mb"));
      if (shardMb !== undefined && !(shardMb > 0))
        throw new UsageError(`--max-shard-mb ${str("max-shard-mb")}: a positive number of MiB`);
      writeRandomCheckpoint(args[0], {
        shape: shape as ShapeName,
        layers,
        seed: integer(str, "seed"),
        dtype,
        maxShardBytes: shardMb === undefined ? undefined : Math.round(shardMb * 2 ** 20),
        log: out,
      });
      out(
        `wrote ${args[0]} (convert it: npm run weights -- convert ${args[0]} <out-dir> --dtype q4)`,
      );
      return 0;
    }
    case "upload": {
      if (v.local && v.remote) throw new UsageError("pass --local or --remote, not both");
      if (v.remote && v["persist-to"]) throw new UsageError("--persist-to is for --local uploads");
      const mode = v.remote ? "remote" : "local";
      const items = await uploadModel(dirArg(args[0], "out-dir"), {
        mode,
        persistTo: str("persist-to"),
        bucket: str("bucket"),
        dryRun: !!v["dry-run"],
        log: out,
      });
      out(`${v["dry-run"] ? "planned" : "uploaded"} ${items.length} objects (${mode})`);
      return 0;
    }
    case "inspect":
      return inspectModel(dirArg(args[0], "out-dir"), out) ? 0 : 1;
    case "pack": {
      const bytes = packModelDir(dirArg(args[0], "out-dir"));
      fs.mkdirSync(path.dirname(path.resolve(args[1])), { recursive: true });
      fs.writeFileSync(args[1], bytes);
      out(`wrote ${args[1]} (${bytes.length} bytes)`);
      return 0;
    }
  }
  throw new UsageError(`unknown command "${cmd}"`);
}

type Str = (k: string) => string | undefined;

/** An integer option (undefined if absent). */
function integer(str: Str, k: string): number | undefined {
  const v = str(k);
  if (v !== undefined && !/^\d+$/.test(v)) throw new UsageError(`--${k} ${v}: an integer`);
  return v === undefined ? undefined : Number(v);
}

/** A positive integer option (undefined if absent). */
function positive(str: Str, k: string): number | undefined {
  const n = integer(str, k);
  if (n === 0) throw new UsageError(`--${k} 0: at least 1`);
  return n;
}

/** --stages and the options that size each stage; those need --stages. */
function stageRequest(str: Str): StageRequest | undefined {
  const count = str("stages");
  const sizing = ["stage-slots", "stage-context", "stage-kv", "budget-mb"].filter((k) => str(k));
  if (count === undefined) {
    if (sizing.length) throw new UsageError(`--${sizing[0]} sizes stages: add --stages auto or N`);
    return undefined;
  }
  if (count !== "auto" && !/^[1-9]\d*$/.test(count))
    throw new UsageError(`--stages ${count}: auto, or a number of stages (at least 1)`);
  const kv = str("stage-kv");
  if (kv !== undefined && !["auto", "f32", "q8"].includes(kv))
    throw new UsageError(`--stage-kv ${kv}: auto, f32 or q8`);
  return {
    count: count === "auto" ? "auto" : Number(count),
    slots: positive(str, "stage-slots"),
    context: positive(str, "stage-context"),
    budgetMb: positive(str, "budget-mb"),
    kv: kv as StageRequest["kv"],
  };
}

// Run only when executed directly (tests import main()).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  main(process.argv.slice(2)).then((code) => process.exit(code));
