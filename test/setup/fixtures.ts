// Builds the test fixtures before `vitest run`: the default model converted to the runtime
// format (build/test/tiny-shakespeare) and packed into one file that workerd tests import.

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { convertCheckpoint } from "../../weights/convert.js";
import { packModelDir } from "../../weights/pack.js";
import { FIXTURE_DIR, FIXTURE_PACK, SOURCE_DIR } from "./paths.js";

const r = convertCheckpoint(SOURCE_DIR, FIXTURE_DIR, { name: "tiny-shakespeare" });
mkdirSync(dirname(FIXTURE_PACK), { recursive: true });
writeFileSync(FIXTURE_PACK, packModelDir(FIXTURE_DIR));
console.log(
  `fixtures: tiny-shakespeare converted in ${r.seconds.toFixed(2)} s ` +
    `(${r.manifest.shards.length} shard(s), ${(r.manifest.image_bytes / 2 ** 20).toFixed(1)} MiB)`,
);
