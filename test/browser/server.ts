// The browser tests' own Worker: build the kernels, convert the default model, upload it to a
// fresh local R2 directory, and run `wrangler dev` on a free port in 8810-8819. stop() kills
// the whole process group (npx → wrangler → workerd), and is safe to call more than once; a
// watchdog stops it too if this process dies first.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../setup/paths.js";

export const MODEL = "tiny-shakespeare";
const READY_TIMEOUT_MS = 120_000; // wrangler's first start bundles the Worker; slow machines need it

export interface DevServer {
  origin: string;
  stop(): Promise<void>;
  /** The last lines wrangler printed, for failure reports. */
  log(): string;
}

function step(what: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
  console.log(`> ${what}`);
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, ...env } });
  if (r.status !== 0) {
    throw new Error(`${what} failed (exit ${r.status}):\n${(r.stdout ?? "") + (r.stderr ?? "")}`);
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  for (let p = 8810; p <= 8819; p++) if (await portFree(p)) return p;
  throw new Error("no free port in 8810-8819; stop whatever holds them and retry");
}

const WRANGLER_ENV = { CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };

export async function startDevServer(): Promise<DevServer> {
  const state = mkdtempSync(join(tmpdir(), "gpt-edge-browser-"));
  const out = join("build", "models", MODEL);
  let child: ChildProcess | undefined;
  let output = "";
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child?.pid !== undefined && child.exitCode === null) {
      const exited = new Promise<void>((r) => child!.once("exit", () => r()));
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        /* already gone */
      }
      const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5000));
      if ((await Promise.race([exited, timeout])) === "timeout") {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
    }
    rmSync(state, { recursive: true, force: true });
  };
  try {
    step("Building the WASM kernels", "npm", ["run", "--silent", "build"]);
    step(`Converting ${MODEL}`, "npx", [
      "tsx",
      "weights/cli.ts",
      "convert",
      join("weights", MODEL),
      out,
      "--name",
      MODEL,
    ]);
    step(
      `Uploading ${MODEL} to local R2`,
      "npx",
      ["tsx", "weights/cli.ts", "upload", out, "--local", "--persist-to", state],
      WRANGLER_ENV,
    );
    const port = await freePort();
    console.log(`> wrangler dev on port ${port}`);
    child = spawn("npx", ["wrangler", "dev", "--port", String(port), "--persist-to", state], {
      cwd: ROOT,
      env: { ...process.env, ...WRANGLER_ENV },
      detached: true, // its own process group, so stop() reaches workerd too
      stdio: ["ignore", "pipe", "pipe"],
    });
    watchdog(child.pid!);
    const keep = (b: Buffer) => (output = (output + b.toString()).slice(-8000));
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const origin = `http://127.0.0.1:${port}`;
    await waitReady(
      origin,
      () => child!.exitCode !== null,
      () => output,
    );
    return { origin, stop, log: () => output };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * If this runner dies without cleaning up (SIGKILL, a crashed parent), a detached shell notices
 * within a second and stops the server's process group, so no wrangler is left holding a port.
 */
function watchdog(pgid: number): void {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -TERM -${pgid} 2>/dev/null`;
  spawn("sh", ["-c", script], { detached: true, stdio: "ignore" }).unref();
}

async function waitReady(origin: string, exited: () => boolean, log: () => string): Promise<void> {
  const until = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < until) {
    if (exited()) throw new Error(`wrangler dev exited before it was ready:\n${log()}`);
    try {
      const r = await fetch(`${origin}/v1/models`);
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`wrangler dev was not ready after ${READY_TIMEOUT_MS / 1000} s:\n${log()}`);
}
