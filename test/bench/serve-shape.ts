// The shape of the serving-overhead benchmark, shared by the Node side and the bench Worker:
// a PROMPT-token prompt (ids spread over the vocabulary, different per stream), NEW new tokens,
// and the bare decode both runtimes time.

import type { LoadedModel } from "../../src/model/loader.js";

export const PROMPT = 128;
export const NEW = 128;

/** The prompt of stream `seed`: PROMPT ids below min(V, 50000). */
export const promptIds = (V: number, seed: number) =>
  Array.from({ length: PROMPT }, (_, i) => (i * 7919 + seed * 104729) % Math.min(V, 50000));

/**
 * The bare work of B requests: B prompts prefilled (64-token chunks, as the engine), then NEW - 1
 * batched T = 1 steps. Returns their tokens (B · NEW) per second of the whole.
 */
export function bareRequests(lm: LoadedModel, B: number): number {
  const seqs = Array.from({ length: B }, (_, s) => promptIds(lm.manifest.config.n_vocab, s));
  const t0 = performance.now();
  for (let s = 0; s < B; s++) {
    for (let p = 0; p < PROMPT; p += 64) {
      const ids = seqs[s].slice(p, p + 64);
      lm.model.forward([{ slot: s, pos0: p, ids, logits: "last" }], () => {});
    }
  }
  for (let i = 0; i < NEW - 1; i++) {
    const segs = seqs.map((ids, s) => ({
      slot: s,
      pos0: PROMPT + i,
      ids: [ids[i]],
      logits: "last" as const,
    }));
    lm.model.forward(segs, () => {});
  }
  return (B * NEW * 1000) / (performance.now() - t0);
}
