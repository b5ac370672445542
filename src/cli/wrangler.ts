// `npx wrangler ...` as the CLIs run it: offline-friendly (no fetch of Cloudflare's cf.json, no
// metrics), Ctrl-C passed on, and this process exiting with wrangler's exit code. Node-only.

import { spawn } from "node:child_process";

export function runWrangler(args: string[], cwd: string): void {
  const child = spawn("npx", ["wrangler", ...args], {
    cwd,
    stdio: "inherit",
    env: { CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", ...process.env },
  });
  const stop = () => child.kill("SIGINT");
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  child.on("exit", (code) => process.exit(code ?? 0));
}
