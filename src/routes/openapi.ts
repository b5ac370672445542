// GET /openapi.json: an OpenAPI 3.1 document of the API, its request bodies converted from the
// very valibot schemas that validate them (under this server's caps), plus the answers' shapes.

import { Hono } from "hono";
import * as v from "valibot";
import { toJsonSchema } from "@valibot/to-json-schema";
import { completionSchema } from "./completion-schema.js";
import type { AppEnv, ServerCaps } from "./context.js";
import { detokenizeSchema, tokenizeSchema } from "./tokenize-schema.js";

const json = (schema: v.GenericSchema) => {
  // errorMode ignore: checks JSON Schema cannot say (a custom refinement) are left out.
  const { $schema: _, ...rest } = toJsonSchema(schema, {
    target: "draft-2020-12",
    errorMode: "ignore",
  });
  return rest;
};

const error = v.object({
  error: v.object({
    message: v.string(),
    type: v.string(),
    param: v.nullable(v.string()),
    code: v.nullable(v.string()),
  }),
});

const logprobs = v.object({
  tokens: v.array(v.string()),
  token_logprobs: v.array(v.nullable(v.number())),
  top_logprobs: v.array(v.nullable(v.record(v.string(), v.number()))),
  text_offset: v.array(v.number()),
});

const completion = v.object({
  id: v.string(),
  object: v.literal("text_completion"),
  created: v.number(),
  model: v.string(),
  choices: v.array(
    v.object({
      text: v.string(),
      index: v.number(),
      logprobs: v.nullable(logprobs),
      finish_reason: v.nullable(v.picklist(["stop", "length"])),
    }),
  ),
  usage: v.nullish(
    v.object({
      prompt_tokens: v.number(),
      completion_tokens: v.number(),
      total_tokens: v.number(),
    }),
  ),
});

const model = v.object({
  id: v.string(),
  object: v.literal("model"),
  created: v.number(),
  owned_by: v.string(),
  context_length: v.number(),
  max_model_len: v.number(),
});

const spans = v.array(v.tuple([v.number(), v.number()]));
const tokenized = v.object({
  tokens: v.array(v.number()),
  count: v.number(),
  max_model_len: v.number(),
  token_strs: v.optional(v.array(v.string())),
  token_bytes: v.optional(v.array(v.array(v.number()))),
  offsets: v.optional(spans),
  byte_offsets: v.optional(spans),
});

const anyObject = { type: "object" };
const errorCodes = ["400", "401", "404", "405", "413", "429", "503"];

/** One operation: its request body (if any), its 200 answer, and the errors it may give. */
function op(summary: string, ok: object, body?: object, stream = false) {
  const content: Record<string, object> = { "application/json": { schema: ok } };
  if (stream) content["text/event-stream"] = { schema: { type: "string" } };
  return {
    summary,
    ...(body && {
      requestBody: { required: true, content: { "application/json": { schema: body } } },
    }),
    responses: {
      "200": { description: "OK", content },
      ...Object.fromEntries(errorCodes.map((s) => [s, { $ref: "#/components/responses/Error" }])),
    },
  };
}

function document(caps: ServerCaps) {
  return {
    openapi: "3.1.0",
    info: {
      title: "gpt-edge",
      version: "1",
      description: "GPT-2 models on Cloudflare Workers through OpenAI's Completions API.",
    },
    servers: [{ url: "/" }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: { Error: json(error) },
      responses: {
        Error: {
          description: "An error in OpenAI's shape",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
    },
    security: [{}, { bearer: [] }],
    paths: {
      "/v1/completions": {
        post: op("Generate or score text", json(completion), json(completionSchema(caps)), true),
      },
      "/v1/models": {
        get: op("The models in the weight store", {
          type: "object",
          properties: { object: { const: "list" }, data: { type: "array", items: json(model) } },
        }),
      },
      "/v1/models/{id}": {
        get: {
          ...op("One model", json(model)),
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        },
      },
      "/v1/tokenize": {
        post: op("Text to token ids", json(tokenized), json(tokenizeSchema(caps))),
      },
      "/v1/detokenize": {
        post: op(
          "Token ids to text",
          { type: "object", properties: { prompt: { type: "string" } } },
          json(detokenizeSchema(caps)),
        ),
      },
      "/v1/inspect": { post: op("What the demo page draws", anyObject, anyObject) },
      "/v1/neighbours": { post: op("Nearest tokens by embedding", anyObject, anyObject) },
      "/v1/status": { get: op("This isolate's kernels and resident models", anyObject) },
    },
  };
}

const documents = new WeakMap<ServerCaps, string>();

export const openapi = new Hono<AppEnv>().get("/openapi.json", (c) => {
  const caps = c.get("deps").caps;
  let doc = documents.get(caps);
  if (!doc) documents.set(caps, (doc = JSON.stringify(document(caps))));
  return c.body(doc, 200, { "content-type": "application/json" });
});
