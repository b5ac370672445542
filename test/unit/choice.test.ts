// ChoiceBuilder with the default model's real tokenizer: streamed text never splits a character
// or leaks a stop sequence, stop sequences are searched in the completion only, and the logprobs
// arrays (prompt scores, offsets, top entries) line up with the returned text.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { TokenEvent } from "../../src/engine/sequence.js";
import { ChoiceBuilder } from "../../src/completion/choice.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { FIXTURE_DIR } from "../setup/paths.js";

let tok: Tokenizer;

beforeAll(() => {
  tok = Tokenizer.fromBytes(new Uint8Array(readFileSync(join(FIXTURE_DIR, "tokenizer.bin"))));
});

/** Generated-token events for text, each with logprob -1 (and itself as the only top entry). */
const gen = (text: string, logprob = -1): TokenEvent[] =>
  tok.encode(text).map((id) => ({ id, prompt: false, logprob, top: [{ id, logprob }] }));

/** Scored prompt events: the first has no logprob, the rest -0.5 with an empty top list. */
const scored = (text: string): TokenEvent[] =>
  tok.encode(text).map((id, i) => ({
    id,
    prompt: true,
    logprob: i ? -0.5 : null,
    top: i ? [] : null,
  }));

/** Push one event at a time, collecting what takeDelta(false) releases, then the final delta. */
function streamAll(b: ChoiceBuilder, events: TokenEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (b.push([e])) break;
    out.push(b.takeDelta(false).text);
  }
  b.finish();
  out.push(b.takeDelta(true).text);
  return out.filter(Boolean);
}

