// Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}, all four keys
// always present. Routes throw ApiError; apiErrorOf is the one map from every other layer's
// errors to it, used by the app's onError, the stream's error event and the model lookups.

import { HTTPException } from "hono/http-exception";
import { CompletionRequestError } from "../completion/request.js";
import { EngineSaturatedError } from "../engine/engine.js";
import { EmbeddingUnsupportedError } from "../inspect/embeddings.js";
import { InspectParamError } from "../inspect/params.js";
import { ModelLoadError, ModelNotFoundError } from "../model/loader.js";
import { ModelTooLargeError } from "../model/plan.js";
import { SamplingParamError } from "../sampler/index.js";
import { StageError, type FaultCode } from "../stage/protocol.js";
import { TokenLimitError } from "../tokenizer/index.js";

const QUICK_RETRY = new Set<FaultCode>(["overloaded", "weights_changed"]);

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "server_error"
  | "service_unavailable"
  | "requests" // 429s, as OpenAI names the limit that was hit
  | "tokens";

export type ErrorStatus = 400 | 401 | 404 | 405 | 413 | 415 | 429 | 500 | 503;

export interface ApiErrorOptions {
  /** Default: server_error for 500, service_unavailable for 503, else invalid_request_error. */
  type?: ErrorType;
  /** The request field at fault, if one is. */
  param?: string | null;
  /** A machine-readable reason, e.g. "context_length_exceeded". */
  code?: string | null;
  /** Extra response headers, e.g. Retry-After. */
  headers?: Record<string, string>;
}

export class ApiError extends Error {
  name = "ApiError";
  readonly type: ErrorType;
  readonly param: string | null;
  readonly code: string | null;
  readonly headers: Record<string, string>;

  constructor(
    readonly status: ErrorStatus,
    message: string,
    options: ApiErrorOptions = {},
  ) {
    super(message);
    this.type = options.type ?? defaultType(status);
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
  }

  body() {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }
}

const defaultType = (status: ErrorStatus): ErrorType =>
  status === 500
    ? "server_error"
    : status === 503
      ? "service_unavailable"
      : "invalid_request_error";

/** 400 naming the bad field. */
export const invalid = (param: string, message: string, code: string | null = null) =>
  new ApiError(400, message, { param, code });

export const modelNotFound = (model: string) =>
  new ApiError(
    404,
    `The model '${model}' does not exist. GET /v1/models lists the models this server has.`,
    { param: "model", code: "model_not_found" },
  );

export const unavailable = (message: string, retryAfterSeconds: number, code: string) =>
  new ApiError(503, message, { code, headers: { "Retry-After": String(retryAfterSeconds) } });

/**
 * Any error as the ApiError the client gets: the client's faults from the inner layers become
 * 4xx naming the field, load and capacity failures 503, anything unexpected a 500. `given`,
 * where known, is the model id the request named (cut to 64 characters in messages).
 */
export function apiErrorOf(err: unknown, given?: string): ApiError {
  // The id as given, cut short: an error never echoes a whole hostile value.
  const model = given !== undefined && given.length > 64 ? `${given.slice(0, 64)}…` : given;
  if (err instanceof ApiError) return err;
  if (err instanceof CompletionRequestError) return invalid(err.param, err.message, err.code);
  if (err instanceof SamplingParamError) return invalid(err.param, err.message);
  if (err instanceof InspectParamError) return invalid(err.param, err.message, err.code);
  if (err instanceof EmbeddingUnsupportedError)
    return invalid("model", err.message, "unsupported_model");
  if (err instanceof ModelNotFoundError)
    return model === undefined ? new ApiError(404, err.message) : modelNotFound(model);
  if (err instanceof ModelTooLargeError) {
    // Retrying cannot help until the server is reconfigured: tell the openai client not to.
    const headers = { "x-should-retry": "false" };
    return new ApiError(503, err.message, {
      param: "model",
      code: "model_over_memory_budget",
      headers,
    });
  }
  if (err instanceof ModelLoadError) {
    const which = model === undefined ? "The model" : `The model '${model}'`;
    return unavailable(`${which} could not be loaded: ${err.message}`, 5, "model_load_failed");
  }
  if (err instanceof EngineSaturatedError)
    return unavailable(err.message, err.retryAfterSeconds, "overloaded");
  if (err instanceof StageError) {
    // A staged model's stages: over budget needs reconfiguring; the rest may pass (a full engine
    // or a first stage reloading re-uploaded weights in about a second).
    if (err.fault.code !== "stage_over_budget")
      return unavailable(err.message, QUICK_RETRY.has(err.fault.code) ? 1 : 5, err.fault.code);
    const headers = { "x-should-retry": "false" };
    return new ApiError(503, err.message, { param: "model", code: err.fault.code, headers });
  }
  if (err instanceof TokenLimitError) {
    // Completions tokenize with MAX_PROMPT_TOKENS as the limit: a prompt past it stops early.
    const msg = `The prompt has more than ${err.limit} tokens; this server accepts at most ${err.limit}.`;
    return invalid("prompt", msg, "context_length_exceeded");
  }
  if (err instanceof HTTPException)
    return new ApiError(err.status as ErrorStatus, err.message || "Bad request.");
  console.error("unexpected error", err);
  return new ApiError(500, `Internal error: ${(err as Error)?.message ?? err}`);
}

/** 405 for a known route asked with another method; `Allow` lists the ones it takes. */
export const methodNotAllowed = (method: string, path: string, allow: string[]) =>
  new ApiError(405, `${method} is not allowed on ${path}; use ${allow.join(" or ")}.`, {
    code: "method_not_allowed",
    headers: { Allow: allow.join(", ") },
  });

/** 429 in OpenAI's shape: `type` says which limit (requests or tokens) was hit. */
export const rateLimited = (type: "requests" | "tokens", message: string, retryAfterMs: number) =>
  new ApiError(429, message, {
    type,
    code: "rate_limit_exceeded",
    headers: {
      "Retry-After": String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
      "retry-after-ms": String(Math.max(1, Math.round(retryAfterMs))),
    },
  });
