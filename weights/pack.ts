// `pack <out-dir> <file.bin>`: a converted model directory as one bundle file (format and the
// workerd-safe unpackModel live in unpack.ts; workerd tests should import that file).
import fs from "node:fs";
import path from "node:path";
import type { Manifest } from "../src/model/manifest.js";
import { packFiles } from "./unpack.js";

export { packFiles, unpackModel, PACK_FORMAT, type PackHeader, type PackedFile } from "./unpack.js";

/** Bundles the files a manifest lists: tokenizer, shards, then manifest.json (as upload orders them). */
export function packModelDir(dir: string): Uint8Array {
  const manifestPath = path.join(dir, "manifest.json");
  if (!fs.existsSync(manifestPath))
    throw new Error(`${manifestPath} not found: run "convert <hf-dir> ${dir}" first`);
  const manifest: Manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
  const names = [manifest.tokenizer.file, ...manifest.shards.map((s) => s.file), "manifest.json"];
  const files = names.map((file) => ({ file, bytes: fs.readFileSync(path.join(dir, file)) }));
  return packFiles(manifest.name, files);
}
