// One inspection of a prompt: a forward pass on a borrowed KV slot with hooks that copy out
// attention, the residual rows the views need, per-stage times and logits, then the derived views
// (next-token distribution, per-token surprise, head summaries, the selected token from inside,
// 3D projections, neighbours, matrix sizes). What it holds is planned first (budget.ts).

import type { LoadedModel } from "../model/loader.js";
import { kernelLogitOps } from "../sampler/index.js";
import { TokenLimitError } from "../tokenizer/index.js";
import { AttentionCollector } from "./attention.js";
import { MAX_HIDDEN_VALUES, planChecked } from "./budget.js";
import { nextTokens, scoreToken } from "./distribution.js";
import { neighbours, projectTokens, wteInfo } from "./embeddings.js";
import { positionFocus } from "./focus.js";
import { HiddenCollector } from "./hidden.js";
import {
  checkAgainstModel,
  MAX_ATTENTION_VALUES,
  MAX_NEIGHBOURS,
  maxInspectTokens,
  MAX_TOP_N,
  tooLong,
  type InspectParams,
} from "./params.js";
import { round } from "./round.js";
import { modelSizes, timings } from "./sizes.js";
import { promptTokens } from "./tokens.js";
import type { Inspection, NextTokens, PromptLogprob } from "./types.js";
import { weights } from "./weights.js";

export type { Inspection };

/** Runs a synchronous job on a free KV slot (Engine.withSlot); the only way the model is run. */
export type SlotRunner = <T>(job: (slot: number) => T) => T;

export function inspect(lm: LoadedModel, p: InspectParams, withSlot: SlotRunner): Inspection {
  const start = performance.now();
  const tok = lm.tokenizer;
  const cfg = lm.manifest.config;
  const { n_embd: C, n_layer: L, n_head: NH } = cfg;
  // Counted first, stopping past the limit: the tokens' merge traces are built only for a
  // prompt that is read (a long one took ~0.6 s and MiBs to be refused)
  const cap = maxInspectTokens(lm.plan.context);
  try {
    tok.encode(p.prompt, { limit: cap });
  } catch (e) {
    if (e instanceof TokenLimitError) throw tooLong(lm.plan.context, `more than ${cap}`);
    throw e;
  }
  const tokens = promptTokens(tok, p.prompt);
  const ids = tokens.map((t) => t.id);
  const T = ids.length;
  const layers = checkAgainstModel(p, T, cfg, lm.plan.context);
  const position = p.position < 0 ? T - 1 : p.position;
  const { attention: plan, plan: mem } = planChecked(cfg, T, p, layers);

  const att = new AttentionCollector(L, NH, T, plan.keep);
  const at = new Float32Array((L + 1) * C); // (L+1, C): the selected token after each depth
  const input = new Float32Array((position + 1) * C); // (position+1, C): block p.layer's input
  const win = mem.hidden; // the tokens the hidden view covers
  const hidden = p.hidden ? new HiddenCollector(L + 1, C, win.start, win.count) : null;
  const scored: PromptLogprob[] = new Array(T);
  scored[0] = { logprob: null, rank: null, top: null };
  let next: NextTokens | undefined;
  const stages = new Map<string, number>();
  const rows = lm.plan.rows; // the forward pass takes at most this many rows: prefill in chunks
  const ops = kernelLogitOps(lm.kernels); // the logit rows are in the model's memory

  withSlot((slot) => {
    for (let pos0 = 0; pos0 < T; pos0 += rows) {
      const chunk = ids.slice(pos0, pos0 + rows);
      const last = pos0 + chunk.length === T;
      lm.model.forward(
        [{ slot, pos0, ids: chunk, logits: p.promptLogprobs ? "all" : last ? "last" : "none" }],
        (_s, t, logits) => {
          // Logits are a reused view, and T × V floats would not fit the isolate for large V:
          // each row is reduced to what the response needs here and then dropped.
          const q = pos0 + t;
          if (q + 1 < T) scored[q + 1] = scoreToken(tok, logits, ids[q + 1], ops);
          else next = nextTokens(tok, logits, p.topN, ops);
        },
        {
          onAttention: (layer, _seg, a) => att.add(layer, pos0, chunk.length, a),
          onResidual: (layer, x) => {
            const depth = layer + 1; // 0: the embedding
            const t = position - pos0;
            if (t >= 0 && t < chunk.length) at.set(x.subarray(t * C, (t + 1) * C), depth * C);
            if (depth === p.layer && t >= 0)
              input.set(x.subarray(0, Math.min(t + 1, chunk.length) * C), pos0 * C);
            hidden?.add(depth, pos0, chunk.length, x);
          },
          onStage: (name, ms) => stages.set(name, (stages.get(name) ?? 0) + ms),
        },
      );
    }
  });
  if (!next) throw new Error("inspect: the forward pass produced no logits for the last position");

  const empty: PromptLogprob = { logprob: null, rank: null, top: null };
  return {
    object: "inspection",
    model: lm.name,
    config: { n_vocab: cfg.n_vocab, n_ctx: cfg.n_ctx, n_embd: C, n_layer: L, n_head: NH },
    tokens: tokens.map((t, i) => ({ ...t, ...(p.promptLogprobs ? scored[i] : empty) })),
    next,
    attention: { layers: att.layers(), summary: att.summary(), capped: plan.capped },
    focus: positionFocus({
      w: weights(lm),
      tok,
      cfg: { ...cfg, eps: cfg.eps },
      at,
      input,
      position,
      layer: p.layer,
      head: p.head,
    }),
    hidden: hidden?.projection(hiddenCapped(win.start, win.count, T)) ?? null,
    embeddings: p.embeddings ? embeddingView(lm, ids) : null,
    neighbours: p.neighbours > 0 ? neighbourView(lm, ids[T - 1], p.neighbours) : null,
    sizes: modelSizes(lm.manifest),
    timings: timings(stages, performance.now() - start),
    limits: {
      max_prompt_tokens: maxInspectTokens(lm.plan.context),
      max_top_n: MAX_TOP_N,
      max_attention_values: MAX_ATTENTION_VALUES,
      max_hidden_values: MAX_HIDDEN_VALUES,
      max_neighbours: MAX_NEIGHBOURS,
    },
  };
}

/** What the hidden view's cap left out, "" when it covers every token. */
function hiddenCapped(start: number, count: number, T: number): string {
  if (count >= T) return "";
  const limit = MAX_HIDDEN_VALUES.toLocaleString("en-US");
  return (
    `At ${T} tokens the hidden view covers tokens ${start}..${start + count - 1} (up to the ` +
    `selected one; ${limit} residual values per answer).`
  );
}

function embeddingView(lm: LoadedModel, ids: number[]) {
  const { pca, cloud } = wteInfo(lm);
  return {
    explained: pca.variance.map((v) => round(pca.total > 0 ? v / pca.total : 0, 4)),
    cloud,
    prompt: projectTokens(lm, ids),
  };
}

export function neighbourView(lm: LoadedModel, id: number, k: number) {
  return { id, text: lm.tokenizer.tokenString(id), items: neighbours(lm, id, k) };
}
