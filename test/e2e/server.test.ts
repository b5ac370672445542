// End to end through `wrangler dev`: the same requests give the same text across runs and
// across server restarts (fresh isolates loading the model from local R2 again).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startDevServer, uploadLocal } from "../helpers/dev-server.js";
import { FIXTURE_DIR } from "../setup/paths.js";

const persistTo = mkdtempSync(join(tmpdir(), "gpt-edge-e2e-"));
afterAll(() => rmSync(persistTo, { recursive: true, force: true }));

const requests = {
  greedy: { prompt: "ROMEO:\n", max_tokens: 50, temperature: 0 },
  sampled: { prompt: "First Citizen:", max_tokens: 50, temperature: 0.9, top_p: 0.95, seed: 1234 },
};

async function complete(url: string, body: object) {
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny-shakespeare", ...body }),
  });
  const json = (await res.json()) as any;
  expect(res.status, JSON.stringify(json)).toBe(200);
  return { text: json.choices[0].text as string, tokens: json.usage.completion_tokens as number };
}

/** Each request twice on one server run. */
async function oneRun() {
  const server = await startDevServer({ persistTo });
  try {
    const out: Record<string, string[]> = {};
    for (const [name, body] of Object.entries(requests)) {
      const a = await complete(server.url, body);
      const b = await complete(server.url, body);
      expect(a.tokens).toBe(50);
      out[name] = [a.text, b.text];
    }
    return out;
  } finally {
    await server.stop();
  }
}

describe("wrangler dev", () => {
  it("Should generate identical greedy and seeded text across runs and server restarts", async () => {
    uploadLocal(FIXTURE_DIR, persistTo);
    const first = await oneRun();
    const second = await oneRun();
    for (const name of Object.keys(requests)) {
      const all = [...first[name], ...second[name]];
      expect(new Set(all).size, `${name}: ${JSON.stringify(all)}`).toBe(1);
    }
  });
});
