// Engine tests' shared pieces: prompts of several lengths, and one generation driven to its end
// with the token ids it produced.

import type { Generator } from "../../../src/engine/generator.js";
import type { GenerationRequest } from "../../../src/engine/sequence.js";
import { defaultSamplingParams } from "../../../src/sampler/index.js";

export const PROMPTS = [
  "ROMEO:",
  "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?",
  "First Citizen:\nBefore we proceed any further, hear me speak.",
  "KING RICHARD III:\nNow is the winter of our discontent",
  "A",
  "HAMLET:",
];

/** Submit and run `req`; the generated ids, onToken(count) after each batch of them. */
export async function generate(
  e: Pick<Generator, "submit" | "run">,
  req: GenerationRequest,
  onToken?: (count: number) => void,
): Promise<number[]> {
  const seq = e.submit(req);
  const ids: number[] = [];
  await e.run(seq, (evs) => {
    for (const ev of evs) if (!ev.prompt) ids.push(ev.id);
    onToken?.(ids.length);
  });
  return ids;
}

/** A greedy request for `prompt`'s ids: no stops, no logprobs. */
export function greedyRequest(prompt: number[], maxTokens: number): GenerationRequest {
  return {
    prompt,
    maxTokens,
    sampling: { ...defaultSamplingParams(), temperature: 0 },
    seed: 1n,
    stopTokens: new Set(),
    logprobs: null,
    echoLogprobs: false,
  };
}
