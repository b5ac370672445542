// POST /v1/completions at the wire level inside workerd: the SSE format, choice indices with n
// and several prompts, streaming = non-streaming for a seed, stop sequences held back while
// streaming, echo scoring as lm-evaluation-harness uses it, logprob consistency, best_of, usage.

import { beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../src/model/manifest.js";
import { stepsPerWrite } from "../../src/routes/write-batch.js";
import { MODEL, postRaw, seedModel } from "./seed.js";
import { OPTIONAL_FIELDS } from "../helpers/completion-fields.js";

const EOT = 2047;

async function complete(body: Record<string, unknown>) {
  const res = await postRaw("/v1/completions", { model: MODEL, ...body });
  const json = (await res.json()) as any;
  expect(res.status, JSON.stringify(json)).toBe(200);
  return json;
}

/** The raw SSE text and its data payloads (JSON-parsed, except the final [DONE]). */
async function stream(body: Record<string, unknown>) {
  const res = await postRaw("/v1/completions", { model: MODEL, stream: true, ...body });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const raw = await res.text();
  const data = raw
    .split("\n\n")
    .filter(Boolean)
    .map((ev) => ev.replace(/^data: /, ""));
  expect(data.at(-1)).toBe("[DONE]");
  return { raw, chunks: data.slice(0, -1).map((d) => JSON.parse(d)) };
}

/** Per choice index: concatenated text, finish reasons seen, concatenated logprobs. */
function collect(chunks: any[]) {
  const by = new Map<number, { text: string; finishes: unknown[]; lp: any }>();
  for (const ch of chunks) {
    for (const c of ch.choices) {
      const e = by.get(c.index) ?? { text: "", finishes: [], lp: null };
      e.text += c.text;
      if (c.finish_reason) e.finishes.push(c.finish_reason);
      if (c.logprobs) {
        e.lp ??= { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
        for (const k of Object.keys(e.lp)) e.lp[k].push(...c.logprobs[k]);
      }
      by.set(c.index, e);
    }
  }
  return by;
}

async function tokenize(prompt: string): Promise<number[]> {
  const res = await postRaw("/v1/tokenize", { model: MODEL, prompt });
  return ((await res.json()) as { tokens: number[] }).tokens;
}

beforeAll(async () => {
  await seedModel();
});

describe("Streaming", () => {
  it("Should send data-only events ending in data: [DONE], with no event: lines", async () => {
    const { raw, chunks } = await stream({ prompt: "ROMEO:", max_tokens: 5 });
    expect(raw).not.toMatch(/^event:/m);
    expect(
      raw
        .split("\n\n")
        .filter(Boolean)
        .every((ev) => ev.startsWith("data: ")),
    ).toBe(true);
    expect(raw.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(chunks.every((c) => !("usage" in c))).toBe(true); // no include_usage: no usage key
    expect(chunks.at(-1).choices[0].finish_reason).toBe("length");
  });

  it("Should send the first token at once and a small model's later tokens a few per write", async () => {
    // The tiny model's token costs ~7 MFLOP: its events share writes (src/routes/write-batch.ts).
    const { files } = await seedModel();
    const manifest = JSON.parse(
      new TextDecoder().decode(files.find((f) => f.file === "manifest.json")!.bytes),
    ) as Manifest;
    const every = stepsPerWrite(manifest.config);
    expect(every).toBeGreaterThan(1);
    const res = await postRaw("/v1/completions", {
      model: MODEL,
      prompt: "ROMEO:",
      max_tokens: 40,
      ignore_eos: true,
      temperature: 0,
      stream: true,
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const writes: string[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      writes.push(decoder.decode(r.value, { stream: true }));
    }
    const events = (w: string) => w.split("\n\n").filter(Boolean).length;
    expect(writes.map(events).reduce((a, b) => a + b)).toBe(41); // 40 tokens and [DONE]
    expect(events(writes[0])).toBe(1); // the first token alone
    for (const w of writes) expect(w.endsWith("\n\n")).toBe(true); // whole events per write
    // then `every` token events per write, the last write with the rest and [DONE]
    expect(writes.slice(1, -1).map(events)).toEqual(Array(Math.ceil(39 / every) - 1).fill(every));
  });

  it("Should number choices prompt·n + j with n = 2 and two prompts, one finish each", async () => {
    const body = { prompt: ["ROMEO:", "JULIET:"], n: 2, max_tokens: 8, seed: 5 };
    const { chunks } = await stream(body);
    const by = collect(chunks);
    expect([...by.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const e of by.values()) expect(e.finishes).toHaveLength(1);
    const whole = await complete(body);
    expect(whole.choices.map((c: any) => c.index)).toEqual([0, 1, 2, 3]);
    for (const c of whole.choices) expect(by.get(c.index)!.text).toBe(c.text);
  });

  it("Should give a seeded prompt the same choices alone as in a list, wherever it is", async () => {
    const req = { max_tokens: 12, seed: 42, n: 2, temperature: 1.2 };
    const alone = await complete({ ...req, prompt: "ROMEO:" });
    const listed = await complete({ ...req, prompt: ["JULIET:", "KING:", "ROMEO:"] });
    expect(listed.choices.slice(4).map((c: any) => c.text)).toEqual(
      alone.choices.map((c: any) => c.text),
    );
    expect(alone.choices[0].text).not.toBe(alone.choices[1].text); // n still differ
  });

  it("Should stream the same text and logprobs as the non-streamed request with the same seed", async () => {
    const body = { prompt: "KING RICHARD:", max_tokens: 30, seed: 11, top_p: 0.9, logprobs: 3 };
    const { chunks } = await stream(body);
    const whole = await complete(body);
    const got = collect(chunks).get(0)!;
    expect(got.text).toBe(whole.choices[0].text);
    expect(got.lp).toEqual(whole.choices[0].logprobs);
  });

  it("Should hold back text that may start a stop sequence and never send the stop", async () => {
    const req = { prompt: "First Citizen:\n", max_tokens: 60, temperature: 0, logprobs: 0 };
    const free = (await complete(req)).choices[0];
    const { tokens, text_offset } = free.logprobs;
    // A two-character stop straddling a token boundary, first occurring there.
    let stop = "";
    for (let i = 0; i + 1 < tokens.length && !stop; i++) {
      const s = (tokens[i].at(-1) ?? "") + (tokens[i + 1][0] ?? "");
      if (s.length === 2 && free.text.indexOf(s) === text_offset[i + 1] - 1) stop = s;
    }
    expect(stop).not.toBe("");
    const want = free.text.slice(0, free.text.indexOf(stop));
    const { chunks } = await stream({ ...req, stop });
    const got = collect(chunks).get(0)!;
    expect(got.text).toBe(want);
    expect(got.finishes).toEqual(["stop"]);
    const whole = await complete({ ...req, stop });
    expect(whole.choices[0].text).toBe(want);
    expect(got.lp).toEqual(whole.choices[0].logprobs);
    // The token whose text the stop cut keeps its entry; the one after it is gone.
    expect(whole.choices[0].logprobs.tokens.join("").startsWith(want)).toBe(true);
  });

  it("Should put the echoed prompt in the first chunk", async () => {
    const { chunks } = await stream({ prompt: "ROMEO:", max_tokens: 3, echo: true });
    expect(chunks[0].choices[0].text.startsWith("ROMEO:")).toBe(true);
  });
});

describe("Echo and logprobs", () => {
  it("Should score token-array prompts with max_tokens 0 (lm-eval loglikelihood)", async () => {
    const a = await tokenize("To be, or not to be");
    const b = await tokenize("Now is the winter");
    const r = await complete({
      prompt: [a, b],
      max_tokens: 0,
      echo: true,
      logprobs: 1,
      temperature: 0,
    });
    expect(r.choices).toHaveLength(2);
    expect(r.usage.completion_tokens).toBe(0);
    for (const [i, ids] of [a, b].entries()) {
      const c = r.choices[i];
      expect(c.index).toBe(i);
      expect(c.text).toBe(i === 0 ? "To be, or not to be" : "Now is the winter");
      expect(c.finish_reason).toBe("length");
      const lp = c.logprobs;
      expect(lp.tokens).toHaveLength(ids.length);
      expect(lp.token_logprobs[0]).toBeNull();
      expect(lp.top_logprobs[0]).toBeNull();
      for (let t = 1; t < ids.length; t++) {
        expect(lp.token_logprobs[t]).toBeLessThan(0);
        expect(lp.top_logprobs[t]).toBeTypeOf("object");
        expect(lp.top_logprobs[t][lp.tokens[t]]).toBe(lp.token_logprobs[t]);
      }
    }
  });

  it("Should add one generated token with max_tokens 1 and echo, scored like the prompt", async () => {
    const ctx = await tokenize("ROMEO:\nI");
    const cont = await tokenize(" will not");
    const req = { echo: true, logprobs: 1, temperature: 0, seed: 1234 };
    const scored = await complete({ ...req, prompt: [[...ctx, ...cont]], max_tokens: 0 });
    const r = await complete({ ...req, prompt: [[...ctx, ...cont]], max_tokens: 1 });
    const lp = r.choices[0].logprobs;
    const n = ctx.length + cont.length;
    expect(lp.tokens).toHaveLength(n + 1);
    // lm-eval reads token_logprobs[ctxlen:-1] and max(top_logprobs[i].values())
    const want = scored.choices[0].logprobs.token_logprobs.slice(ctx.length);
    expect(lp.token_logprobs.slice(ctx.length, -1)).toEqual(want);
    const greedy = Math.max(...(Object.values(lp.top_logprobs.at(-1)) as number[]));
    expect(lp.token_logprobs.at(-1)).toBe(greedy);
  });

  it("Should give echo logprobs equal to a greedy generation's logprobs of the same tokens", async () => {
    const prompt = await tokenize("MENENIUS:\n");
    const gen = await complete({ prompt: [prompt], max_tokens: 24, temperature: 0, logprobs: 3 });
    const g = gen.choices[0].logprobs;
    const ids = [...prompt];
    for (const s of g.tokens as string[]) ids.push(...(await tokenize(s)));
    expect(ids.length).toBe(prompt.length + g.tokens.length); // each token re-encodes to itself
    // Sampling settings must not change logprobs: they are of the raw (temperature-free) model.
    const echo = await complete({
      prompt: [ids],
      max_tokens: 0,
      echo: true,
      logprobs: 3,
      temperature: 1.7,
      top_k: 3,
    });
    const e = echo.choices[0].logprobs;
    const tail = (a: unknown[]) => a.slice(prompt.length);
    for (let i = 0; i < g.tokens.length; i++) {
      expect(tail(e.tokens)[i]).toBe(g.tokens[i]);
      expect(tail(e.token_logprobs)[i]).toBeCloseTo(g.token_logprobs[i], 4);
      const want = g.top_logprobs[i];
      const got = tail(e.top_logprobs)[i] as Record<string, number>;
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      for (const k of Object.keys(want)) expect(got[k]).toBeCloseTo(want[k], 4);
      // Greedy picked the most probable token: the largest of its top_logprobs.
      expect(g.token_logprobs[i]).toBe(Math.max(...(Object.values(want) as number[])));
    }
    // The top alternatives of a real distribution cannot hold more than all the mass.
    for (const top of tail(e.top_logprobs) as Record<string, number>[]) {
      const mass = Object.values(top).reduce((s, x) => s + Math.exp(x), 0);
      expect(mass).toBeLessThanOrEqual(1 + 1e-6);
    }
  });

  it("Should give only the chosen token in top_logprobs with logprobs 0, and null without", async () => {
    const zero = await complete({ prompt: "ROMEO:", max_tokens: 6, logprobs: 0, seed: 2 });
    const lp = zero.choices[0].logprobs;
    expect(lp.tokens).toHaveLength(6);
    lp.top_logprobs.forEach((top: Record<string, number>, i: number) => {
      expect(top).toEqual({ [lp.tokens[i]]: lp.token_logprobs[i] });
    });
    expect(lp.text_offset[0]).toBe(0);
    const none = await complete({ prompt: "ROMEO:", max_tokens: 6, logprobs: null, seed: 2 });
    expect(none.choices[0].logprobs).toBeNull();
    expect(none.choices[0].text).toBe(zero.choices[0].text);
  });

  it("Should measure text_offset from the start of the returned text", async () => {
    const r = await complete({
      prompt: "ROMEO:",
      max_tokens: 10,
      logprobs: 1,
      echo: true,
      seed: 9,
    });
    const { text, logprobs: lp } = r.choices[0];
    expect(lp.text_offset[0]).toBe(0);
    lp.tokens.forEach((t: string, i: number) => {
      expect(text.slice(lp.text_offset[i], lp.text_offset[i] + t.length)).toBe(t);
    });
  });
});

describe("best_of and usage", () => {
  it("Should name tokens that are parts of a character by their bytes, as OpenAI does", async () => {
    const prompt = "café — ü";
    const r = await complete({ prompt, max_tokens: 0, echo: true, logprobs: 3 });
    const lp = r.choices[0].logprobs;
    const partial = lp.tokens.filter((t: string) => t.startsWith("bytes:"));
    expect(partial.length).toBeGreaterThan(0); // precondition: the vocabulary splits these
    for (const t of lp.tokens) expect(t).not.toContain("\ufffd");
    // The names give the prompt's bytes back, in order.
    const bytes = lp.tokens.flatMap((t: string) =>
      t.startsWith("bytes:")
        ? t
            .slice(6)
            .split("\\x")
            .slice(1)
            .map((h) => parseInt(h, 16))
        : [...new TextEncoder().encode(t)],
    );
    expect(new TextDecoder().decode(new Uint8Array(bytes))).toBe(prompt);
    // Each top_logprobs dict has its logprobs + 1 alternatives (fewer only where the chosen
    // token is among them), none lost to a shared name.
    for (const top of lp.top_logprobs.slice(1)) {
      expect(Object.keys(top).length).toBeGreaterThanOrEqual(3);
    }
  });

  it("Should rank best_of candidates by their generated tokens only, not the echoed prompt", async () => {
    const req = {
      prompt: "ROMEO:\nWhat say you, my lord?",
      max_tokens: 30,
      stop: ["\n"],
      logprobs: 0,
      echo: true,
      seed: 19, // found by search: candidates of different lengths that rank differently
    };
    const all = await complete({ ...req, n: 3 }); // the same three candidates best_of draws
    const P = all.usage.prompt_tokens;
    const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
    const scores = all.choices.map((c: any) => mean(c.logprobs.token_logprobs.slice(P)));
    const withPrompt = all.choices.map((c: any) => mean(c.logprobs.token_logprobs.slice(1)));
    const best = scores.indexOf(Math.max(...scores));
    // Precondition: these candidates tell the two scorings apart.
    expect(withPrompt.indexOf(Math.max(...withPrompt))).not.toBe(best);
    const r = await complete({ ...req, n: 1, best_of: 3 });
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0].index).toBe(0);
    expect(r.choices[0].text).toBe(all.choices[best].text);
    expect(r.usage.completion_tokens).toBe(all.usage.completion_tokens); // all 3 were generated
  });

  it("Should count and score a final <|endoftext|>, and leave it out of the text", async () => {
    const req = { prompt: "ROMEO:", max_tokens: 10, logit_bias: { [EOT]: 100 }, logprobs: 0 };
    const r = await complete(req);
    expect(r.choices[0]).toMatchObject({ text: "", finish_reason: "stop" });
    const lp = r.choices[0].logprobs;
    expect(lp.tokens).toEqual(["<|endoftext|>"]);
    expect(lp.text_offset).toEqual([0]);
    expect(lp.token_logprobs[0]).toBeLessThan(0); // the raw logits' logprob: the bias is not in it
    expect(Object.keys(lp.top_logprobs[0])).toEqual(["<|endoftext|>"]);
    expect(r.usage.completion_tokens).toBe(1);
    // Streamed: the entry comes with the final chunk, the same numbers.
    const { chunks } = await stream({ ...req, stream_options: { include_usage: true } });
    const got = collect(chunks).get(0)!;
    expect(got).toMatchObject({ text: "", finishes: ["stop"] });
    expect(got.lp).toEqual(lp);
    expect(chunks.at(-1).usage.completion_tokens).toBe(1);
  });

  it("Should end lm-eval's echo + max_tokens 1 arrays with the generated token, <|endoftext|> too", async () => {
    // lm-eval scores a continuation with token_logprobs[ctxlen:-1]: the last entry must be the
    // generated token's, whichever token it is.
    const ctx = await tokenize("ROMEO:\nI");
    const cont = await tokenize(" will not");
    const req = { echo: true, logprobs: 1, temperature: 0, max_tokens: 1 };
    const prompt = [[...ctx, ...cont]];
    const scored = await complete({ ...req, prompt, max_tokens: 0 });
    const r = await complete({ ...req, prompt, logit_bias: { [EOT]: 100 } });
    const lp = r.choices[0].logprobs;
    expect(lp.tokens).toHaveLength(ctx.length + cont.length + 1);
    expect(lp.tokens.at(-1)).toBe("<|endoftext|>");
    expect(lp.text_offset.at(-1)).toBe(r.choices[0].text.length);
    const want = scored.choices[0].logprobs.token_logprobs.slice(ctx.length);
    expect(lp.token_logprobs.slice(ctx.length, -1)).toEqual(want);
    expect(r.choices[0].text).toBe(scored.choices[0].text);
  });

  it("Should generate past <|endoftext|> with ignore_eos until max_tokens", async () => {
    const req = { prompt: "ROMEO:", max_tokens: 10, logit_bias: { [EOT]: 100 }, logprobs: 0 };
    const r = await complete({ ...req, ignore_eos: true });
    expect(r.choices[0].finish_reason).toBe("length");
    expect(r.usage.completion_tokens).toBe(10);
    expect(r.choices[0].logprobs.tokens).toHaveLength(10);
  });

  it("Should count generated tokens up to the stop, the same streamed or not", async () => {
    const req = { prompt: "ROMEO:", max_tokens: 40, stop: ["\n"], seed: 4, n: 3 };
    const whole = await complete(req);
    const { chunks } = await stream({ ...req, stream_options: { include_usage: true } });
    expect(chunks.at(-1).usage).toEqual(whole.usage);
    expect(whole.usage.completion_tokens).toBeLessThan(120);
  });

  it("Should return empty text for max_tokens 0 without echo", async () => {
    const r = await complete({ prompt: "ROMEO:", max_tokens: 0 });
    expect(r.choices[0]).toMatchObject({ text: "", finish_reason: "length", logprobs: null });
    expect(r.usage).toEqual({ prompt_tokens: 2, completion_tokens: 0, total_tokens: 2 });
  });

  it("Should accept null for every optional field, as some clients send", async () => {
    const nulls = Object.fromEntries(
      OPTIONAL_FIELDS.filter((k) => k !== "prompt").map((k) => [k, null]),
    );
    const r = await complete({ ...nulls, prompt: "ROMEO:" });
    expect(r.usage.completion_tokens).toBeLessThanOrEqual(16);
  });

  it("Should apply presence, frequency and repetition penalties and min_p without error", async () => {
    const r = await complete({
      prompt: "ROMEO:",
      max_tokens: 20,
      presence_penalty: 1.5,
      frequency_penalty: -0.5,
      repetition_penalty: 1.3,
      min_p: 0.05,
      top_k: 40,
      user: "someone",
      seed: 1,
    });
    expect(r.choices[0].text.length).toBeGreaterThan(0);
  });
});
