// Build the demo page's assets: esbuild bundles src/page/main.ts (TypeScript modules) and
// src/page/style.css, minified, into build/page-assets.json with content-hashed names, which
// src/routes/page.ts imports and serves. Prints the sizes (raw and gzipped).

import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");

/** Bundle one entry point to a single minified file; returns its text. */
async function bundle(entry: string): Promise<string> {
  const r = await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2022",
    write: false,
    legalComments: "none",
    logLevel: "warning",
  });
  return r.outputFiles[0].text;
}

const asset = (base: string, ext: string, body: string) => ({
  name: `${base}.${createHash("sha256").update(body).digest("hex").slice(0, 12)}.${ext}`,
  body,
});

const js = asset("page", "js", await bundle("src/page/main.ts"));
const css = asset("page", "css", await bundle("src/page/style.css"));
mkdirSync(join(ROOT, "build"), { recursive: true });
writeFileSync(join(ROOT, "build", "page-assets.json"), JSON.stringify({ js, css }));
const kb = (s: string) => (s.length / 1024).toFixed(1);
const gz = (s: string) => (gzipSync(s, { level: 9 }).length / 1024).toFixed(1);
console.log(
  `page assets: ${js.name} ${kb(js.body)} KiB (${gz(js.body)} KiB gzipped), ` +
    `${css.name} ${kb(css.body)} KiB (${gz(css.body)} KiB gzipped)`,
);
