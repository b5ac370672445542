// `npm run dev`: `wrangler dev` of the gateway, plus, when staged models have been uploaded
// (their configs are under build/stages/), every stage of every one of them in the same session
// (`wrangler dev -c gateway -c stage...`), sharing one local state. Node-only. Arguments go to
// wrangler dev, e.g. `npm run dev -- --port 8799 --persist-to /tmp/state`.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stagedModels, writeGatewayConfig } from "../../weights/stage-configs.js";
import { runWrangler } from "./wrangler.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = process.argv.slice(2);
// The Worker imports the built kernels and page: build them once if this clone has not (npm
// start and npm test do; after changing assembly/ or src/page/, npm run build again).
const built = ["kernels.wasm", "kernels-relaxed.wasm", "page-assets.json"];
if (!built.every((f) => existsSync(join(root, "build", f)))) {
  console.log("> Building the WASM kernels and the page (npm run build)");
  const r = spawnSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const staged = stagedModels();
const wrangler = ["dev"];
if (staged.length) {
  // Every config of the session reads the same local state: the one upload --local wrote.
  const persist = args.some((a) => a === "--persist-to" || a.startsWith("--persist-to="));
  const state = persist ? [] : ["--persist-to", resolve(root, ".wrangler/state")];
  const stages = staged.flatMap((s) => s.configs.flatMap((c) => ["-c", c]));
  wrangler.push("-c", writeGatewayConfig(), ...stages, ...state);
  for (const s of staged) console.log(`staged model ${s.model}: ${s.configs.length} stages`);
}
runWrangler([...wrangler, ...args], root);
