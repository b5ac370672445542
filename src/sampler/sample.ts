// The Sampler: one per sequence. Turns a step's logits into the next token id under that
// sequence's SamplingParams, its own seeded Rng, and the penalties from the tokens it has seen.
import { applyLogitBias, applyPenalties, TokenHistory } from "./penalties.js";
import { validateSamplingParams, type SamplingParams } from "./params.js";
import type { Rng } from "./rng.js";
import { argmaxOf } from "../kernels/scalar-sample.js";
import { nucleusOf, nucleusOfLogits, selectTopK, topIdsOf } from "./select.js";
import { plainLogitOps, type LogitOps } from "./logit-ops.js";

// Work buffers shared by every Sampler in the isolate (~600 KB at V = 50257, instead of that per
// sequence): sample() runs to completion without awaiting, so no two calls ever interleave.
let work = new Float64Array(0); // (V) adjusted logits, then exp(logit - max) of the candidates
let cand = new Int32Array(0); // (V) candidate token ids

function scratch(V: number): void {
  if (work.length < V) {
    work = new Float64Array(V);
    cand = new Int32Array(V);
  }
}

/** Whether any penalty is on (applyPenalties then changes some logits). */
const penalises = (p: SamplingParams) =>
  p.repetition_penalty !== 1 || p.presence_penalty !== 0 || p.frequency_penalty !== 0;

/**
 * Order of operations (llama.cpp's, with OpenAI's field semantics):
 *   1. logit_bias                       added to the raw logits
 *   2. penalties                        repetition (prompt + generated), then presence/frequency
 *                                       (generated only); see penalties.ts
 *   3. temperature 0 → greedy           argmax, ties → lowest id; consumes NO randomness
 *   4. logits / temperature
 *   5. top_k                            the k highest scaled logits (ties → lower id)
 *   6. softmax                          over the top_k survivors, max-subtracted in float64
 *   7. top_p                            smallest most-probable prefix with cumulative p ≥ top_p,
 *                                       at least one token; p from step 6
 *   8. min_p                            drop p < min_p · p_max (p_max is the top token's, which
 *                                       top_p always keeps, so steps 7 and 8 commute)
 *   9. renormalise and draw             exactly one rng.nextFloat() u per token; the first kept
 *                                       token whose running weight exceeds u · total (inverse CDF)
 * With no bias or penalty, greedy, temperature alone, top_p / min_p up to the one bucket of log
 * weight their cut falls in, and top_k's candidates near the max are passes of the LogitOps over
 * the logits where they are (the model's SIMD kernels: f32 weights, ~2e-7 relative; see
 * logit-ops.ts); the rest is float64 here. The kept tokens are walked in a deterministic order
 * (ascending id for whole buckets or with no cut-off; otherwise the order select.ts leaves them
 * in), so a seed reproduces its ids given the same logits. Math.exp is not specified bit-exactly
 * by ECMAScript, so cross-engine reproducibility holds for V8 (Workers, Node) rather than for
 * every engine.
 */
export class Sampler {
  private readonly params: SamplingParams;
  private readonly history = new TokenHistory();
  private readonly biasIds: Int32Array; // logit_bias as parallel arrays: no Map iteration per call
  private readonly biasValues: Float64Array;

  constructor(
    params: SamplingParams,
    private readonly rng: Rng,
    readonly vocabSize: number,
    private readonly ops: LogitOps = plainLogitOps,
  ) {
    validateSamplingParams(params, vocabSize);
    this.params = { ...params };
    // A temperature so small that 1/T overflows (below ~5.6e-309) scales the top logit to
    // Infinity and every weight to NaN: it samples as its limit, greedy.
    if (!(1 / params.temperature < Infinity)) this.params.temperature = 0;
    const bias = [...(params.logit_bias ?? [])];
    this.biasIds = Int32Array.from(bias, ([id]) => id);
    this.biasValues = Float64Array.from(bias, ([, b]) => b);
  }

  /** Record the prompt (it counts for the repetition penalty, not presence/frequency). */
  observePrompt(ids: number[]): void {
    for (const id of ids) this.history.addPrompt(this.checkId(id));
  }

  /** Record the token appended to the sequence. */
  observe(id: number): void {
    this.history.addGenerated(this.checkId(id));
  }

  /** The next token id for these logits, (V), which are read but never modified. */
  sample(logits: Float32Array): number {
    const V = this.vocabSize;
    if (logits.length !== V) {
      throw new RangeError(
        `logits has ${logits.length} entries; this sampler's vocabulary is ${V}`,
      );
    }
    const p = this.params;
    const topK = p.top_k > 0 && p.top_k < V;
    if (this.biasIds.length === 0 && !penalises(p)) {
      // Logits nothing adjusts: passes over them where they are, without the (V) copy. Greedy is
      // their own argmax (f32 -> f64 is exact, so it is the id the copy would give).
      if (p.temperature === 0) return this.ops.argmax(logits);
      if (topK) return this.drawTopK(logits);
      return p.min_p === 0 && p.top_p >= 1 ? this.drawAll(logits) : this.drawNucleus(logits);
    }
    scratch(V);
    const x = work;
    for (let i = 0; i < V; i++) x[i] = logits[i];
    applyLogitBias(x, this.biasIds, this.biasValues);
    applyPenalties(x, this.history, p);
    if (p.temperature === 0) return argmaxOf(x, 0, V);

    const invT = 1 / p.temperature;
    if (topK) {
      for (let i = 0; i < V; i++) x[i] *= invT;
      selectTopK(x, V, p.top_k, cand);
      return this.draw(x, p.top_k);
    }
    // No top_k: every token is a candidate, in id order. One pass scales and finds the max, one
    // takes the weights and their sum; no candidate list unless min_p or top_p need one. The
    // same operations in the same order as through draw(), so the same bits (1.2 -> 0.5 ms at
    // V = 50257).
    let max = -Infinity;
    for (let i = 0; i < V; i++) {
      const v = (x[i] *= invT);
      if (v > max) max = v;
    }
    let sum = 0;
    for (let i = 0; i < V; i++) sum += x[i] = Math.exp(x[i] - max);
    if (p.min_p > 0 || p.top_p < 1) {
      for (let i = 0; i < V; i++) cand[i] = i;
      return this.cut(x, V, sum);
    }
    const r = this.rng.nextFloat() * sum;
    let acc = 0;
    for (let i = 0; i < V; i++) {
      acc += x[i];
      if (r < acc) return i;
    }
    for (let i = V - 1; i > 0; i--) if (x[i] > 0) return i;
    return 0;
  }

