// A WeightStore over a folder of converted models laid out like the R2 bucket
// (<root>/models/<name>/...), or over one converted model folder, for Node tests and benchmarks.

import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { WeightStore } from "../../src/model/loader.js";

/** Serve one converted model directory as models/<name>/<file>. */
export function modelDirStore(dir: string, name = basename(dir)): WeightStore {
  return {
    async get(key: string) {
      const prefix = `models/${name}/`;
      if (!key.startsWith(prefix)) return null;
      try {
        const bytes = await readFile(join(dir, key.slice(prefix.length)));
        return {
          arrayBuffer: async () =>
            bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
        };
      } catch {
        return null;
      }
    },
  };
}
