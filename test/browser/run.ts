// `npm run test:browser`: the demo page end to end in headless Chromium (Debian's, driven by
// playwright-core) against this repo's own `wrangler dev`. Prints one line per check and ends
// with "N passed, M failed"; exits non-zero on any failure. The server is always stopped.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { checks, type Ctx } from "./checks.js";
import { startDevServer, type DevServer } from "./server.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

let server: DevServer | undefined;
let context: BrowserContext | undefined;
const profile = mkdtempSync(join(tmpdir(), "gpt-edge-chromium-")); // a fresh --user-data-dir

async function cleanup(): Promise<void> {
  await context?.close().catch(() => {});
  context = undefined;
  await server?.stop().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping the dev server`);
    void cleanup().then(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  if (!existsSync(CHROMIUM)) {
    console.error(
      `Chromium is not installed at ${CHROMIUM}. Install it with:\n` +
        "  apt-get update && apt-get install -y chromium\n" +
        "or point CHROMIUM_PATH at a Chromium or Chrome binary.",
    );
    console.log(`0 passed, ${checks.length} failed`);
    return 1;
  }
  let passed = 0;
  let failed = 0;
  try {
    server = await startDevServer();
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const ctx: Ctx = { page, origin: server.url, requests: [], errors: [] };
    context.on("request", (r) => ctx.requests.push(r.url()));
    page.on("pageerror", (e) => ctx.errors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") ctx.errors.push(`console: ${m.text()}`);
    });
    page.setDefaultTimeout(20_000);
    // CHECKS=word runs only the checks whose name contains it (while working on one view).
    const only = process.env.CHECKS;
    for (const [name, check] of checks.filter(([n]) => !only || n.includes(only))) {
      try {
        await check(ctx);
        passed++;
        console.log(`  ✓ ${name}`);
      } catch (e) {
        failed++;
        console.log(
          `  ✗ ${name}\n      ${String((e as Error).message)
            .split("\n")
            .join("\n      ")}`,
        );
      }
    }
  } catch (e) {
    console.error(`Setup failed: ${(e as Error).message}`);
    failed = checks.length - passed;
  } finally {
    await cleanup();
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (e) => {
    console.error(e);
    await cleanup();
    console.log("0 passed, 1 failed");
    process.exit(1);
  },
);
