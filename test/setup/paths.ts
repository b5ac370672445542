// Where the test fixtures live: the bundled checkpoint, its conversion for tests, the packed
// single-file copy that workerd tests import, and a held-out text sample.

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SOURCE_DIR = join(ROOT, "weights", "tiny-shakespeare");
export const FIXTURE_DIR = join(ROOT, "build", "test", "tiny-shakespeare");
export const FIXTURE_PACK = join(ROOT, "build", "test", "tiny-shakespeare.bin");
/** The default model cut into 2 pipeline stages (4 KV slots each), converted and packed. */
export const STAGED_MODEL = "tiny-2stage";
export const STAGED_DIR = join(ROOT, "build", "test", STAGED_MODEL);
export const STAGED_PACK = join(ROOT, "build", "test", `${STAGED_MODEL}.bin`);
/** The held-out last tenth of Tiny Shakespeare (never seen in training). */
export const CORPUS_SNIPPET = join(ROOT, "test", "fixtures", "shakespeare-heldout.txt");
