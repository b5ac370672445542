// The HTTP app: mounts the routes, and owns CORS, API-key checks and the one error handler
// that turns everything into OpenAI's error shape. Deps come from the Worker entry.

import { Hono } from "hono";
import { cors } from "hono/cors";
import { completions } from "./completions.js";
import { inspect } from "./inspect.js";
import type { AppEnv, Deps } from "./context.js";
import { ApiError, apiErrorOf } from "./errors.js";
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
    const message = `Invalid URL (${c.req.method} ${c.req.path}).`;
    return c.json(new ApiError(404, message, { type: "not_found_error" }).body(), 404);
  });
  app.onError((err, c) => {
    const e = apiErrorOf(err);
    return c.json(e.body(), e.status, e.headers);
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
    { code: "invalid_api_key" }, // type invalid_request_error: OpenAI's for 401s too
  );
}

/** Compare without an early exit on the first differing byte. */
function safeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
