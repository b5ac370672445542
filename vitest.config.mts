// Three projects: unit tests in plain Node (kernels, tokenizer, converter, sampler, model),
// end-to-end tests against `wrangler dev` (Node), and integration tests inside workerd with a
// real local R2 binding.
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            // Few slots and a short queue, so tests can reach saturation with a handful of requests.
            miniflare: { bindings: { MAX_SLOTS: "4", MAX_QUEUE: "12" } },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/workers/**/*.test.ts"],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
