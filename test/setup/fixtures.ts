// Builds the test fixtures before `vitest run`: the default model converted to the runtime
// format (build/test/tiny-shakespeare) and packed into one file that workerd tests import; and
// the same model cut into 2 pipeline stages (build/test/tiny-2stage), packed the same way.

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { convertCheckpoint } from "../../weights/convert.js";
import { packModelDir } from "../../weights/pack.js";
import {
  FIXTURE_DIR,
  FIXTURE_PACK,
  SOURCE_DIR,
  STAGED_DIR,
  STAGED_MODEL,
  STAGED_PACK,
} from "./paths.js";

const r = convertCheckpoint(SOURCE_DIR, FIXTURE_DIR, { name: "tiny-shakespeare" });
mkdirSync(dirname(FIXTURE_PACK), { recursive: true });
writeFileSync(FIXTURE_PACK, packModelDir(FIXTURE_DIR));
console.log(
  `fixtures: tiny-shakespeare converted in ${r.seconds.toFixed(2)} s ` +
    `(${r.manifest.shards.length} shard(s), ${(r.manifest.image_bytes / 2 ** 20).toFixed(1)} MiB)`,
);

// 4 slots per stage, as the workers tests' MAX_SLOTS, at the model's whole context (256).
const staged = convertCheckpoint(SOURCE_DIR, STAGED_DIR, {
  name: STAGED_MODEL,
  stages: { count: 2, slots: 4 },
});
writeFileSync(STAGED_PACK, packModelDir(STAGED_DIR));
const cut = staged.manifest.stages!.list.map((s) => s.layers.join("-")).join(", ");
console.log(`fixtures: ${STAGED_MODEL} in stages of layers ${cut}`);
