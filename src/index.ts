// The Worker entry: the kernels module (compiled at deploy, instantiated per loaded model),
// the models in R2, and the HTTP app. One registry per isolate keeps loaded models resident.
// A staged model is served through its first stage's Durable Object, bound as
// gatewayBinding(model) in the gateway config that weights/stage-configs.ts writes: one object
// per replica, the replica chosen per request by its continent (STAGE_REPLICAS).

import { kernelBuild, kernels } from "./kernels/bundled.js";
import { intSetting } from "./settings.js";
import { ROUND_FLOPS } from "./engine/engine.js";
import {
  ModelRegistry,
  type R2Listable,
  type RequestOrigin,
  type StagedModel,
} from "./engine/registry.js";
import type { Manifest } from "./model/manifest.js";
import { ModelLoadError } from "./model/loader.js";
import { StagedReplicas, type FirstStage } from "./stage/client.js";
import { stageStub, type StageNamespace } from "./stage/links.js";
import { gatewayBinding, replicaObject } from "./stage/names.js";
import { placementOf, type Placement, type Replica } from "./stage/replicas.js";
import type { Tokenizer } from "./tokenizer/index.js";
import { registryDeps } from "./routes/context.js";
import { createApp, type Deps, type ServerCaps } from "./routes/index.js";
import type { Limiter, RateLimits } from "./routes/rate-limit.js";

export interface Env {
  WEIGHTS: R2Bucket;
  /** WASM memory budget for all resident models, MiB (default 112 of the isolate's 128). */
  MEMORY_BUDGET_MB?: string;
  /** KV-cache slots per model (concurrent sequences); fewer if the budget is tighter. */
  MAX_SLOTS?: string;
  MAX_QUEUE?: string;
  /** Serve at most this many positions per sequence (default the model's n_ctx): more KV slots fit. */
  MAX_CONTEXT?: string;
  /** Most choices per prompt (`n`). */
  MAX_N?: string;
  /** Largest `max_tokens` accepted. */
  MAX_TOKENS?: string;
  /** Longest prompt accepted, in tokens (the model's context is a further limit). */
  MAX_PROMPT_TOKENS?: string;
  /** Most sequences one request may start (prompts × best_of). */
  MAX_CHOICES?: string;
  /** Largest request body, bytes (413 above it). */
  MAX_BODY_BYTES?: string;
  /** /v1/tokenize: longest prompt, in characters (UTF-16 code units). */
  MAX_TOKENIZE_CHARS?: string;
  /** /v1/tokenize and /v1/detokenize: most tokens in or out. */
  MAX_TOKENIZE_TOKENS?: string;
  /** /v1/tokenize and /v1/detokenize: largest answer, bytes. */
  MAX_RESPONSE_BYTES?: string;
  /** A streaming client that reads nothing for this long is treated as gone, ms (default 30 s). */
  STREAM_STALL_MS?: string;
  /** Rate Limiting bindings ([[ratelimits]] in wrangler.toml): requests, and token units. */
  REQUEST_LIMITER?: Limiter;
  TOKEN_LIMITER?: Limiter;
  /** Tokens one TOKEN_LIMITER unit stands for (default 256). */
  RATE_LIMIT_TOKEN_UNIT?: string;
  /** The bindings' period in seconds, 10 or 60 (default 60): tells clients when to retry. */
  RATE_LIMIT_PERIOD?: string;
  /** "off" ignores the bindings (local benchmarks); anything else applies them. */
  RATE_LIMITS?: string;
  /** Comma-separated API keys (set as a secret); unset means no authentication. */
  API_KEYS?: string;
  /**
   * Replicas of every staged model and which continent each serves (src/stage/replicas.ts):
   * JSON, or a TOML table; unset is one replica named default, with no location hint.
   */
  STAGE_REPLICAS?: unknown;
}

// One registry of resident models (and one set of caps) per env object of the isolate.
const cached = new WeakMap<Env, ReturnType<typeof isolateState>>();

/**
 * The isolate's deps, with engine loads handing their cache writes to this request's waitUntil,
 * and a staged model's replica chosen by the request's continent.
 */
