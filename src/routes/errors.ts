// Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}, all four keys
// always present. Routes throw ApiError; the app's one onError turns anything into this shape.

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "server_error"
  | "service_unavailable"
  | "requests" // 429s, as OpenAI names the limit that was hit
  | "tokens";

export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 413 | 415 | 429 | 503 | 500,
    message: string,
    readonly type: ErrorType = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body() {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }
}

/** 400 naming the bad field. */
export const invalid = (param: string, message: string, code: string | null = null) =>
  new ApiError(400, message, "invalid_request_error", param, code);

export const modelNotFound = (model: string) =>
  new ApiError(
    404,
    `The model '${model.length > 80 ? `${model.slice(0, 80)}…` : model}' does not exist. ` +
      "GET /v1/models lists the models this server has.",
    "invalid_request_error",
    "model",
    "model_not_found",
  );

export const unavailable = (message: string, retryAfterSeconds: number, code: string) =>
  new ApiError(503, message, "service_unavailable", null, code, {
    "Retry-After": String(retryAfterSeconds),
  });

/** 405 for a known route asked with another method; `Allow` lists the ones it takes. */
export const methodNotAllowed = (method: string, path: string, allow: string[]) =>
  new ApiError(
    405,
    `${method} is not allowed on ${path}; use ${allow.join(" or ")}.`,
    "invalid_request_error",
    null,
    "method_not_allowed",
    { Allow: allow.join(", ") },
  );

/** 429 in OpenAI's shape: `type` says which limit (requests or tokens) was hit. */
export const rateLimited = (type: "requests" | "tokens", message: string, retryAfterMs: number) =>
  new ApiError(429, message, type, null, "rate_limit_exceeded", {
    "Retry-After": String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
    "retry-after-ms": String(Math.max(1, Math.round(retryAfterMs))),
  });
