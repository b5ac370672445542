// What the sampler remembers about a sequence (which tokens it has seen, how often each was
// generated) and the logit adjustments made from it: logit_bias, the CTRL/HF repetition penalty,
// OpenAI's presence and frequency penalties. Each pass touches only the tokens concerned.

export class TokenHistory {
  /** Distinct ids of the prompt and the generated tokens, in first-seen order. */
  readonly seen: number[] = [];
  /** Distinct generated ids, in first-generated order; counts[i] is how often generated[i] was. */
  readonly generated: number[] = [];
  readonly counts: number[] = [];
  private readonly seenSet = new Set<number>();
  private readonly slot = new Map<number, number>(); // generated id → index in generated / counts

  addPrompt(id: number): void {
    if (!this.seenSet.has(id)) {
      this.seenSet.add(id);
      this.seen.push(id);
    }
  }

  addGenerated(id: number): void {
    this.addPrompt(id);
    const i = this.slot.get(id);
    if (i !== undefined) this.counts[i]++;
    else {
      this.slot.set(id, this.generated.length);
      this.generated.push(id);
      this.counts.push(1);
    }
  }
}

/** x[ids[i]] += values[i]: OpenAI's logit_bias, added before anything else. */
export function applyLogitBias(x: Float64Array, ids: Int32Array, values: Float64Array): void {
  for (let i = 0; i < ids.length; i++) x[ids[i]] += values[i];
}

export interface PenaltyParams {
  repetition_penalty: number;
  presence_penalty: number;
  frequency_penalty: number;
}

/**
 * Repetition penalty first (CTRL, Keskar et al. 2019, as HF and llama.cpp apply it: divide a
 * positive logit, multiply a negative one, so either way the token gets less likely), over
 * prompt + generated tokens; then OpenAI's
 *   logit[j] -= frequency · count[j] + presence · (count[j] > 0)
 * over generated tokens only. Each distinct token is penalised once per call, whatever its count.
 */
export function applyPenalties(x: Float64Array, h: TokenHistory, p: PenaltyParams): void {
  const rp = p.repetition_penalty;
  if (rp !== 1) {
    for (const id of h.seen) x[id] = x[id] > 0 ? x[id] / rp : x[id] * rp;
  }
  const { presence_penalty: presence, frequency_penalty: frequency } = p;
  if (presence !== 0 || frequency !== 0) {
    for (let i = 0; i < h.generated.length; i++) {
      x[h.generated[i]] -= frequency * h.counts[i] + presence;
    }
  }
}