function depsOf(env: Env, ctx?: ExecutionContext, req?: Request): Deps {
  const { registry, caps, apiKeys, limits } = isolateState(env);
  const waitUntil = ctx && ((p: Promise<unknown>) => ctx.waitUntil(p));
  return registryDeps(registry, caps, apiKeys, waitUntil, limits, originOf(req));
}

/** request.cf.continent, when Cloudflare's edge (or a test) gave one. */
function originOf(req?: Request): RequestOrigin {
  const continent = (req?.cf as { continent?: unknown } | undefined)?.continent;
  return typeof continent === "string" ? { continent } : {};
}

function isolateState(env: Env): {
  registry: ModelRegistry;
  caps: ServerCaps;
  apiKeys: string[];
  limits?: RateLimits;
} {
  const known = cached.get(env);
  if (known) return known;
  const placement = placementOf(env.STAGE_REPLICAS);
  const registry = new ModelRegistry(env.WEIGHTS as unknown as R2Bucket & R2Listable, {
    kernels,
    kernelBuild,
    budgetBytes: intSetting(env.MEMORY_BUDGET_MB, 112) * 1024 * 1024,
    slots: intSetting(env.MAX_SLOTS, 16),
    context: env.MAX_CONTEXT ? intSetting(env.MAX_CONTEXT, 1024) : undefined,
    engine: { maxQueue: intSetting(env.MAX_QUEUE, 256), prefillChunk: 64, roundFlops: ROUND_FLOPS },
    staged: (m, tokenizer, context) => stagedModel(env, placement, m, tokenizer, context),
  });
  const state = {
    registry,
    caps: {
      maxN: intSetting(env.MAX_N, 16),
      maxTokens: intSetting(env.MAX_TOKENS, 4096),
      maxPromptTokens: intSetting(env.MAX_PROMPT_TOKENS, 4096),
      maxChoices: intSetting(env.MAX_CHOICES, 64),
      maxBodyBytes: intSetting(env.MAX_BODY_BYTES, 4 * 1024 * 1024),
      maxTokenizeChars: intSetting(env.MAX_TOKENIZE_CHARS, 131_072),
      maxTokenizeTokens: intSetting(env.MAX_TOKENIZE_TOKENS, 32_768),
      maxResponseBytes: intSetting(env.MAX_RESPONSE_BYTES, 2 * 1024 * 1024),
      streamStallMs: intSetting(env.STREAM_STALL_MS, 30_000),
    },
    apiKeys: (env.API_KEYS ?? "")
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean),
    limits:
      env.RATE_LIMITS === "off"
        ? undefined
        : {
            requests: env.REQUEST_LIMITER,
            tokens: env.TOKEN_LIMITER,
            tokenUnit: intSetting(env.RATE_LIMIT_TOKEN_UNIT, 256),
            periodSeconds: intSetting(env.RATE_LIMIT_PERIOD, 60),
          },
  };
  cached.set(env, state);
  return state;
}

/**
 * A staged model through the Durable Object binding to its first stage: each replica is its own
 * first-stage object, named after the replica and created near its location hint.
 */
function stagedModel(
  env: Env,
  { placement, error }: { placement: Placement; error?: string },
  m: Manifest,
  tokenizer: Tokenizer,
  context: number,
): StagedModel {
  const binding = gatewayBinding(m.name);
  const ns = (env as unknown as Record<string, StageNamespace | undefined>)[binding];
  if (!ns?.getByName) {
    throw new ModelLoadError(
      `model '${m.name}' is cut into ${m.stages!.list.length} pipeline stages, but this gateway ` +
        `has no binding ${binding} to its first stage: upload it with npm run weights -- upload ` +
        `(which writes the stage configs) and start with npm run dev, or deploy them`,
    );
  }
  const first = (r: Replica) => stageStub<FirstStage>(ns, replicaObject(r.name), r.hint);
  return new StagedReplicas({ tokenizer, plan: { context }, manifest: m }, placement, first, error);
}

const app = createApp<Env>(depsOf);

export default app;
