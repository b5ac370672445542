// Starts `wrangler dev` on a free local port with its own R2 state folder holding the converted
// default model, for end-to-end tests and benchmarks. Node-only; always stop() it.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../setup/paths.js";

export interface DevServer {
  url: string;
  persistTo: string;
  /** The process group of npx -> wrangler -> workerd (for memory figures). */
  pgid: number;
  /** Stops the server's whole process group; safe to call twice. */
  stop(): Promise<void>;
  /** The last lines wrangler printed, for failure reports. */
  log(): string;
}

/** wrangler's first start bundles the Worker: slow machines need a while. */
const READY_TIMEOUT_MS = 120_000;

/** A port the OS says is free on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Upload a converted model directory into a local R2 state folder (the uploader CLI). */
export function uploadLocal(modelDir: string, persistTo: string): void {
  const r = spawnSync(
    "npx",
    ["tsx", "weights/cli.ts", "upload", modelDir, "--local", "--persist-to", persistTo],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  if (r.status !== 0) throw new Error(`upload failed: ${r.stderr || r.stdout}`);
}

/** Start wrangler dev on `persistTo` (a fresh temp folder unless given) and wait until it answers. */
export async function startDevServer(
  opts: {
    persistTo?: string;
    models?: string[];
    vars?: Record<string, string>;
    /** Another Worker's wrangler config (default: the app's wrangler.toml). */
    config?: string;
    /** wrangler's DevTools port (default: wrangler picks one). */
    inspectorPort?: number;
    /**
     * Staged models' configs (upload's GPT_EDGE_STAGES_DIR): run `npm run dev` (src/cli/dev.ts),
     * the gateway and every stage in one session, instead of the plain `wrangler dev`.
     */
    stagesDir?: string;
    /** How long to wait for it to answer (default 120 s; a session of many stages takes longer). */
    readyTimeoutMs?: number;
  } = {},
): Promise<DevServer> {
  const persistTo = opts.persistTo ?? mkdtempSync(join(tmpdir(), "gpt-edge-r2-"));
  for (const dir of opts.models ?? []) uploadLocal(dir, persistTo);
  const port = await freePort();
  // Tests and benchmarks send more than a public client may: rate limits off unless asked for.
  const all = { RATE_LIMITS: "off", ...opts.vars };
  const vars = Object.entries(all).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const command = opts.stagesDir ? ["tsx", "src/cli/dev.ts"] : ["wrangler", "dev"];
  const child: ChildProcess = spawn(
    "npx",
    [
      ...command,
      "--port",
      String(port),
      "--ip",
      "127.0.0.1",
      "--persist-to",
      persistTo,
      ...vars,
      ...(opts.config ? ["-c", opts.config] : []),
      ...(opts.inspectorPort ? ["--inspector-port", String(opts.inspectorPort)] : []),
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
        WRANGLER_SEND_METRICS: "false",
        ...(opts.stagesDir ? { GPT_EDGE_STAGES_DIR: opts.stagesDir } : {}),
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, so stop() also ends workerd
    },
  );
  watchdog(child.pid!);
  let output = "";
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-8000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      kill(child.pid!, "SIGTERM");
      const late = new Promise<"late">((r) => setTimeout(() => r("late"), 5000));
      if ((await Promise.race([exited, late])) === "late") kill(child.pid!, "SIGKILL");
    }
    if (!opts.persistTo) rmSync(persistTo, { recursive: true, force: true });
  };
  const timeout = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`wrangler dev exited early:\n${output}`);
    }
    try {
      // Up: the models list, or a 401 when the run sets API_KEYS (the app answered). A connection
      // of its own: a probe's kept-alive socket could be reused by a caller after the server
      // dropped it (see serve-overhead.ts).
      const res = await fetch(`${url}/v1/models`, { headers: { connection: "close" } });
      if (res.ok || res.status === 401) {
        return { url, persistTo, pgid: child.pid!, stop, log: () => output };
      }
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`wrangler dev did not become ready in ${timeout / 1000} s:\n${output}`);
}

/** Signal a whole process group (npx -> wrangler -> workerd); it may be gone already. */
function kill(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {}
}

/**
 * If this process dies without stopping the server (SIGKILL, a crashed parent), a detached shell
 * notices within a second and stops the server's process group, so no wrangler holds a port.
 */
function watchdog(pgid: number): void {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -TERM -${pgid} 2>/dev/null`;
  spawn("sh", ["-c", script], { detached: true, stdio: "ignore" }).unref();
}
