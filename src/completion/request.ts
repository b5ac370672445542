// A completion request as the completion logic reads it (routes/completion-params.ts validates
// the HTTP body into it), and its prompts as token ids that fit the model being served.

import type { Generator } from "../engine/generator.js";

export type Prompt = { text: string } | { ids: number[] };

/** What a completion needs; routes/completion-params.ts's CompletionParams is one. */
export interface CompletionRequest {
  prompts: Prompt[];
  /** null: not given (16, or what still fits the context after the longest prompt). */
  maxTokens: number | null;
  n: number;
  /** Candidates generated per prompt; the n with the best mean logprob are returned. */
  bestOf: number;
  logprobs: number | null;
  echo: boolean;
  /** Keep generating past <|endoftext|> until max_tokens or a stop string. */
  ignoreEos: boolean;
  stop: string[];
  seed: bigint | null;
  temperature: number;
  top_p: number;
  top_k: number;
  min_p: number;
  presence_penalty: number;
  frequency_penalty: number;
  repetition_penalty: number;
  logitBias: Map<number, number> | null;
}

/** A request that does not fit the model; `param` and `code` are for OpenAI's error shape. */
export class CompletionRequestError extends RangeError {
  name = "CompletionRequestError";
  constructor(
    readonly param: string,
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** The prompts as token ids, and the max_tokens they leave room for. */
export interface FittedPrompts {
  prompts: number[][];
  maxTokens: number;
}

/** Token ids of every prompt, checked against the vocabulary, the server cap and the context. */
export function promptIdsOf(
  p: CompletionRequest,
  engine: Generator,
  maxPromptTokens: number,
): FittedPrompts {
  const tok = engine.lm.tokenizer;
  const n_ctx = engine.lm.plan.context; // what the memory plan serves, <= the model's n_ctx
  const prompts = p.prompts.map((pr, i) => {
    const where = p.prompts.length > 1 ? `prompt[${i}]` : "prompt";
    let ids: number[];
    if ("ids" in pr) {
      const bad = pr.ids.find((id) => !tok.isValidId(id));
      if (bad !== undefined) {
        const range = `[0, ${tok.vocabSize})`;
        const msg = `Invalid token id ${bad} in ${where}: ids must be in ${range}.`;
        throw new CompletionRequestError("prompt", msg);
      }
      ids = pr.ids;
    } else {
      ids = tok.encode(pr.text, { limit: maxPromptTokens }); // over it: TokenLimitError, a 400
    }
    if (ids.length === 0) ids = [tok.eot ?? 0]; // an empty prompt starts from <|endoftext|>
    if (ids.length > maxPromptTokens) {
      const msg = `${where} has ${ids.length} tokens; this server accepts at most ${maxPromptTokens}.`;
      throw new CompletionRequestError("prompt", msg, "context_length_exceeded");
    }
    return ids;
  });
  const longest = Math.max(...prompts.map((ids) => ids.length));
  // Not given: 16, or what still fits after the longest prompt.
  const maxTokens = p.maxTokens ?? Math.max(0, Math.min(16, n_ctx - longest));
  if (longest + maxTokens > n_ctx) {
    throw new CompletionRequestError(
      p.maxTokens === null ? "prompt" : "max_tokens",
      `This model's maximum context length is ${n_ctx} tokens, however you requested ` +
        `${longest + maxTokens} tokens (${longest} in your prompt; ${maxTokens} for the ` +
        `completion). Please reduce your prompt or completion length.`,
      "context_length_exceeded",
    );
  }
  return { prompts, maxTokens };
}
