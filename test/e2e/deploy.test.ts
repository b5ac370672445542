// `wrangler deploy --dry-run` builds the real bundle (no network needed): it must succeed and
// stay far within the Workers script size limit (64 MiB uncompressed).

import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../setup/paths.js";

const LIMIT = 64 * 1024 * 1024;

describe("wrangler deploy --dry-run", () => {
  it("Should bundle the Worker with its kernels within the size limit", () => {
    const out = mkdtempSync(join(tmpdir(), "gpt-edge-deploy-"));
    try {
      const r = spawnSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", out], {
        cwd: ROOT,
        encoding: "utf8",
        env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
      });
      expect(r.status, r.stderr + r.stdout).toBe(0);
      const files = readdirSync(out).filter((f) => !f.endsWith(".map"));
      const sizes = Object.fromEntries(files.map((f) => [f, statSync(join(out, f)).size]));
      const total = Object.values(sizes).reduce((a, b) => a + b, 0);
      console.log("bundle:", sizes, `total ${(total / 1024).toFixed(0)} KiB`);
      expect(files.some((f) => f.endsWith(".wasm"))).toBe(true);
      expect(total).toBeLessThan(LIMIT);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
