// The /v1/tokenize and /v1/detokenize bodies as valibot schemas, capped by the server's
// MAX_TOKENIZE_CHARS and MAX_TOKENIZE_TOKENS; tokenize.ts runs them, openapi.ts publishes them.

import * as v from "valibot";
import type { ServerCaps } from "./context.js";
import { boolField } from "./validate.js";

type Caps = Pick<ServerCaps, "maxTokenizeChars" | "maxTokenizeTokens">;

export const REQUIRED = {
  tokenize: { model: "Missing required parameter: 'model'.", prompt: "'prompt' must be a string." },
  detokenize: {
    model: "Missing required parameter: 'model'.",
    tokens: "'tokens' must be an array of token ids.",
  },
};

const model = v.pipe(
  v.string(REQUIRED.tokenize.model),
  v.description("A model id from GET /v1/models."),
);

function buildTokenize(caps: Caps) {
  return v.object(
    {
      model,
      prompt: v.pipe(
        v.string(REQUIRED.tokenize.prompt),
        v.maxLength(
          caps.maxTokenizeChars,
          (i) =>
            `'prompt' has ${(i.input as string).length} characters; /v1/tokenize reads at most ` +
            `${caps.maxTokenizeChars} (MAX_TOKENIZE_CHARS).`,
        ),
        v.description("The text to tokenize."),
      ),
      add_special_tokens: boolField(
        "add_special_tokens",
        "Read <|endoftext|> in the text as the special token.",
      ),
      return_token_strs: boolField(
        "return_token_strs",
        "Also return token_strs, token_bytes, offsets and byte_offsets.",
      ),
      return_offsets: boolField("return_offsets", "Same as return_token_strs."),
    },
    REQUIRED.tokenize.model,
  );
}

function buildDetokenize(caps: Caps) {
  const bad = REQUIRED.detokenize.tokens;
  return v.object(
    {
      model,
      tokens: v.pipe(
        v.array(v.pipe(v.number(bad), v.integer(bad)), bad),
        v.maxLength(
          caps.maxTokenizeTokens,
          (i) =>
            `'tokens' has ${(i.input as unknown[]).length} ids; /v1/detokenize reads at most ` +
            `${caps.maxTokenizeTokens} (MAX_TOKENIZE_TOKENS).`,
        ),
        v.description("Token ids to turn back into text."),
      ),
    },
    REQUIRED.detokenize.model,
  );
}

const cache = new WeakMap<
  Caps,
  [ReturnType<typeof buildTokenize>, ReturnType<typeof buildDetokenize>]
>();

function schemas(caps: Caps) {
  let s = cache.get(caps);
  if (!s) cache.set(caps, (s = [buildTokenize(caps), buildDetokenize(caps)]));
  return s;
}

export const tokenizeSchema = (caps: Caps) => schemas(caps)[0];
export const detokenizeSchema = (caps: Caps) => schemas(caps)[1];
