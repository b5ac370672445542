// `wrangler deploy --dry-run` builds the real bundle (no network needed): it must succeed and
// stay far within the Workers script size limit (64 MiB uncompressed); and `npm run deploy`
// does the same for every config a staged model's upload generates, and the gateway's.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeStageConfigs } from "../../weights/stage-configs.js";
import { ROOT, STAGED_DIR } from "../setup/paths.js";
import { readManifest } from "../../weights/inspect.js";

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

describe("npm run deploy -- --dry-run with a staged model", () => {
  it("Should bundle every stage config and the gateway, later stages first", () => {
    const tmp = mkdtempSync(join(tmpdir(), "gpt-edge-stages-"));
    try {
      const configs = join(tmp, "configs");
      writeStageConfigs(readManifest(STAGED_DIR), { bucket: "gpt-edge-weights", dir: configs });
      const out = join(tmp, "out");
      const args = ["tsx", "src/cli/deploy.ts", "--no-build", "--dry-run", "--outdir", out];
      const r = spawnSync("npx", args, {
        cwd: ROOT,
        encoding: "utf8",
        env: { ...process.env, WRANGLER_SEND_METRICS: "false", GPT_EDGE_STAGES_DIR: configs },
      });
      expect(r.status, r.stderr + r.stdout).toBe(0);
      // stage 1, then stage 0 (which binds it), then the gateway (which binds stage 0)
      const order = [...r.stdout.matchAll(/> wrangler deploy -c (\S+)/g)].map((m) => m[1]);
      expect(order.map((c) => c.slice(configs.length + 1))).toEqual([
        "tiny-2stage/1/wrangler.toml",
        "tiny-2stage/0/wrangler.toml",
        "gateway.toml",
      ]);
      for (const i of [0, 1, 2]) {
        const files = readdirSync(join(out, String(i)));
        expect(files.some((f) => f.endsWith(".wasm"))).toBe(true);
        expect(existsSync(join(out, String(i), "index.js"))).toBe(true);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
