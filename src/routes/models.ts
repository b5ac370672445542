// GET /v1/models and GET /v1/models/:id: the models present in the weight store.

import { Hono } from "hono";
import type { ModelInfo } from "../engine/registry.js";
import type { AppEnv } from "./context.js";

const modelObject = (m: ModelInfo) => ({
  id: m.id,
  object: "model" as const,
  created: m.created,
  owned_by: "gpt-edge",
  context_length: m.n_ctx,
  max_model_len: m.n_ctx,
});

export const models = new Hono<AppEnv>()
  .get("/models", async (c) => {
    const list = await c.get("deps").listModels();
    return c.json({ object: "list", data: list.map(modelObject) });
  })
  .get("/models/:id{.+}", async (c) => {
    return c.json(modelObject(await c.get("deps").modelInfo(c.req.param("id"))));
  });
