// The HTTP app: mounts the routes, and owns CORS, API-key checks and the one error handler
// that turns everything into OpenAI's error shape. Deps come from the Worker entry.

import { Hono } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { completions } from "./completions.js";
import { inspect } from "./inspect.js";
import type { AppEnv, Deps } from "./context.js";
import { EngineSaturatedError } from "../engine/engine.js";
import { ApiError, unavailable } from "./errors.js";
import { models } from "./models.js";
import { page } from "./page.js";
import { status } from "./status.js";
import { tokenize } from "./tokenize.js";

export type { Deps, ServerCaps } from "./context.js";

export function createApp<E extends object>(depsOf: (env: E, ctx?: ExecutionContext) => Deps) {
  const app = new Hono<AppEnv & { Bindings: E }>();
  // Any origin may call the API (keys, when configured, are the protection). A preflight is
  // answered before the key check and reflects the requested headers, so the openai client's
  // authorization, content-type and x-stainless-* headers are all allowed.
  app.use("*", cors({ origin: "*", exposeHeaders: ["Retry-After"], maxAge: 86400 }));
  app.use("*", async (c, next) => {
    let ctx: ExecutionContext | undefined;
    try {
      ctx = c.executionCtx as ExecutionContext; // absent when the app is called without one
    } catch {}
    c.set("deps", depsOf(c.env, ctx));
    await next();
  });
  app.use("/v1/*", async (c, next) => {
    checkApiKey(c.get("deps").apiKeys, c.req.header("authorization"), c.req.header("x-api-key"));
    await next();
  });
  app.route("/", page);
  app.route("/v1", models);
  app.route("/v1", completions);
  app.route("/v1", tokenize);
  app.route("/v1", inspect);
  app.route("/v1", status);
  app.notFound((c) => {
    const e = new ApiError(404, `Invalid URL (${c.req.method} ${c.req.path}).`, "not_found_error");
    return c.json(e.body(), 404);
  });
  app.onError((err, c) => {
    if (err instanceof EngineSaturatedError) {
      err = unavailable(err.message, err.retryAfterSeconds, "overloaded");
    }
    if (err instanceof ApiError) return c.json(err.body(), err.status, err.headers);
    if (err instanceof HTTPException) {
      const e = new ApiError(err.status as 400, err.message || "Bad request.");
      return c.json(e.body(), err.status);
    }
    console.error("unexpected error", err);
    const e = new ApiError(500, `Internal error: ${(err as Error).message}`, "server_error");
    return c.json(e.body(), 500);
  });
  return app;
}

/**
 * With keys configured, the request must carry one as `Authorization: Bearer <key>` (what the
 * openai clients send) or `x-api-key: <key>`; otherwise 401 in OpenAI's shape.
 */
function checkApiKey(keys: string[], authorization?: string, xApiKey?: string): void {
  if (!keys.length) return;
  const given = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1] ?? xApiKey?.trim();
  if (given && keys.some((k) => safeEqual(given, k))) return;
  throw new ApiError(
    401,
    given
      ? "Incorrect API key provided."
      : "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
    "invalid_request_error", // OpenAI's type for 401s too; the code says which
    null,
    "invalid_api_key",
  );
}

/** Compare without an early exit on the first differing byte. */
function safeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
