// The HTTP app: mounts the routes, and owns CORS, API-key checks and the one error handler
// that turns everything into OpenAI's error shape. Deps come from the Worker entry.

import { Hono } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { completions } from "./completions.js";
import type { AppEnv, Deps } from "./context.js";
import { EngineSaturatedError } from "../engine/engine.js";
import { ApiError, unavailable } from "./errors.js";
import { models } from "./models.js";
import { page } from "./page.js";
import { tokenize } from "./tokenize.js";

export type { Deps, ServerCaps } from "./context.js";

export function createApp<E extends object>(depsOf: (env: E) => Deps) {
  const app = new Hono<AppEnv & { Bindings: E }>();
  app.use("*", cors({ origin: "*", exposeHeaders: ["Retry-After", "X-Request-Id"], maxAge: 86400 }));
  app.use("*", async (c, next) => {
    c.set("deps", depsOf(c.env));
    await next();
  });
  app.use("/v1/*", async (c, next) => {
    const keys = c.get("deps").apiKeys;
    if (keys.length && !keys.some((k) => safeEqual(c.req.header("authorization") ?? "", `Bearer ${k}`))) {
      throw new ApiError(
        401,
        "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.",
        "authentication_error",
        null,
        "invalid_api_key",
      );
    }
    await next();
  });
  app.route("/", page);
  app.route("/v1", models);
  app.route("/v1", completions);
  app.route("/v1", tokenize);
  app.notFound((c) =>
    c.json(new ApiError(404, `No route for ${c.req.method} ${c.req.path}.`, "not_found_error").body(), 404),
  );
  app.onError((err, c) => {
    if (err instanceof EngineSaturatedError) err = unavailable(err.message, err.retryAfterSeconds, "overloaded");
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

/** Compare without an early exit on the first differing byte. */
function safeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
