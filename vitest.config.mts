// Four projects: unit tests in plain Node (kernels, tokenizer, converter, sampler, model),
// end-to-end tests against `wrangler dev` (Node), integration tests inside workerd with a
// real local R2 binding, and the same inside workerd with a staged model's pipeline stages
// as auxiliary workers (build/stage/index.js, bundled by `npm run build:stage` in pretest).
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { gatewayBinding, stageBinding, STAGE_CLASS, stageScript } from "./src/stage/names.js";
import { STAGED_MODEL } from "./test/setup/paths.js";

/** Two replicas besides default, for test/stages/placement.test.ts (requests carry cf.continent). */
const TEST_REPLICAS = {
  replicas: { default: null, eu: "weur", oc: "oc" },
  continents: { EU: "eu", OC: "oc" },
  fallback: "default",
};

/** Stage i of the 2-stage test model: its own Worker script, as its generated config makes it. */
const stageWorker = (i: number) => ({
  name: stageScript(STAGED_MODEL, i),
  modules: true,
  scriptPath: "./build/stage/index.js",
  compatibilityDate: "2026-04-20",
  modulesRules: [{ type: "CompiledWasm" as const, include: ["**/*.wasm"] }],
  r2Buckets: { WEIGHTS: "gpt-edge-weights" }, // the gateway's bucket (wrangler.toml)
  durableObjects: {
    [stageBinding(i)]: { className: STAGE_CLASS, useSQLite: true },
    ...(i === 0
      ? { [stageBinding(1)]: { className: STAGE_CLASS, scriptName: stageScript(STAGED_MODEL, 1) } }
      : {}),
  },
  bindings: {
    MODEL: STAGED_MODEL,
    STAGE_INDEX: String(i),
    STAGE_COUNT: "2",
    MAX_QUEUE: "12",
    STAGE_TEST_HOOKS: "1", // tests evict stage objects
  },
});

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
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                MAX_SLOTS: "4",
                MAX_QUEUE: "12",
                RATE_LIMITS: "off",
                STAGE_REPLICAS: JSON.stringify(TEST_REPLICAS), // a string, as [vars] JSON is
              },
              durableObjects: {
                // what the generated gateway config binds, plus stage 1 for tests to reach
                [gatewayBinding(STAGED_MODEL)]: {
                  className: STAGE_CLASS,
                  scriptName: stageScript(STAGED_MODEL, 0),
                },
                STAGE_1_TEST: { className: STAGE_CLASS, scriptName: stageScript(STAGED_MODEL, 1) },
              },
              workers: [stageWorker(0), stageWorker(1)],
            },
          }),
        ],
        test: {
          name: "stages",
          include: ["test/stages/**/*.test.ts"],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
