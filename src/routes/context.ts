// What every route gets from the app: the engines (through the registry) and the server's
// caps, plus a size-limited JSON body reader. Routes touch nothing else of the platform.

import type { Context } from "hono";
import type { Engine } from "../engine/engine.js";
import type { ModelInfo, ModelRegistry } from "../engine/registry.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { ApiError, apiErrorOf, invalid } from "./errors.js";

export interface ServerCaps {
  maxN: number;
  maxTokens: number;
  maxPromptTokens: number;
  /** Most sequences one request may start: prompts × best_of (or n). */
  maxChoices: number;
  maxBodyBytes: number;
  /** A streaming client that takes no data for this long is treated as gone (ms). */
  streamStallMs: number;
}

export interface Deps {
  caps: ServerCaps;
  /** The engine of a loaded model; throws ApiError (404 unknown, 503 loading failed/over budget). */
  engine(model: string): Promise<Engine>;
  /** A model's tokenizer and context length, without loading its weights. */
  tokenizer(model: string): Promise<{ tokenizer: Tokenizer; n_ctx: number }>;
  listModels(): Promise<ModelInfo[]>;
  modelInfo(model: string): Promise<ModelInfo>;
  /** Resident models and their engines' state (see GET /v1/status). */
  status(): object;
  /** API keys; empty means no authentication. */
  apiKeys: string[];
}

export type AppEnv = { Variables: { deps: Deps } };

/**
 * The deps over a registry of models: load failures become ApiErrors naming the model (404
 * unknown, 503 failed or over budget); waitUntil, if given, takes the loads' cache writes.
 */
export function registryDeps(
  registry: ModelRegistry,
  caps: ServerCaps,
  apiKeys: string[] = [],
  waitUntil?: (p: Promise<unknown>) => void,
): Deps {
  const named =
    (model: string) =>
    (e: unknown): never => {
      throw apiErrorOf(e, model);
    };
  return {
    caps,
    apiKeys,
    engine: (model) => registry.get(model, waitUntil).catch(named(model)),
    tokenizer: (model) => registry.tokenizer(model).catch(named(model)),
    listModels: () => registry.list(),
    modelInfo: (model) => registry.info(model).catch(named(model)),
    status: () => registry.status(),
  };
}

/** Parse the JSON body, refusing bodies over the cap (413) and malformed JSON (400). */
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
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw invalid("body", "The request body is not valid JSON.");
  }
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
