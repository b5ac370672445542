// `npm run deploy`: build, then `wrangler deploy` every generated stage config (later stages
// first: a first stage binds them, and a gateway binds the first stages) and the gateway last;
// without staged models, just the gateway (wrangler.toml). Node-only. Arguments go to every
// `wrangler deploy`; with --outdir DIR the i-th config bundles into DIR/<i>. --no-build skips
// the build (the kernels and page assets must be there already).

import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stagedModels, writeGatewayConfig } from "../../weights/stage-configs.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = process.argv.slice(2).filter((a) => a !== "--no-build");
const build = !process.argv.includes("--no-build");

/** The configs in deploy order. */
function deployOrder(): string[] {
  const staged = stagedModels();
  if (!staged.length) return [join(root, "wrangler.toml")];
  const stages = staged.flatMap((s) => [...s.configs.slice(1).reverse(), s.configs[0]]);
  return [...stages, writeGatewayConfig()];
}

function run(cmd: string, cmdArgs: string[]) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (build) run("npm", ["run", "--silent", "build"]);
const outdir = args.indexOf("--outdir");
deployOrder().forEach((config, i) => {
  const own = [...args];
  if (outdir >= 0) own[outdir + 1] = join(args[outdir + 1], String(i)); // a bundle per config
  console.log(`\n> wrangler deploy -c ${config}`);
  run("npx", ["wrangler", "deploy", "-c", config, ...own]);
});
