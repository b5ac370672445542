// The HTTP app: mounts the routes, and owns CORS, API-key checks, rate limits, 405s and the one
// error handler that turns everything into OpenAI's error shape. Deps come from the Worker entry.

import { Hono } from "hono";
import { cors } from "hono/cors";
import { completions } from "./completions.js";
import { inspect } from "./inspect.js";
import type { AppEnv, Deps } from "./context.js";
import { ApiError, apiErrorOf, methodNotAllowed } from "./errors.js";
import { models } from "./models.js";
import { openapi } from "./openapi.js";
import { page } from "./page.js";
import { clientId, limitRequests } from "./rate-limit.js";
import { status } from "./status.js";
import { tokenize } from "./tokenize.js";
import { truncate } from "./validate.js";

export type { Deps, ServerCaps } from "./context.js";

export function createApp<E extends object>(
  depsOf: (env: E, ctx?: ExecutionContext, req?: Request) => Deps,
) {
  const app = new Hono<AppEnv & { Bindings: E }>();
  // Any origin may call the API (keys, when configured, are the protection). A preflight is
  // answered before the key check and reflects the requested headers, so the openai client's
  // authorization, content-type and x-stainless-* headers are all allowed.
  app.use(
    "*",
    cors({ origin: "*", exposeHeaders: ["Retry-After", "retry-after-ms"], maxAge: 86400 }),
  );
  app.use("*", async (c, next) => {
    let ctx: ExecutionContext | undefined;
    try {
      ctx = c.executionCtx as ExecutionContext; // absent when the app is called without one
    } catch {}
    c.set("deps", depsOf(c.env, ctx, c.req.raw));
    await next();
  });
  app.use("/v1/*", async (c, next) => {
    const keys = c.get("deps").apiKeys;
    const index = checkApiKey(keys, c.req.header("authorization"), c.req.header("x-api-key"));
    c.set("client", clientId(index, c.req.header("cf-connecting-ip")));
    await next();
  });
  app.use("/v1/*", limitRequests);
  app.route("/", page);
  app.route("/", openapi);
  app.route("/v1", models);
  app.route("/v1", completions);
  app.route("/v1", tokenize);
  app.route("/v1", inspect);
  app.route("/v1", status);
  app.notFound((c) => {
    const path = truncate(c.req.path);
    const allow = allowedMethods(app, c.req.path);
    const e = allow.length
      ? methodNotAllowed(c.req.method, path, allow)
      : new ApiError(404, `Invalid URL (${c.req.method} ${path}).`, { type: "not_found_error" });
    return c.json(e.body(), e.status, e.headers);
  });
  app.onError((err, c) => {
    const e = apiErrorOf(err);
    return c.json(e.body(), e.status, e.headers);
  });
  return app;
}

/** The methods a known route takes at `path` (none: the path is unknown). */
function allowedMethods(app: Hono<any>, path: string): string[] {
  const allow: string[] = [];
  for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"]) {
    const [handlers] = app.router.match(method, path);
    // Middleware is registered for every method ("ALL"); a route has its own method.
    if (handlers.some(([[, route]]) => route.method === method)) allow.push(method);
  }
  return allow;
}

/**
 * With keys configured, the request must carry one as `Authorization: Bearer <key>` (what the
 * openai clients send) or `x-api-key: <key>`; otherwise 401 in OpenAI's shape. Returns the
 * index of the key given (null when no keys are configured).
 */
function checkApiKey(keys: string[], authorization?: string, xApiKey?: string): number | null {
  if (!keys.length) return null;
  const auth = authorization?.trim() ?? "";
  const bearer = auth.match(/^Bearer\s+(\S+)$/i)?.[1];
  const given = bearer ?? (xApiKey?.trim() || undefined);
  const index = given === undefined ? -1 : keys.findIndex((k) => safeEqual(given, k));
  if (index >= 0) return index;
  const unauthorized = (message: string) =>
    // OpenAI's type for 401s too; the code says which
    new ApiError(401, message, { code: "invalid_api_key" });
  if (given !== undefined) throw unauthorized("Incorrect API key provided.");
  if (auth) throw unauthorized(malformed(auth));
  throw unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.");
}

/** What is wrong with an Authorization header that is not `Bearer <key>`. */
function malformed(auth: string): string {
  const [scheme, ...rest] = auth.split(/\s+/);
  const fix = "Send the key as 'Authorization: Bearer <key>'.";
  if (!/^Bearer$/i.test(scheme)) {
    return rest.length
      ? `Malformed Authorization header: the scheme is '${truncate(scheme, 20)}', not 'Bearer'. ${fix}`
      : `Malformed Authorization header: one word and no 'Bearer' scheme. ${fix}`;
  }
  if (!rest.length) return `Malformed Authorization header: 'Bearer' is followed by no key. ${fix}`;
  return `Malformed Authorization header: the key holds whitespace (${rest.length} words after 'Bearer'). ${fix}`;
}

/** Compare without an early exit on the first differing byte. */
function safeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