  /**
   * Temperature alone: every token a candidate, in id order, weight e^((logit - max) / T). Three
   * passes over the logits where they are: the max, the weights' sum, the draw.
   */
  private drawAll(logits: Float32Array): number {
    const invT = 1 / this.params.temperature;
    const top = this.ops.argmax(logits);
    const max = logits[top];
    const sum = this.ops.expSum(logits, max, invT);
    const id = this.ops.expFind(logits, max, invT, this.rng.nextFloat() * sum);
    // -1 only when u · sum rounded up to sum: the most probable token then.
    return id >= 0 ? id : top;
  }

  /**
   * Temperature with top_p or min_p (no top_k, bias or penalty): nucleusOfLogits finds what they
   * keep from expHist's bucket sums, looking at one bucket's tokens only. The draw walks the
   * buckets above the cut in id order (expFind over t > bound), then the cut bucket's kept tokens
   * in nucleusOf's order.
   */
  private drawNucleus(logits: Float32Array): number {
    const p = this.params;
    const invT = 1 / p.temperature;
    const top = this.ops.argmax(logits);
    const max = logits[top];
    scratch(this.vocabSize);
    const w = work;
    const nu = nucleusOfLogits(this.ops, logits, max, invT, p.top_p, p.min_p, cand, w);
    const r = this.rng.nextFloat() * nu.total;
    if (r < nu.above) {
      const id = this.ops.expFind(logits, max, invT, r, nu.bound);
      if (id >= 0) return id;
    }
    let acc = nu.above;
    for (let j = nu.lo; j < nu.n; j++) {
      acc += w[cand[j]];
      if (r < acc) return cand[j];
    }
    // Only when u · total rounded up to total (or the bucket sums and expFind's running sum part
    // in the last bits): the last kept token with any weight, else the top.
    for (let j = nu.n - 1; j >= nu.lo; j--) if (w[cand[j]] > 0) return cand[j];
    return top;
  }

  /**
   * top_k (then top_p and min_p) over logits nothing adjusts: topIdsOf ranks the f32 logits
   * themselves (dividing by T keeps their order, and distinct floats stay distinct in f64, so the
   * same k), from the tokens near the max only, and only those k are scaled, with no (V) copy.
   */
  private drawTopK(logits: Float32Array): number {
    const k = this.params.top_k;
    const invT = 1 / this.params.temperature;
    scratch(this.vocabSize);
    cand.set(topIdsOf(this.ops, logits, k, undefined, false));
    for (let j = 0; j < k; j++) work[cand[j]] = logits[cand[j]] * invT;
    return this.draw(work, k);
  }

  /** Softmax weights of the candidates cand[0..n) (scaled logits in x), then cut and draw. */
  private draw(x: Float64Array, n: number): number {
    // Softmax weights in place: w = exp(x - max) ∈ (0, 1], the top token's exactly 1, so no
    // overflow and no division yet (p = w / sum).
    let max = -Infinity;
    for (let j = 0; j < n; j++) if (x[cand[j]] > max) max = x[cand[j]];
    let sum = 0;
    for (let j = 0; j < n; j++) sum += x[cand[j]] = Math.exp(x[cand[j]] - max);
    return this.cut(x, n, sum);
  }

  /** min_p, then top_p over the weights x of cand[0..n) (their sum: sum), then the draw. */
  private cut(x: Float64Array, n: number, sum: number): number {
    const p = this.params;
    if (p.min_p > 0) {
      // p < min_p · p_max  ⟺  w < min_p, since w = p / p_max. Done before top_p (they commute)
      // so the nucleus heap is smaller; top_p still measures p against the full sum.
      let kept = 0;
      for (let j = 0; j < n; j++) if (x[cand[j]] >= p.min_p) cand[kept++] = cand[j];
      n = kept;
    }
    let lo = 0;
    if (p.top_p < 1) lo = nucleusOf(x, cand, n, p.top_p * sum); // Σ p ≥ top_p ⟺ Σ w ≥ top_p · sum

    let total = 0;
    for (let j = lo; j < n; j++) total += x[cand[j]];
    const r = this.rng.nextFloat() * total;
    let acc = 0;
    for (let j = lo; j < n; j++) {
      acc += x[cand[j]];
      if (r < acc) return cand[j];
    }
    // Only when u · total rounded up to total: the last kept token with any weight.
    for (let j = n - 1; j > lo; j--) if (x[cand[j]] > 0) return cand[j];
    return cand[lo];
  }

  private checkId(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`token id ${id} outside the vocabulary [0, ${this.vocabSize})`);
    }
    return id;
  }
}
