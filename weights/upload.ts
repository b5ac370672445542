// `upload <out-dir>`: puts a converted model into R2 under models/<name>/, tokenizer and shards
// first and manifest.json last, so a reader never sees a manifest whose shards are missing.
// --local writes wrangler's own local R2 state in-process through Miniflare; --remote shells
// out to `wrangler r2 object put --remote` per file. A staged model also gets its stage Worker
// configs written (stage-configs.ts), for `npm run dev` and `npm run deploy` to run.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { readManifest, verifyModelDir } from "./inspect.js";
import { Progress, type ProgressStream } from "./progress.js";
import { removeStageConfigs, writeStageConfigs, type StagedModelConfigs } from "./stage-configs.js";
import { defaultBucket, PROJECT_ROOT } from "./wrangler-config.js";

/** `wrangler r2 object put` refuses remote files over 300 MiB (MAX_UPLOAD_SIZE_BYTES). */
export const WRANGLER_REMOTE_MAX_BYTES = 300 * 1024 * 1024;

export interface UploadOptions {
  mode: "local" | "remote";
  /** Like wrangler's --persist-to: relative to the cwd; default <project>/.wrangler/state. */
  persistTo?: string;
  bucket?: string;
  /** Print what would be uploaded (and the wrangler commands for --remote); change nothing. */
  dryRun?: boolean;
  log?: (line: string) => void;
  /** Where progress goes (default stderr; shown only on a TTY). */
  progress?: ProgressStream;
  /** Where a staged model's Worker configs go (default build/stages). */
  stageConfigDir?: string;
}

export interface UploadItem {
  key: string;
  file: string;
  bytes: number;
  sha256?: string;
  contentType: string;
}

/** The objects to put, in upload order (manifest last); checks every file first. */
export function uploadPlan(dir: string): UploadItem[] {
  const m = readManifest(dir);
  const problems = verifyModelDir(dir, m);
  if (problems.length)
    throw new Error(`${dir} is damaged, not uploading:\n  ${problems.join("\n  ")}\nReconvert it.`);
  const bin = "application/octet-stream";
  const items: UploadItem[] = [m.tokenizer, ...m.shards].map((f) => ({
    key: `models/${m.name}/${f.file}`,
    file: path.join(dir, f.file),
    bytes: f.bytes,
    sha256: f.sha256,
    contentType: bin,
  }));
  const manifest = path.join(dir, "manifest.json");
  const size = fs.statSync(manifest).size;
  items.push({
    key: `models/${m.name}/manifest.json`,
    file: manifest,
    bytes: size,
    contentType: "application/json",
  });
  return items;
}

/** Where wrangler keeps local state: --persist-to resolves against the cwd, like wrangler's. */
export const localPersistPath = (persistTo?: string) =>
  persistTo ? path.resolve(process.cwd(), persistTo) : path.join(PROJECT_ROOT, ".wrangler/state");

export async function uploadModel(dir: string, opts: UploadOptions): Promise<UploadItem[]> {
  const log = opts.log ?? (() => {});
  const bucket = opts.bucket ?? defaultBucket();
  const items = uploadPlan(dir);
  const dry = !!opts.dryRun;
  const total = items.reduce((n, it) => n + it.bytes, 0);
  const quiet = { write: () => {} }; // a dry run copies nothing
  const progress = new Progress(
    `uploading ${path.basename(dir)}`,
    total,
    dry ? quiet : opts.progress,
  );
  const say = progress.wrap(log);
  if (opts.mode === "remote") uploadRemote(items, bucket, dry, say, progress);
  else await uploadLocal(items, bucket, localPersistPath(opts.persistTo), dry, say, progress);
  progress.finish();
  const m = readManifest(dir);
  if (m.stages && !dry) logStaged(writeStageConfigs(m, { bucket, dir: opts.stageConfigDir }), log);
  else if (!dry && removeStageConfigs(m.name, opts.stageConfigDir))
    log(`${m.name} is no longer staged: its stage Worker configs were removed`);
  return items;
}

function logStaged({ model, configs }: StagedModelConfigs, log: (s: string) => void) {
  log(`${model} runs in ${configs.length} stages; their Worker configs:`);
  for (const c of configs) log(`  ${path.relative(process.cwd(), c)}`);
  log(`npm run dev starts the gateway with every stage; npm run deploy deploys them all`);
}

