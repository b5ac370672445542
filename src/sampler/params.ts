// Sampling parameters of one sequence: OpenAI's fields plus the common extensions top_k, min_p
// and repetition_penalty; their neutral values; validation whose errors name the field.

export interface SamplingParams {
  temperature: number; // 0 = greedy (argmax; ties → lowest id), else logits / temperature
  top_k: number; // 0 (or ≥ V) = off; keep the k most probable tokens
  top_p: number; // 1 = off; keep the smallest most-probable set with cumulative prob ≥ top_p (≥ 1 token)
  min_p: number; // 0 = off; drop tokens with p < min_p · p_max
  presence_penalty: number; // OpenAI: logit[j] -= presence · (count[j] > 0), generated tokens only
  frequency_penalty: number; // OpenAI: logit[j] -= frequency · count[j], generated tokens only
  repetition_penalty: number; // 1 = off; CTRL/HF: logit > 0 ? logit / rp : logit · rp, prompt + generated
  logit_bias: Map<number, number> | null; // token id → value added to its logit before everything
}

/** OpenAI's defaults: plain sampling at temperature 1, every cut-off and penalty off. */
export function defaultSamplingParams(): SamplingParams {
  return {
    temperature: 1,
    top_k: 0,
    top_p: 1,
    min_p: 0,
    presence_penalty: 0,
    frequency_penalty: 0,
    repetition_penalty: 1,
    logit_bias: null,
  };
}

/** A parameter outside its domain; `param` is the field name, for OpenAI's error shape. */
export class SamplingParamError extends RangeError {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
    this.name = "SamplingParamError";
  }
}

/** Throws SamplingParamError unless every field is in its domain for a vocabulary of V tokens. */
export function validateSamplingParams(p: SamplingParams, V: number): void {
  const fail = (param: string, rule: string, value: unknown) => {
    throw new SamplingParamError(param, `Invalid '${param}': ${rule}, got ${value}.`);
  };
  const finite = (param: keyof SamplingParams) => {
    if (!Number.isFinite(p[param])) fail(param, "expected a finite number", p[param]);
  };
  (["temperature", "top_p", "min_p", "presence_penalty", "frequency_penalty"] as const).forEach(
    finite,
  );
  finite("repetition_penalty");
  if (p.temperature < 0) fail("temperature", "expected a number ≥ 0 (0 = greedy)", p.temperature);
  if (!Number.isInteger(p.top_k) || p.top_k < 0) fail("top_k", "expected an integer ≥ 0", p.top_k);
  if (p.top_p < 0 || p.top_p > 1) fail("top_p", "expected a number in [0, 1]", p.top_p);
  if (p.min_p < 0 || p.min_p > 1) fail("min_p", "expected a number in [0, 1]", p.min_p);
  if (p.repetition_penalty <= 0) {
    fail("repetition_penalty", "expected a number > 0 (1 = off)", p.repetition_penalty);
  }
  for (const [id, bias] of p.logit_bias ?? []) {
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      fail("logit_bias", `token ids must be integers in [0, ${V})`, id);
    }
    if (!Number.isFinite(bias)) fail("logit_bias", `the bias of token ${id} must be finite`, bias);
  }
}
