// POST /v1/tokenize and /v1/detokenize in vLLM's shapes, with token strings and byte offsets
// on request, so clients and the demo page can see how text becomes ids. Characters in, tokens
// and answer bytes are capped (tokenize-schema.ts): an answer never outgrows the isolate.

import { Hono } from "hono";
import { TokenLimitError } from "../tokenizer/index.js";
import { readJson, type AppEnv, type ServerCaps } from "./context.js";
import { invalid } from "./errors.js";
import { detokenizeSchema, REQUIRED, tokenizeSchema } from "./tokenize-schema.js";
import { parseBody } from "./validate.js";

const NO_INTEGERS = new Set<string>();

/** Refuse an answer over the cap, naming the request's field that makes it large. */
function checkSize(bytes: number, caps: ServerCaps, param: string, fix: string): void {
  if (bytes <= caps.maxResponseBytes) return;
  throw invalid(
    param,
    `The answer would be ${bytes > 1e9 ? "over 10^9" : bytes} bytes; this server sends at most ` +
      `${caps.maxResponseBytes} (MAX_RESPONSE_BYTES). ${fix}`,
    "response_too_large",
  );
}

export const tokenize = new Hono<AppEnv>()
  .post("/tokenize", async (c) => {
    const caps = c.get("deps").caps;
    const b = parseBody(tokenizeSchema(caps), await readJson(c), {
      required: REQUIRED.tokenize,
      integers: NO_INTEGERS,
    });
    const { tokenizer: tok, n_ctx: max_model_len } = await c.get("deps").tokenizer(b.model);
    // add_special_tokens: recognise <|endoftext|> written in the text as the special token.
    const opts = { allowSpecial: b.add_special_tokens === true, limit: caps.maxTokenizeTokens };
    let tokens: number[];
    try {
      tokens = tok.encode(b.prompt, opts);
    } catch (e) {
      if (!(e instanceof TokenLimitError)) throw e;
      throw invalid(
        "prompt",
        `'prompt' has more than ${e.limit} tokens; /v1/tokenize returns at most ${e.limit} ` +
          `(MAX_TOKENIZE_TOKENS).`,
        "context_length_exceeded",
      );
    }
    if (b.return_token_strs !== true && b.return_offsets !== true) {
      return c.json({ tokens, count: tokens.length, max_model_len });
    }
    // Before building anything: per token at most 10 bytes of detail per byte of its text (the
    // string escaped, the byte list) plus 48 for its id and spans; its bytes sum to the UTF-8.
    const utf8 = new TextEncoder().encode(b.prompt).length;
    checkSize(
      10 * utf8 + 48 * tokens.length + 200,
      caps,
      "prompt",
      "Ask for a shorter prompt, or without 'return_token_strs' and 'return_offsets'.",
    );
    const { ids, offsets } = tok.encodeWithOffsets(b.prompt, opts);
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
    const caps = c.get("deps").caps;
    const b = parseBody(detokenizeSchema(caps), await readJson(c), {
      required: REQUIRED.detokenize,
      integers: NO_INTEGERS,
    });
    const { tokenizer: tok } = await c.get("deps").tokenizer(b.model);
    const bad = b.tokens.find((t) => !tok.isValidId(t));
    if (bad !== undefined)
      throw invalid("tokens", `Invalid token id ${bad}: ids must be in [0, ${tok.vocabSize}).`);
    const bytes = tok.decodeBytes(b.tokens);
    // JSON of the text takes at least one byte per UTF-8 byte: refuse before decoding a giant.
    checkSize(bytes.length, caps, "tokens", "Send fewer tokens.");
    const body = JSON.stringify({ prompt: tok.decode(b.tokens) });
    checkSize(new TextEncoder().encode(body).length, caps, "tokens", "Send fewer tokens.");
    return c.body(body, 200, { "content-type": "application/json" });
  });