/**
 * The same thing `wrangler r2 object put --local` does per call (its usingLocalBucket), once
 * for all files: a Miniflare with defaultPersistRoot <persist>/v3 and the bucket by name, which
 * is the state `wrangler dev --persist-to <persist>` serves through the WEIGHTS binding. Bodies
 * stream from disk through a tiny worker into R2: the getR2Bucket() proxy buffers every value
 * (workerd grew to 800 MB and took 23 s on gpt2; streaming keeps it near 130 MB and takes 9 s).
 */
const PUT_WORKER = `export default {
  async fetch(req, env) {
    const key = decodeURIComponent(new URL(req.url).pathname.slice(1));
    const sha256 = req.headers.get("x-sha256") ?? undefined; // R2 rejects a body that differs
    const httpMetadata = { contentType: req.headers.get("content-type") };
    try {
      await env.BUCKET.put(key, req.body, { sha256, httpMetadata });
      return new Response("ok");
    } catch (e) {
      return new Response(String(e?.message ?? e), { status: 500 });
    }
  },
};`;

async function uploadLocal(
  items: UploadItem[],
  bucket: string,
  persist: string,
  dry: boolean,
  log: (s: string) => void,
  progress: Progress,
) {
  log(`local R2 bucket ${bucket} in ${persist}`);
  if (dry) return items.forEach((it) => log(`  would put ${it.key} (${it.bytes} bytes)`));
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    modules: true,
    script: PUT_WORKER,
    defaultPersistRoot: path.join(persist, "v3"),
    r2Buckets: { BUCKET: bucket },
    cf: false, // skip Miniflare's 3 s fetch of workers.cloudflare.com/cf.json (offline here)
  });
  try {
    for (const it of items) {
      const headers: Record<string, string> = {
        "content-type": it.contentType,
        "content-length": String(it.bytes), // R2 needs a known length for a streamed body
      };
      if (it.sha256) headers["x-sha256"] = it.sha256;
      const file = fs.createReadStream(it.file).on("data", (c) => progress.add(c.length));
      const body = Readable.toWeb(file) as ReadableStream;
      const url = `http://upload/${encodeURIComponent(it.key)}`;
      const res = await mf.dispatchFetch(url, { method: "PUT", body, headers, duplex: "half" });
      const text = await res.text();
      if (!res.ok) throw new Error(`local put of ${it.key} failed: ${text}`);
      log(`  put ${it.key} (${it.bytes} bytes)`);
    }
  } finally {
    await mf.dispose();
  }
}

/** wrangler r2 object put per file; each is its own process and needs `wrangler login`. */
export function remoteCommand(it: UploadItem, bucket: string): string[] {
  return [
    "r2",
    "object",
    "put",
    `${bucket}/${it.key}`,
    "--file",
    it.file,
    "--content-type",
    it.contentType,
    "--remote",
  ];
}

function uploadRemote(
  items: UploadItem[],
  bucket: string,
  dry: boolean,
  log: (s: string) => void,
  progress: Progress,
) {
  const big = items.filter((it) => it.bytes > WRANGLER_REMOTE_MAX_BYTES);
  if (big.length)
    throw new Error(
      `${big.map((b) => b.key).join(", ")} exceed wrangler's 300 MiB remote upload limit: ` +
        `reconvert with a smaller --max-shard-bytes (default 16 MiB)`,
    );
  const local = path.join(PROJECT_ROOT, "node_modules/.bin/wrangler");
  const [cmd, pre] = fs.existsSync(local) ? [local, []] : ["npx", ["wrangler"]];
  for (const it of items) {
    const args = [...pre, ...remoteCommand(it, bucket)];
    log(`${dry ? "would run" : "running"}: ${path.basename(cmd)} ${args.join(" ")}`);
    if (dry) continue;
    const r = spawnSync(cmd, args, { cwd: PROJECT_ROOT, stdio: "inherit" });
    progress.add(it.bytes); // one blocking wrangler run per file: progress counts whole files
    if (r.status !== 0)
      throw new Error(
        `wrangler failed on ${it.key} (exit ${r.status ?? r.signal}). Check \`npx wrangler whoami\` ` +
          `and that bucket ${bucket} exists (\`npx wrangler r2 bucket create ${bucket}\`); ` +
          `rerunning upload is safe (puts overwrite).`,
      );
  }
}
