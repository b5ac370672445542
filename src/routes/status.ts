// GET /v1/status: what this isolate holds: each resident model's memory plan, KV slots in use,
// queue and engine counters; and each staged model's stages as their Durable Objects report
// them. For operators and the demo page; no model is loaded by asking.

import { Hono } from "hono";
import type { AppEnv } from "./context.js";

export const status = new Hono<AppEnv>().get("/status", async (c) =>
  c.json(await c.get("deps").status()),
);
