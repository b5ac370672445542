// Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}, all four keys
// always present. Routes throw ApiError; the app's one onError turns anything into this shape.

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "server_error"
  | "service_unavailable";

export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 413 | 415 | 503 | 500,
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
    `The model '${model}' does not exist. GET /v1/models lists the models this server has.`,
    "invalid_request_error",
    "model",
    "model_not_found",
  );

export const unavailable = (message: string, retryAfterSeconds: number, code: string) =>
  new ApiError(503, message, "service_unavailable", null, code, {
    "Retry-After": String(retryAfterSeconds),
  });
