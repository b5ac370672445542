// `npm start`: build the kernels, convert the bundled default model, put it in the local R2
// bucket, then run `wrangler dev`. Node-only (never imported by the Worker). Arguments are
// passed to wrangler dev, e.g. `npm start -- --port 9000 --persist-to /tmp/state`.

import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runWrangler } from "./wrangler.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const MODEL = "tiny-shakespeare";
const source = join(root, "weights", MODEL);
const out = join(root, "build", "models", MODEL);

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(name + "="));
  return eq?.slice(name.length + 1);
};
const port = flag("--port") ?? "8787";
const persistTo = flag("--persist-to");

function run(what: string, cmd: string, cmdArgs: string[]) {
  console.log(`\n> ${what}`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(
      `\n${what} failed (exit ${r.status}). Fix the error above and run npm start again.`,
    );
    process.exit(r.status ?? 1);
  }
}

run("Building the WASM kernels", "npm", ["run", "--silent", "build"]);
const fresh =
  existsSync(join(out, "manifest.json")) &&
  statSync(join(out, "manifest.json")).mtimeMs >
    statSync(join(source, "model.safetensors")).mtimeMs;
if (!fresh) {
  run(`Converting ${MODEL}`, "npx", [
    "tsx",
    "weights/cli.ts",
    "convert",
    source,
    out,
    "--name",
    MODEL,
  ]);
}
run(`Putting ${MODEL} into the local R2 bucket`, "npx", [
  "tsx",
  "weights/cli.ts",
  "upload",
  out,
  "--local",
  ...(persistTo ? ["--persist-to", persistTo] : []),
]);

const url = `http://localhost:${port}`;
console.log(`
gpt-edge is starting on ${url}  (open it in a browser for the demo page)

Try:
  curl -s ${url}/v1/completions -H 'content-type: application/json' \\
    -d '{"model":"${MODEL}","prompt":"ROMEO:","max_tokens":40,"temperature":0.8}'
`);
runWrangler(["dev", ...(flag("--port") ? [] : ["--port", port]), ...args], root);
