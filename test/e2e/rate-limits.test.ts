// Rate limits through `wrangler dev`, with wrangler.toml's own [[ratelimits]] (REQUEST_LIMITER:
// 120 per 60 s per client): one key is refused with 429 and Retry-After, another still served.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startDevServer, uploadLocal } from "../helpers/dev-server.js";
import { FIXTURE_DIR } from "../setup/paths.js";

const persistTo = mkdtempSync(join(tmpdir(), "gpt-edge-e2e-rl-"));
afterAll(() => rmSync(persistTo, { recursive: true, force: true }));

describe("wrangler dev rate limits", () => {
  it("Should answer 429 in OpenAI's shape past the request limit while another key is served", async () => {
    uploadLocal(FIXTURE_DIR, persistTo);
    const server = await startDevServer({
      persistTo,
      vars: { RATE_LIMITS: "on", API_KEYS: "sk-a,sk-b" },
    });
    try {
      const get = (key: string) =>
        fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      // 120 per window; a window that rolls over mid-loop allows up to 120 more.
      let refused: Response | null = null;
      let served = 0;
      for (let i = 0; i < 250 && !refused; i++) {
        const res = await get("sk-a");
        if (res.status === 429) refused = res;
        else {
          expect(res.status).toBe(200);
          served++;
          await res.body?.cancel();
        }
      }
      expect(refused, `no 429 after ${served} requests`).not.toBeNull();
      expect(served).toBeGreaterThanOrEqual(120);
      const body = (await refused!.json()) as any;
      expect(body.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" });
      const after = Number(refused!.headers.get("retry-after"));
      expect(after).toBeGreaterThanOrEqual(1);
      expect(after).toBeLessThanOrEqual(60);
      expect((await get("sk-b")).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
