// What every route gets from the app: the engines (through the registry) and the server's
// caps, plus a size-limited JSON body reader. Routes touch nothing else of the platform.

import type { Context } from "hono";
import type { Generator } from "../engine/generator.js";
import type { ModelInfo, ModelRegistry, RequestOrigin } from "../engine/registry.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { ApiError, apiErrorOf, invalid } from "./errors.js";
import type { RateLimits } from "./rate-limit.js";

export interface ServerCaps {
  maxN: number;
  maxTokens: number;
  maxPromptTokens: number;
  /** Most sequences one request may start: prompts × best_of (or n). */
  maxChoices: number;
  maxBodyBytes: number;
  /** /v1/tokenize: longest prompt, in characters (UTF-16 code units). */
  maxTokenizeChars: number;
  /** /v1/tokenize and /v1/detokenize: most tokens in or out. */
  maxTokenizeTokens: number;
  /** /v1/tokenize and /v1/detokenize: largest answer, bytes. */
  maxResponseBytes: number;
  /** A response write waiting this long once the engine is idle means the client is gone (ms). */
  streamStallMs: number;
}

export interface Deps {
  caps: ServerCaps;
  /**
   * The engine of a loaded model (an Engine in this isolate, or a staged model's in its first
   * stage); throws ApiError (404 unknown, 503 loading failed/over budget or stages unreachable).
   */
  engine(model: string): Promise<Generator>;
  /** A model's tokenizer and context length, without loading its weights. */
  tokenizer(model: string): Promise<{ tokenizer: Tokenizer; n_ctx: number }>;
  listModels(): Promise<ModelInfo[]>;
  modelInfo(model: string): Promise<ModelInfo>;
  /** Resident models and their engines' state, staged models' stages too (GET /v1/status). */
  status(): Promise<object>;
  /** API keys; empty means no authentication. */
  apiKeys: string[];
  /** Per-client rate limits; absent (or a binding absent) means unlimited. */
  limits?: RateLimits;
}

/** deps: the app's; client: who the request counts against for rate limits (rate-limit.ts). */
export type AppEnv = { Variables: { deps: Deps; client: string } };

/**
 * The deps over a registry of models: load failures become ApiErrors naming the model (404
 * unknown, 503 failed or over budget); waitUntil, if given, takes the loads' cache writes; limits are the
 * per-client rate limits (none: unlimited); from, where the request comes from (which replica
 * of a staged model serves it).
 */
export function registryDeps(
  registry: ModelRegistry,
  caps: ServerCaps,
  apiKeys: string[] = [],
  waitUntil?: (p: Promise<unknown>) => void,
  limits?: RateLimits,
  from?: RequestOrigin,
): Deps {
  const named =
    (model: string) =>
    (e: unknown): never => {
      throw apiErrorOf(e, model);
    };
  return {
    caps,
    apiKeys,
    limits,
    engine: (model) => registry.serve(model, waitUntil, from).catch(named(model)),
    tokenizer: (model) => registry.tokenizer(model).catch(named(model)),
    listModels: () => registry.list(),
    modelInfo: (model) => registry.info(model).catch(named(model)),
    status: () => registry.statusWithStages(),
  };
}

/** Deepest nesting of arrays and objects a body may have; the API's own needs 3. */
export const MAX_JSON_DEPTH = 32;

/**
 * Parse the JSON body, refusing bodies over the cap (413), and with a 400 bodies that are not
 * UTF-8, not JSON, or nested deeper than MAX_JSON_DEPTH (so no later walk of the value can
 * overflow the stack).
 */
export async function readJson(c: Context<AppEnv>): Promise<unknown> {
  const max = c.get("deps").caps.maxBodyBytes;
  const declared = Number(c.req.header("content-length") ?? "0");
  const tooLarge = () =>
    new ApiError(413, `The request body is larger than ${max} bytes.`, {
      code: "request_too_large",
    });
  if (declared > max) throw tooLarge();
  const body = c.req.raw.body;
  if (!body) throw invalid("body", "The request needs a JSON body.");
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const ch of chunks) {
    bytes.set(ch, at);
    at += ch.byteLength;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw invalid("body", "The request body is not valid UTF-8: send JSON encoded as UTF-8.");
  }
  const depth = nestingDepth(bytes);
  if (depth > MAX_JSON_DEPTH) {
    throw invalid(
      "body",
      `The request body nests arrays and objects ${depth > 1e4 ? "over 10000" : depth} ` +
        `levels deep; at most ${MAX_JSON_DEPTH} are accepted.`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalid("body", "The request body is not valid JSON.");
  }
}

/** How deep `[` and `{` nest outside strings (stops counting past 10000). */
function nestingDepth(bytes: Uint8Array): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > deepest && (deepest = depth) > 1e4) break;
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return deepest;
}

/**
 * Keep the request's work alive until `work` settles. Workers cancel a request's pending
 * promises when its client disconnects; without this, a generation's driver would vanish
 * mid-step and leave its sequences holding KV slots. No-op where there is no ExecutionContext.
 */
export function keepAlive(c: Context<AppEnv>, work: Promise<unknown>): void {
  let ctx: { waitUntil(p: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    return; // e.g. app.request() in Node tests
  }
  ctx.waitUntil(work.catch(() => {}));
}
