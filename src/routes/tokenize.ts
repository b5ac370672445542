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
    const token_bytes = ids.map((id) => Array.from(tok.tokenBytes(id)));
    // The tokens' bytes concatenate to the prompt's UTF-8, so byte spans are running sums.
    let at = 0;
    const byte_offsets = token_bytes.map((bytes) => [at, (at += bytes.length)]);
    return c.json({
      tokens: ids,
      count: ids.length,
      max_model_len,
      token_strs: ids.map((id) => tok.tokenString(id)),
      token_bytes,
      offsets, // [start, end) in UTF-16 code units of the prompt
      byte_offsets, // [start, end) in bytes of the prompt's UTF-8
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
