// The shape of the serving-overhead benchmark, shared by the Node side and the bench Worker:
// a PROMPT-token prompt (ids spread over the vocabulary, different per stream), NEW new tokens,
// and the bare decode both runtimes time.

import type { LoadedModel } from "../../src/model/loader.js";

export const PROMPT = 128;
export const NEW = 128;

/** The prompt of stream `seed`: PROMPT ids below min(V, 50000). */
export const promptIds = (V: number, seed: number) =>
  Array.from({ length: PROMPT }, (_, i) => (i * 7919 + seed * 104729) % Math.min(V, 50000));

/** What bareRequests measured: the whole, and its prefill and decode parts, in tokens/s. */
export interface BareRates {
  /** B · NEW tokens per second of the whole (prefills and decode steps). */
  tokensPerSecond: number;
  /** B · PROMPT prompt tokens per second of the prefills alone. */
  prefill: number;
  /** B · (NEW - 1) tokens per second of the decode steps alone. */
  decode: number;
}

/**
 * The bare work of B requests: B prompts prefilled (64-token chunks, as the engine), then NEW - 1
 * batched T = 1 steps, timed whole and in its two parts.
 */
export function bareRequests(lm: LoadedModel, B: number): BareRates {
  const seqs = Array.from({ length: B }, (_, s) => promptIds(lm.manifest.config.n_vocab, s));
  const t0 = performance.now();
  for (let s = 0; s < B; s++) {
    for (let p = 0; p < PROMPT; p += 64) {
      const ids = seqs[s].slice(p, p + 64);
      lm.model.forward([{ slot: s, pos0: p, ids, logits: "last" }], () => {});
    }
  }
  const t1 = performance.now();
  for (let i = 0; i < NEW - 1; i++) {
    const segs = seqs.map((ids, s) => ({
      slot: s,
      pos0: PROMPT + i,
      ids: [ids[i]],
      logits: "last" as const,
    }));
    lm.model.forward(segs, () => {});
  }
  const t2 = performance.now();
  return {
    tokensPerSecond: (B * NEW * 1000) / (t2 - t0),
    prefill: (B * PROMPT * 1000) / (t1 - t0),
    decode: (B * (NEW - 1) * 1000) / (t2 - t1),
  };
}
