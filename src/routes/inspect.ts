// POST /v1/inspect and POST /v1/neighbours: what the model does with a prompt (tokens, next-token
// distribution, attention, residual stream, embeddings, sizes, stage times) for the demo page.
// The forward pass runs on a free KV slot between engine steps (Engine.withSlot). The inspect
// layer's errors (InspectParamError, EmbeddingUnsupportedError) become 400s in apiErrorOf.
// A staged model is not in this isolate (its layers are spread over Durable Objects): 400.

import { Hono } from "hono";
import { Engine } from "../engine/engine.js";
import type { Generator } from "../engine/generator.js";
import { analogy } from "../inspect/embeddings.js";
import { inspect as runInspection, neighbourView } from "../inspect/inspect.js";
import { parseInspectParams, parseNeighbourParams } from "../inspect/params.js";
import { invalid } from "./errors.js";
import { preview } from "./validate.js";
import { readJson, type AppEnv } from "./context.js";

export const inspect = new Hono<AppEnv>()
  .post("/inspect", async (c) => {
    const body = await readJson(c);
    const p = parseInspectParams(body);
    const engine = inIsolate(await c.get("deps").engine(p.model), p.model);
    return c.json(runInspection(engine.lm, p, (job) => engine.withSlot(job)));
  })
  .post("/neighbours", async (c) => {
    const body = await readJson(c);
    const p = parseNeighbourParams(body);
    const engine = inIsolate(await c.get("deps").engine(p.model), p.model);
    const tok = engine.lm.tokenizer;
    /** The one token `text` encodes to, or a 400 naming `param`. */
    const single = (text: string, param: string) => {
      const ids = text.length <= tok.maxTokenBytes ? tok.encode(text) : [];
      if (ids.length !== 1) {
        throw invalid(param, `'${param}' must be exactly one token each; ${preview(text)} is not.`);
      }
      return ids[0];
    };
    if (p.plus.length > 0) {
      const plus = p.plus.map((t) => single(t, "plus"));
      const minus = p.minus.map((t) => single(t, "minus"));
      const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b).join();
      if (sorted(plus) === sorted(minus)) {
        throw invalid(
          "minus",
          "'plus' and 'minus' cancel out: their sum is the zero vector, which no token is nearer to than another.",
        );
      }
      const items = analogy(engine.lm, plus, minus, p.k);
      // " king - man + woman": each term as written (a word in a sentence has its leading space)
      const term = (op: string) => (t: string) => ` ${op}${t.startsWith(" ") ? "" : " "}${t}`;
      const text = [p.plus[0], ...p.minus.map(term("-")), ...p.plus.slice(1).map(term("+"))].join(
        "",
      );
      return c.json({ object: "neighbours", model: p.model, id: -1, text, items });
    }
    let id = p.tokenId;
    if (p.token !== null) id = single(p.token, "token");
    if (id === null || !tok.isValidId(id)) {
      throw invalid("token_id", `Invalid 'token_id' ${id}: ids must be in [0, ${tok.vocabSize}).`);
    }
    const view = neighbourView(engine.lm, id as number, p.k);
    return c.json({ object: "neighbours", model: p.model, ...view });
  });

/** The model's Engine when its weights are in this isolate; a 400 for a staged model. */
function inIsolate(engine: Generator, model: string): Engine {
  if (engine instanceof Engine) return engine;
  throw invalid(
    "model",
    `The model '${model.slice(0, 64)}' is served by a pipeline of stages (Durable Objects), so ` +
      `its layers are not in one place to look inside; inspect an unstaged model instead.`,
    "unsupported_model",
  );
}
