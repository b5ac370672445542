// One generation in flight: its prompt, the tokens sampled so far, where it stands in its KV
// slot, and the events produced for the request that owns it. Owned by exactly one request;
// the engine writes to it only inside a step.

import {
  Sampler,
  logprobsOf,
  plainLogitOps,
  type LogitOps,
  type SamplingParams,
  Rng,
} from "../sampler/index.js";

export type FinishReason = "stop" | "length";

export interface GenerationRequest {
  /** Prompt token ids, at least one (an empty prompt is [eot]). */
  prompt: number[];
  /** Tokens to generate; 0 only scores the prompt. */
  maxTokens: number;
  sampling: SamplingParams;
  seed: bigint;
  /**
   * Token ids that end the generation (usually <|endoftext|>): emitted as an `end` event (it
   * was sampled: counted, and scored in logprobs), never as text.
   */
  stopTokens: ReadonlySet<number>;
  /** Top-n logprobs per generated token (0 = only the sampled token's logprob), or null for none. */
  logprobs: number | null;
  /** Also score the prompt: logprob of every prompt token after the first. */
  echoLogprobs: boolean;
}

export interface TopLogprob {
  id: number;
  logprob: number;
}

/** A token the model produced (or, with echoLogprobs, a prompt token it scored). */
export interface TokenEvent {
  id: number;
  prompt: boolean;
  logprob: number | null;
  top: TopLogprob[] | null;
  /** A stop token that ended the generation: it has a logprob entry, but no text. */
  end?: true;
}

let nextId = 1;

export class Sequence {
  readonly id = nextId++;
  slot = -1;
  /** Tokens whose keys and values are in the slot's cache (positions 0..pos-1). */
  pos = 0;
  /** Tokens handed to a forward pass (pos.. are in flight, a pipelined model's). */
  sent = 0;
  /** Forward passes in flight holding rows of this sequence: its slot stays taken meanwhile. */
  inflight = 0;
  /**
   * When its rows last went into a step, as the engine counts sequences put into steps (0: not
   * yet): of the sequences ready to decode, the lowest go first.
   */
  served = 0;
  /** Prompt followed by generated tokens. */
  readonly tokens: number[];
  generated = 0;
  finish: FinishReason | null = null;
  cancelled = false;
  error: Error | null = null;
  /** Engine steps this sequence's events have waited for its driver (see Engine.expireUnread). */
  unreadSteps = 0;
  readonly events: TokenEvent[] = [];
  private readonly sampler: Sampler;

  constructor(
    readonly req: GenerationRequest,
    vocabSize: number,
    /** The passes over logits (the model's kernels, for logits in its memory). */
    private readonly ops: LogitOps = plainLogitOps,
  ) {
    this.tokens = req.prompt.slice();
    this.sampler = new Sampler(req.sampling, new Rng(req.seed), vocabSize, ops);
    this.sampler.observePrompt(req.prompt);
    if (req.echoLogprobs) {
      this.events.push({ id: req.prompt[0], prompt: true, logprob: null, top: null });
    }
    // Nothing to compute: no tokens wanted and no prompt token after the first to score.
    if (req.maxTokens === 0 && (!req.echoLogprobs || req.prompt.length === 1)) {
      this.finish = "length";
    }
  }

  get done(): boolean {
    return this.finish !== null || this.cancelled || this.error !== null;
  }

  get prefilling(): boolean {
    return this.pos < this.req.prompt.length;
  }

  /** Whether the logits at absolute position p are needed. */
  wantsLogits(p: number): boolean {
    const P = this.req.prompt.length;
    if (p < P - 1) return this.req.echoLogprobs;
    return p === this.tokens.length - 1 && this.req.maxTokens > 0;
  }

  /** Handle the logits at absolute position p: score the next prompt token, or sample one. */
  onLogits(p: number, logits: Float32Array): void {
    const P = this.req.prompt.length;
    const topN = this.req.logprobs ?? 0;
    if (p < P - 1) {
      const next = this.req.prompt[p + 1];
      const lp = logprobsOf(logits, next, topN, this.ops);
      this.events.push({ id: next, prompt: true, logprob: lp.logprob, top: withToken(lp, next) });
      if (p === P - 2 && this.req.maxTokens === 0) this.finish = "length";
      return;
    }
    const id = this.sampler.sample(logits);
    let event: TokenEvent = { id, prompt: false, logprob: null, top: null };
    if (this.req.logprobs !== null) {
      const lp = logprobsOf(logits, id, topN, this.ops);
      event = { ...event, logprob: lp.logprob, top: withToken(lp, id) };
    }
    this.generated++;
    if (this.req.stopTokens.has(id)) {
      // Its entry closes the logprobs arrays (lm-eval's scoring reads the last entry as the
      // generated token's; OpenAI and vLLM list it too); it is not added to the sequence.
      this.events.push({ ...event, end: true });
      this.finish = "stop";
      return;
    }
    this.sampler.observe(id);
    this.tokens.push(id);
    this.events.push(event);
    if (this.generated >= this.req.maxTokens) this.finish = "length";
  }

  /** Take the events produced since the last call. */
  drain(): TokenEvent[] {
    this.unreadSteps = 0;
    return this.events.splice(0, this.events.length);
  }
}

/** OpenAI lists the top alternatives plus the chosen (or scored) token itself. */
function withToken(lp: { logprob: number; top: TopLogprob[] }, id: number): TopLogprob[] {
  return lp.top.some((t) => t.id === id) ? lp.top : [...lp.top, { id, logprob: lp.logprob }];
}
