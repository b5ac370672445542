// GET /openapi.json: an OpenAPI 3.1 document that an independent validator accepts, whose
// request bodies come from the validating schemas under this server's caps.

import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { createApp, type Deps } from "../../src/routes/index.js";

const never = () => Promise.reject(new Error("not used by /openapi.json"));
const deps = (maxTokens: number): Deps => ({
  caps: {
    maxN: 7,
    maxTokens,
    maxPromptTokens: 256,
    maxChoices: 8,
    maxBodyBytes: 1 << 20,
    maxTokenizeChars: 1000,
    maxTokenizeTokens: 300,
    maxResponseBytes: 1 << 20,
    streamStallMs: 30_000,
  },
  apiKeys: ["sk-secret"], // the document is public: no key needed
  engine: never,
  tokenizer: never,
  listModels: never,
  modelInfo: never,
  status: async () => ({}),
});

async function documentOf(d: Deps): Promise<any> {
  const res = await createApp(() => d).request("/openapi.json");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/json");
  return res.json();
}

describe("GET /openapi.json", () => {
  it("Should be an OpenAPI 3.1 document the validator accepts", async () => {
    const doc = await documentOf(deps(123));
    const result = await new Validator().validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe("3.1.0");
    // The validator is not a rubber stamp: the same document without its responses is refused.
    const broken = structuredClone(doc);
    delete broken.paths["/v1/completions"].post.responses;
    broken.paths["/v1/models"].get.parameters = [{ in: "query" }];
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it("Should publish the validating schemas with this server's caps", async () => {
    const doc = await documentOf(deps(123));
    const body = doc.paths["/v1/completions"].post.requestBody.content["application/json"].schema;
    expect(body.required).toEqual(["model"]);
    const range = (field: string) => body.properties[field].anyOf[0];
    expect(range("max_tokens")).toMatchObject({ type: "integer", minimum: 0, maximum: 123 });
    expect(range("n")).toMatchObject({ type: "integer", minimum: 1, maximum: 7 });
    expect(range("temperature")).toMatchObject({ type: "number", minimum: 0, maximum: 2 });
    const tokenize = doc.paths["/v1/tokenize"].post.requestBody.content["application/json"].schema;
    expect(tokenize.properties.prompt).toMatchObject({ type: "string", maxLength: 1000 });
    expect(tokenize.required).toEqual(["model", "prompt"]);
    // Other caps, another document.
    const other = await documentOf(deps(55));
    const b2 = other.paths["/v1/completions"].post.requestBody.content["application/json"].schema;
    expect(b2.properties.max_tokens.anyOf[0].maximum).toBe(55);
  });
});