describe("ChoiceBuilder", () => {
  it("Should stream multi-byte characters whole, and the pieces add up to the text", () => {
    const text = " café ☃ naïve — 🎭 done";
    expect(tok.encode(text).length).toBeGreaterThan([...text].length / 2);
    const b = new ChoiceBuilder(tok, [], false, null);
    const pieces = streamAll(b, gen(text));
    expect(pieces.join("")).toBe(text);
    for (const p of pieces) expect(p).not.toContain("\uFFFD");
  });

  it("Should hold back a possible stop prefix and never release the stop", () => {
    const b = new ChoiceBuilder(tok, ["END"], false, null);
    b.push(gen(" hello EN"));
    expect(b.takeDelta(false).text).toBe(" hello ");
    expect(b.push(gen("D of it"))).toBe(true);
    expect(b.stopped).toBe(true);
    expect(b.takeDelta(false).text).toBe("");
    b.finish();
    expect(b.takeDelta(true).text).toBe("");
    expect(b.text).toBe(" hello ");
  });

  it("Should release held-back text once it can no longer start a stop", () => {
    const b = new ChoiceBuilder(tok, ["END"], false, null);
    b.push(gen(" hello EN"));
    expect(b.takeDelta(false).text).toBe(" hello ");
    b.push(gen("TER now"));
    expect(b.takeDelta(false).text).toBe("ENTER now");
    b.finish();
    expect(b.takeDelta(true).text).toBe("");
  });

  it("Should cut and hold back exactly as a brute-force search over random texts and stops", () => {
    // Tokens spelled with e, h and t only (the, eth, ee...), random stops over {e, h, t}: every
    // overlap case of the incremental matcher (a stop inside another, several completing in one
    // token, a prefix of one stop that is a suffix of another) against indexOf and endsWith on
    // the whole text.
    const ids = [...Array(tok.vocabSize).keys()].filter((id) =>
      /^[eht]+$/.test(tok.tokenString(id)),
    );
    expect(ids.length).toBeGreaterThan(5); // precondition
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const word = (n: number) => Array.from({ length: n }, () => "eht"[rand(3)]).join("");
    for (let trial = 0; trial < 300; trial++) {
      const stops = Array.from({ length: 1 + rand(4) }, () => word(1 + rand(7)));
      const b = new ChoiceBuilder(tok, stops, false, null);
      let text = "";
      let sent = "";
      for (let t = 0; t < 30; t++) {
        const id = ids[rand(ids.length)];
        text += tok.tokenString(id);
        const hits = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
        const stopped = b.push([{ id, prompt: false, logprob: null, top: null }]);
        expect(stopped, JSON.stringify({ stops, text })).toBe(hits.length > 0);
        if (stopped) {
          expect(b.text).toBe(text.slice(0, Math.min(...hits)));
          break;
        }
        let held = 0;
        for (const s of stops) {
          for (let k = Math.min(s.length - 1, text.length); k > held; k--) {
            if (text.endsWith(s.slice(0, k))) held = k;
          }
        }
        sent += b.takeDelta(false).text;
        expect(sent, JSON.stringify({ stops, text })).toBe(text.slice(0, text.length - held));
      }
    }
  });

  it("Should search stop sequences in the completion only, not the echoed prompt", () => {
    const b = new ChoiceBuilder(tok, ["\n\n"], true, null);
    b.push(scored("First line\n"));
    expect(b.push(gen("\nSecond"))).toBe(false); // "\n" + "\n" spans prompt and completion
    expect(b.push(gen(" line\n\nThird"))).toBe(true);
    expect(b.text).toBe("First line\n\nSecond line");
  });

  it("Should keep the logprob entry of a token the stop cut into, and drop those after", () => {
    const b = new ChoiceBuilder(tok, ["y!"], true, null);
    b.push(gen(" Stay, stay! Oh no")); // " S" "t" "ay" "," " stay" "!" ...
    b.finish();
    const { text, logprobs } = b.takeDelta(true);
    expect(text).toBe(" Stay, sta");
    expect(logprobs!.tokens).toEqual([" S", "t", "ay", ",", " stay"]);
    // Counted: every token up to and including the one that completed the stop.
    expect(b.generated).toBe(tok.encode(" Stay, stay!").length);
  });

  it("Should give prompt tokens null at 0 and the token itself in top_logprobs after", () => {
    const b = new ChoiceBuilder(tok, [], true, null);
    b.push([...scored("ROMEO: I"), ...gen(" will")]);
    b.finish();
    const { text, logprobs } = b.takeDelta(true);
    const lp = logprobs!;
    expect(text).toBe("ROMEO: I will");
    expect(lp.token_logprobs[0]).toBeNull();
    expect(lp.top_logprobs[0]).toBeNull();
    for (let i = 1; i < lp.tokens.length; i++) {
      expect(lp.top_logprobs[i]).toEqual({ [lp.tokens[i]]: lp.token_logprobs[i] });
      expect(text.slice(lp.text_offset[i]).startsWith(lp.tokens[i])).toBe(true);
    }
    expect(lp.text_offset[0]).toBe(0);
  });

  it("Should rank by the completion's mean logprob, prompt excluded, empty last", () => {
    const b = new ChoiceBuilder(tok, [], true, null);
    b.push([...scored("ROMEO: I"), ...gen(" will not", -2)]);
    expect(b.meanLogprob).toBe(-2);
    const empty = new ChoiceBuilder(tok, [], true, null);
    empty.push(scored("ROMEO: I"));
    expect(empty.meanLogprob).toBe(-Infinity);
  });

  it("Should return the echoed prompt ahead of the completion when it is not scored", () => {
    const b = new ChoiceBuilder(tok, ["\n"], false, tok.encode("ROMEO:\n"));
    expect(b.takeDelta(false).text).toBe("ROMEO:\n"); // a stop in the prompt does not count
    b.push(gen(" Ay\nme"));
    b.finish();
    expect(b.takeDelta(true).text).toBe(" Ay");
  });

  it("Should give an echoed prompt that ends mid-character the same text, scored or not", () => {
    const e = tok.encode("é");
    expect(e.length, "é is two byte tokens here").toBe(2);
    const prompt = [...tok.encode("caf"), e[0]];
    const next = [{ id: e[1], prompt: false, logprob: -1, top: [{ id: e[1], logprob: -1 }] }];
    const texts = [false, true].map((scoredPrompt) => {
      const b = new ChoiceBuilder(tok, [], scoredPrompt, scoredPrompt ? null : prompt);
      if (scoredPrompt) b.push(prompt.map((id) => ({ id, prompt: true, logprob: -1, top: [] })));
      b.push(next);
      b.finish();
      return b.takeDelta(true).text;
    });
    expect(texts).toEqual(["café", "café"]); // the first was "caf\ufffd\ufffd"
  });

  it("Should give a token after an unfinished character the offset of its own text", () => {
    const lead = tok.encode("é")[0]; // a byte that starts a character
    for (const after of ["!", " is", "\n"]) {
      const b = new ChoiceBuilder(tok, [], true, null);
      b.push([...scored("cg"), { id: lead, prompt: true, logprob: -1, top: [] }, ...gen(after)]);
      b.finish();
      const { text, logprobs } = b.takeDelta(true);
      expect(text).toBe("cg\ufffd" + after);
      const lp = logprobs!;
      const first = lp.tokens.length - tok.encode(after).length; // the generated token
      expect(lp.text_offset[first]).toBe(3); // it was 2, the U+FFFD's
      for (let i = 3; i < lp.tokens.length; i++)
        expect(text.slice(lp.text_offset[i]).startsWith(lp.tokens[i])).toBe(true);
    }
  });

  it("Should send a logprob entry with the chunk that completes its token's text", () => {
    const b = new ChoiceBuilder(tok, ["tx"], true, null);
    const text: string[] = [];
    const tokens: string[] = [];
    for (const e of gen(" to be or not")) {
      b.push([e]);
      const d = b.takeDelta(false);
      text.push(d.text);
      tokens.push(...d.logprobs!.tokens);
    }
    expect(text.join("")).toBe(" to be or no"); // the "t" could start "tx": held back
    expect(tokens).toEqual([" to", " be", " or"]); // so " not" waits for it
    b.finish();
    const d = b.takeDelta(true);
    expect(d.text).toBe("t");
    expect(d.logprobs!.tokens).toEqual([" not"]);
  });

  it("Should never split a character, whatever a stop string holds (lone surrogates too)", () => {
    const wellFormed = (s: string) =>
      !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
    // "\ude00" is the second half of 😀 (U+1F600): it matches mid-character; the cut takes all of it.
    for (const stop of ["\ude00", "\ud83d", "\ude00 there"]) {
      const b = new ChoiceBuilder(tok, [stop], false, null);
      b.push(gen(" hi 😀 there"));
      b.finish();
      expect(b.stopped, JSON.stringify(stop)).toBe(true);
      expect(b.takeDelta(true).text).toBe(" hi ");
    }
    // Held back as a possible stop prefix: "\ude00" could start "\ude00x", so the emoji waits whole.
    const b = new ChoiceBuilder(tok, ["\ude00x"], false, null);
    const pieces = streamAll(b, gen(" a😀 b😀"));
    expect(pieces.join("")).toBe(" a😀 b😀");
    for (const p of pieces) expect(wellFormed(p), JSON.stringify(p)).toBe(true);
  });
});
