// View: generation streamed from /v1/completions (server-sent events), each token shaded by the
// probability the model gave it; "Use as prompt" appends it, closing the append-and-repeat loop.

import { api } from "./api.js";
import { $, dark, el, pct } from "./dom.js";
import { minP, temp, topK, topP } from "./bars.js";
import { runInspect } from "./run.js";
import { S } from "./state.js";

interface Logprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: Record<string, number>[] | null;
}
interface Chunk {
  error?: { message: string };
  choices?: { text: string; finish_reason: string | null; logprobs: Logprobs | null }[];
}

let abort: AbortController | null = null;
let generated = "";

/** Background for a token of probability p: red (unlikely) → yellow → green, translucent. */
const shade = (p: number) =>
  `hsla(${Math.round(120 * Math.sqrt(p))}, 85%, ${dark ? "45%" : "55%"}, 0.42)`;

const BYTES_NAME = /^bytes:((?:\\x[0-9a-f]{2})+)$/;

/** Whether a logprobs token name is OpenAI's for a token that is part of a character. */
export const isBytesName = (name: string) => BYTES_NAME.test(name);

/**
 * A logprobs token name's bytes: "bytes:\xNN..." (OpenAI's name for a token that is part of a
 * character) or its text's.
 */
export function nameBytes(name: string): Uint8Array {
  const hex = BYTES_NAME.exec(name);
  if (!hex) return new TextEncoder().encode(name);
  return Uint8Array.from(hex[1].slice(2).split("\\x"), (h) => parseInt(h, 16));
}

/** The generated tokens' text so far: a character split across tokens shows with its last. */
let shown = new TextDecoder();

function appendTokens(out: HTMLElement, lp: Logprobs): void {
  lp.tokens.forEach((t, k) => {
    const p = Math.exp(lp.token_logprobs[k] ?? 0);
    const alts = Object.entries(lp.top_logprobs?.[k] ?? {})
      .map(([s, l]) => `${JSON.stringify(s)} ${pct(Math.exp(l))}`)
      .join(", ");
    const s = el("span", {
      class: "g",
      text: shown.decode(nameBytes(t), { stream: true }),
      title: `${JSON.stringify(t)}: p = ${pct(p)}${alts ? "\nalternatives: " + alts : ""}`,
    });
    s.style.background = shade(p);
    out.append(s);
  });
}

/** The body of a completion with the page's sampling settings. */
export function completionBody(
  prompt: string,
  maxTokens: number,
  T = temp(),
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: S.model,
    prompt,
    temperature: T,
    top_p: topP(),
    max_tokens: maxTokens,
  };
  if (topK() > 0) body.top_k = topK();
  if (minP() > 0) body.min_p = minP();
  const seed = $<HTMLInputElement>("seed").value.trim();
  if (seed !== "") body.seed = Number(seed);
  return body;
}

async function generate(): Promise<void> {
  const out = $("out");
  const status = $("gen-status");
  const prompt = $<HTMLTextAreaElement>("prompt").value;
  out.replaceChildren(el("span", { class: "prompt", text: prompt }));
  generated = "";
  shown = new TextDecoder();
  // at most what the context leaves after the prompt (as the last inspection counted it)
  const room = S.data ? S.data.limits.max_prompt_tokens - S.data.tokens.length : 200;
  const max = Math.max(
    1,
    Math.min(200, room, Number($<HTMLInputElement>("max-tokens").value) || 60),
  );
  const body = { ...completionBody(prompt, max), stream: true, logprobs: 5 };
  abort = new AbortController();
  $<HTMLButtonElement>("generate").disabled = true;
  $<HTMLButtonElement>("stop").disabled = false;
  $<HTMLButtonElement>("use").disabled = true;
  status.textContent = "Generating…";
  const t0 = performance.now();
  let n = 0;
  let first = 0;
  let finish = "";
  try {
    const res = await api("/v1/completions", body, abort.signal);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      buf += r.value;
      let cutAt: number;
      while ((cutAt = buf.indexOf("\n\n")) >= 0) {
        const data = buf.slice(0, cutAt).replace(/^data: ?/, "");
        buf = buf.slice(cutAt + 2);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data) as Chunk;
        if (chunk.error) throw new Error(chunk.error.message);
        const c = chunk.choices?.[0];
        if (!c) continue;
        if (c.logprobs?.tokens.length) {
          appendTokens(out, c.logprobs);
          n += c.logprobs.tokens.length;
        } else if (c.text) out.append(c.text);
        generated += c.text;
        if (c.finish_reason) finish = c.finish_reason;
        if (!first && n) first = performance.now() - t0;
        const secs = (performance.now() - t0) / 1000;
        status.textContent = `${n} tokens · first after ${Math.round(first)} ms · ${(n / secs).toFixed(1)} tokens/s (measured by this page)`;
      }
    }
    const rest = shown.decode(); // bytes of a character the generation did not finish
    if (rest) out.append(rest);
    if (finish)
      status.textContent += ` · finished: ${finish === "stop" ? "end of text" : "max tokens"}`;
  } catch (e) {
    status.textContent =
      (e as Error).name === "AbortError"
        ? status.textContent + " · stopped"
        : "Error: " + (e as Error).message;
  } finally {
    abort = null;
    $<HTMLButtonElement>("generate").disabled = false;
    $<HTMLButtonElement>("stop").disabled = true;
    $<HTMLButtonElement>("use").disabled = generated === "";
  }
}

export function initGen(): void {
  $("generate").addEventListener("click", () => void generate());
  $("stop").addEventListener("click", () => abort?.abort());
  $("use").addEventListener("click", () => {
    const p = $<HTMLTextAreaElement>("prompt");
    p.value += generated;
    generated = "";
    $<HTMLButtonElement>("use").disabled = true;
    void runInspect();
    p.focus();
  });
}
