// parseCompletionParams: OpenAI's Completions request body into typed parameters, in plain
// Node. Defaults, the four prompt forms, nulls as "not given", caps, and 400s naming the field.

import { describe, expect, it } from "vitest";
import { parseCompletionParams } from "../../src/routes/completion-params.js";
import { ApiError } from "../../src/routes/errors.js";
import { OPTIONAL_FIELDS } from "../helpers/completion-fields.js";

const caps = { maxN: 8, maxTokens: 100, maxChoices: 16 };
const parse = (body: Record<string, unknown>) =>
  parseCompletionParams({ model: "m", ...body }, caps);

function rejects(body: unknown): ApiError {
  try {
    parseCompletionParams(body, caps);
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error(`accepted ${JSON.stringify(body)}`);
}

describe("parseCompletionParams", () => {
  it("Should apply OpenAI's defaults when only model is given", () => {
    expect(parse({})).toEqual({
      model: "m",
      prompts: [{ text: "" }],
      maxTokens: null,
      temperature: 1,
      top_p: 1,
      top_k: 0,
      min_p: 0,
      n: 1,
      bestOf: 1,
      stream: false,
      includeUsage: false,
      logprobs: null,
      echo: false,
      ignoreEos: false,
      stop: [],
      presence_penalty: 0,
      frequency_penalty: 0,
      repetition_penalty: 1,
      logitBias: null,
      seed: null,
    });
  });

  it("Should treat null like an absent field, as clients that send every key expect", () => {
    const keys = OPTIONAL_FIELDS;
    expect(parse(Object.fromEntries(keys.map((k) => [k, null])))).toEqual(parse({}));
  });

  it("Should accept the four prompt forms", () => {
    expect(parse({ prompt: "hi" }).prompts).toEqual([{ text: "hi" }]);
    expect(parse({ prompt: ["a", "b"] }).prompts).toEqual([{ text: "a" }, { text: "b" }]);
    expect(parse({ prompt: [1, 2, 3] }).prompts).toEqual([{ ids: [1, 2, 3] }]);
    expect(parse({ prompt: [[1], [2, 3]] }).prompts).toEqual([{ ids: [1] }, { ids: [2, 3] }]);
  });

  it("Should reject malformed prompts with param prompt", () => {
    for (const prompt of [5, {}, [], [[]], [1, "a"], [1.5], [[1], "a"], [true]]) {
      expect(rejects({ model: "m", prompt }).param).toBe("prompt");
    }
  });

  it("Should take logprobs 0 as 'the chosen token only' and false/null as none", () => {
    expect(parse({ logprobs: 0 }).logprobs).toBe(0);
    expect(parse({ logprobs: 5 }).logprobs).toBe(5);
    expect(parse({ logprobs: false }).logprobs).toBeNull();
    expect(parse({ logprobs: null }).logprobs).toBeNull();
    expect(rejects({ model: "m", logprobs: 6 })).toMatchObject({
      param: "logprobs",
      code: "integer_above_max_value",
    });
  });

  it("Should take stop as a string or up to 16, ignoring empty strings", () => {
    expect(parse({ stop: "\n" }).stop).toEqual(["\n"]);
    expect(parse({ stop: ["a", "", "b"] }).stop).toEqual(["a", "b"]);
    expect(parse({ stop: [] }).stop).toEqual([]);
    // lm-eval's local-completions sends a task's stops plus the EOS string: 9 for humaneval.
    const many = Array.from({ length: 16 }, (_, i) => `s${i}`);
    expect(parse({ stop: many }).stop).toEqual(many);
    const e = rejects({ model: "m", stop: [...many, "one more"] });
    expect(e.param).toBe("stop");
    expect(e.message).toContain("at most 16 stop sequences");
  });

  it("Should parse logit_bias keys as token ids and seeds as 64-bit integers", () => {
    expect(parse({ logit_bias: { "50256": -100, "7": 2.5 } }).logitBias).toEqual(
      new Map([
        [50256, -100],
        [7, 2.5],
      ]),
    );
    expect(parse({ seed: -1 }).seed).toBe(-1n);
    expect(rejects({ model: "m", logit_bias: { "-1": 1 } }).param).toBe("logit_bias");
  });

  it("Should enforce the caps on n, max_tokens and prompts × best_of", () => {
    expect(rejects({ model: "m", n: 9 })).toMatchObject({
      param: "n",
      code: "integer_above_max_value",
    });
    expect(rejects({ model: "m", max_tokens: 101 }).param).toBe("max_tokens");
    expect(rejects({ model: "m", prompt: ["a", "b", "c"], n: 6 }).param).toBe("prompt");
    expect(parse({ prompt: ["a", "b"], n: 8 }).n).toBe(8);
  });

  it("Should allow best_of ≥ n, default it to n, and refuse it with streaming", () => {
    expect(parse({ n: 3 }).bestOf).toBe(3);
    expect(parse({ n: 2, best_of: 4 }).bestOf).toBe(4);
    expect(rejects({ model: "m", n: 3, best_of: 2 }).param).toBe("best_of");
    expect(rejects({ model: "m", best_of: 2, stream: true }).param).toBe("best_of");
    expect(parse({ n: 2, best_of: 2, stream: true }).stream).toBe(true);
  });

  it("Should accept stream_options only with stream, reading include_usage", () => {
    expect(parse({ stream: true, stream_options: { include_usage: true } }).includeUsage).toBe(
      true,
    );
    expect(parse({ stream: true, stream_options: {} }).includeUsage).toBe(false);
    expect(rejects({ model: "m", stream_options: { include_usage: true } }).param).toBe(
      "stream_options",
    );
  });

  it("Should name the field of every range error", () => {
    const cases: [string, unknown][] = [
      ["temperature", 2.01],
      ["top_p", -0.1],
      ["presence_penalty", 2.1],
      ["frequency_penalty", -2.1],
      ["top_k", 1.5],
      ["min_p", 1.1],
      ["repetition_penalty", 0],
      ["n", 0],
      ["max_tokens", -1],
      ["echo", "true"],
      ["suffix", "x"],
      ["user", 1],
      ["seed", 0.5],
    ];
    for (const [param, value] of cases) {
      const e = rejects({ model: "m", [param]: value });
      expect(e).toMatchObject({ status: 400, param, type: "invalid_request_error" });
    }
  });

  it("Should reject a body that is not an object, or has no model", () => {
    for (const body of [null, [], "x", 3]) expect(rejects(body).param).toBe("body");
    expect(rejects({ prompt: "x" }).param).toBe("model");
    expect(rejects({ model: "" }).param).toBe("model");
  });

  it("Should keep every message short, whatever the value it echoes", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 500_000; i++) deep = [deep];
    const wide = Object.fromEntries(
      Array.from({ length: 1000 }, (_, i) => [`k${i}`, "v".repeat(999)]),
    );
    const cases: [string, unknown][] = [
      ["n", deep],
      ["n", wide],
      ["temperature", "x".repeat(100_000)],
      ["prompt", deep],
      ["stop", [deep]],
      ["logit_bias", { ["a".repeat(100_000)]: 1 }],
    ];
    for (const [param, value] of cases) {
      const e = rejects({ model: "m", [param]: value });
      expect(e.param).toBe(param);
      expect(e.message.length).toBeLessThan(200);
    }
    expect(rejects({ model: "m", n: deep }).message).toMatch(
      /^Invalid 'n': expected an integer, got \[\[\[/,
    );
  });

  it("Should say a number overflowed (JSON 1e400 parses to Infinity), not 'got null'", () => {
    const body = JSON.parse('{"model": "m", "max_tokens": 1e400, "top_p": -1e400}');
    expect(rejects(body).message).toBe(
      "Invalid 'max_tokens': expected an integer, got Infinity (a number too large for a 64-bit float).",
    );
    expect(rejects({ ...body, max_tokens: 1 }).message).toMatch(/'top_p'.*-Infinity/);
  });

  it("Should refuse arrays where an object is expected", () => {
    expect(rejects({ model: "m", logit_bias: [5] }).param).toBe("logit_bias");
    expect(rejects({ model: "m", stream: true, stream_options: [] }).message).toBe(
      "Invalid 'stream_options': expected an object.",
    );
  });
});
