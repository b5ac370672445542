// The few wrangler.toml values the weights CLI needs (R2 bucket, memory budget), read with a
// minimal line parser: the file is flat key = "value" pairs under [[tables]], nothing nested.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** /work/main: weights/ sits directly under the project root, next to wrangler.toml. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const WRANGLER_TOML = path.join(PROJECT_ROOT, "wrangler.toml");
export const WEIGHTS_BINDING = "WEIGHTS";

type Table = { name: string; values: Record<string, string> };

function readTables(file = WRANGLER_TOML): Table[] {
  if (!fs.existsSync(file)) return [];
  const tables: Table[] = [{ name: "", values: {} }];
  for (const raw of fs.readFileSync(file, "utf8").split("\n")) {
    const line = raw.replace(/^\s+|\s+$/g, "");
    const header = /^\[\[?([^\]]+)\]\]?$/.exec(line);
    if (header) tables.push({ name: header[1].trim(), values: {} });
    const kv = /^([A-Za-z0-9_]+)\s*=\s*"([^"]*)"/.exec(line);
    if (kv) tables[tables.length - 1].values[kv[1]] = kv[2];
  }
  return tables;
}

/** bucket_name of the r2_buckets entry bound as WEIGHTS. */
export function defaultBucket(file = WRANGLER_TOML): string {
  const t = readTables(file).find(
    (t) => t.name === "r2_buckets" && t.values.binding === WEIGHTS_BINDING,
  );
  if (!t?.values.bucket_name)
    throw new Error(
      `${file} has no [[r2_buckets]] with binding = "${WEIGHTS_BINDING}"; pass --bucket NAME`,
    );
  return t.values.bucket_name;
}

/** [vars] MEMORY_BUDGET_MB (the isolate's WASM budget), if set. */
export function memoryBudgetMB(file = WRANGLER_TOML): number | undefined {
  const v = readTables(file).find((t) => t.name === "vars")?.values.MEMORY_BUDGET_MB;
  return v === undefined ? undefined : Number(v);
}
