// The browser tests' own Worker: build the kernels, convert the default model, and serve it
// with `wrangler dev` from a fresh local R2 folder (test/helpers/dev-server.ts: free port,
// process-group stop, a watchdog if this process dies first).

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { startDevServer as startWrangler, type DevServer } from "../helpers/dev-server.js";
import { ROOT } from "../setup/paths.js";

export const MODEL = "tiny-shakespeare";
export type { DevServer };

function step(what: string, cmd: string, args: string[]): void {
  console.log(`> ${what}`);
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`${what} failed (exit ${r.status}):\n${(r.stdout ?? "") + (r.stderr ?? "")}`);
  }
}

export async function startDevServer(): Promise<DevServer> {
  const out = join(ROOT, "build", "models", MODEL);
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
  console.log("> wrangler dev");
  return startWrangler({ models: [out] });
}
