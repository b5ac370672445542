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
            // Rate limits: wrangler.toml's would stop the suite (every test is one client), so
            // they are lifted here; rate-limits.test.ts swaps in the small TEST_* ones.
            miniflare: {
              bindings: { MAX_SLOTS: "4", MAX_QUEUE: "12", RATE_LIMIT_PERIOD: "10" },
              ratelimits: {
                REQUEST_LIMITER: { simple: { limit: 1_000_000, period: 10 } },
                TOKEN_LIMITER: { simple: { limit: 1_000_000, period: 10 } },
                TEST_REQUEST_LIMITER: { simple: { limit: 3, period: 10 } },
                TEST_TOKEN_LIMITER: { simple: { limit: 4, period: 10 } },
              },
            },
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
