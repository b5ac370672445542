// POST /v1/tokenize and /v1/detokenize (vLLM's shapes) inside workerd, against the default
// model's tokenizer loaded from R2 without its weights.

import { beforeAll, describe, expect, it } from "vitest";
import { MODEL, seedModel, post } from "./seed.js";

beforeAll(async () => {
  await seedModel();
});

describe("POST /v1/tokenize", () => {
  it("Should return ids, count and the context length", async () => {
    const r = await post("/v1/tokenize", { model: MODEL, prompt: "ROMEO:\nWhat light" });
    expect(r.status).toBe(200);
    expect(r.json.count).toBe(r.json.tokens.length);
    expect(r.json.max_model_len).toBe(256);
    const back = await post("/v1/detokenize", { model: MODEL, tokens: r.json.tokens });
    expect(back.json.prompt).toBe("ROMEO:\nWhat light");
  });

  it("Should return token strings, bytes and offsets that tile the text", async () => {
    const prompt = "To be, or not to be: that is the question.";
    const r = await post("/v1/tokenize", { model: MODEL, prompt, return_token_strs: true });
    expect(r.json.token_strs.join("")).toBe(prompt);
    const offsets: [number, number][] = r.json.offsets;
    expect(offsets[0][0]).toBe(0);
    expect(offsets.at(-1)![1]).toBe(prompt.length);
    offsets.slice(1).forEach(([s], i) => expect(s).toBe(offsets[i][1]));
    expect(r.json.token_bytes[0]).toEqual(
      Array.from(new TextEncoder().encode(r.json.token_strs[0])),
    );
  });

  it("Should return byte offsets into the prompt's UTF-8, also across multi-byte characters", async () => {
    const prompt = "Café — 生活 🦀!";
    const r = await post("/v1/tokenize", { model: MODEL, prompt, return_offsets: true });
    const utf8 = new TextEncoder().encode(prompt);
    const spans: [number, number][] = r.json.byte_offsets;
    expect(spans.at(-1)![1]).toBe(utf8.length);
    spans.forEach(([s, e], i) => {
      expect(Array.from(utf8.slice(s, e))).toEqual(r.json.token_bytes[i]);
    });
  });

  it("Should treat <|endoftext|> as text unless special tokens are allowed", async () => {
    const plain = await post("/v1/tokenize", { model: MODEL, prompt: "<|endoftext|>" });
    const special = await post("/v1/tokenize", {
      model: MODEL,
      prompt: "<|endoftext|>",
      add_special_tokens: true,
    });
    expect(plain.json.tokens.length).toBeGreaterThan(1);
    expect(special.json.tokens).toEqual([2047]);
  });

  it("Should return 400 naming tokens for an id outside the vocabulary", async () => {
    const r = await post("/v1/detokenize", { model: MODEL, tokens: [1, 99999] });
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe("tokens");
  });

  it("Should return 404 model_not_found for an unknown model", async () => {
    const r = await post("/v1/tokenize", { model: "nope", prompt: "x" });
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe("model_not_found");
  });
});
