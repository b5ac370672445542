// POST /v1/tokenize and /v1/detokenize in vLLM's shapes, with token strings and byte offsets
// on request, so clients and the demo page can see how text becomes ids.

import { Hono } from "hono";
import { invalid } from "./errors.js";
import { readJson, type AppEnv } from "./context.js";

type Body = Record<string, unknown>;

function objectBody(v: unknown): Body {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw invalid("body", "The request body must be a JSON object.");
  }
  const b = v as Body;
  if (typeof b.model !== "string") throw invalid("model", "Missing required parameter: 'model'.");
  return b;
}

export const tokenize = new Hono<AppEnv>()
  .post("/tokenize", async (c) => {
    const b = objectBody(await readJson(c));
    if (typeof b.prompt !== "string") throw invalid("prompt", "'prompt' must be a string.");
    const { tokenizer: tok, n_ctx: max_model_len } = await c
      .get("deps")
      .tokenizer(b.model as string);
    // add_special_tokens: recognise <|endoftext|> written in the text as the special token.
    const allowSpecial = b.add_special_tokens === true;
    if (b.return_token_strs !== true && b.return_offsets !== true) {
      const tokens = tok.encode(b.prompt, { allowSpecial });
      return c.json({ tokens, count: tokens.length, max_model_len });
    }
    const { ids, offsets } = tok.encodeWithOffsets(b.prompt, { allowSpecial });
    return c.json({
      tokens: ids,
      count: ids.length,
      max_model_len,
      token_strs: ids.map((id) => tok.tokenString(id)),
      token_bytes: ids.map((id) => Array.from(tok.tokenBytes(id))),
      offsets,
    });
  })
  .post("/detokenize", async (c) => {
    const b = objectBody(await readJson(c));
    const tokens = b.tokens;
    if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t))) {
      throw invalid("tokens", "'tokens' must be an array of token ids.");
    }
    const { tokenizer: tok } = await c.get("deps").tokenizer(b.model as string);
    const bad = (tokens as number[]).find((t) => !tok.isValidId(t));
    if (bad !== undefined)
      throw invalid("tokens", `Invalid token id ${bad}: ids must be in [0, ${tok.vocabSize}).`);
    return c.json({ prompt: tok.decode(tokens as number[]) });
  });
