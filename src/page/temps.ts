// View: temperature side by side. The same prompt and seed continued at T = 0 (greedy), a middle
// and a high temperature, so "0 is deterministic and dull, high is diverse and then incoherent"
// shows at a glance. Runs once the prompt has rested (three requests per run, so not at every
// keystroke's inspection); a newer prompt cancels the older runs.

import { apiJson } from "./api.js";
import { $, el } from "./dom.js";
import { completionBody } from "./gen.js";
import { onInspected } from "./run.js";
import { S, viewError } from "./state.js";

export const TEMPERATURES = [0, 0.8, 1.6];
const TOKENS = 24;
let abort: AbortController | null = null;

interface Completion {
  choices: { text: string }[];
}

async function run(): Promise<void> {
  abort?.abort();
  const mine = (abort = new AbortController());
  const prompt = $<HTMLTextAreaElement>("prompt").value;
  const seed = $<HTMLInputElement>("seed").value.trim() || "42";
  const box = $("temps");
  // What the context leaves after the prompt (its tokens as the last inspection counted them)
  const d = S.data;
  const n = d ? Math.min(TOKENS, d.limits.max_prompt_tokens - d.tokens.length) : TOKENS;
  if (n < 1) {
    box.replaceChildren();
    viewError("s-temps", "The prompt fills the model's context: there is no room to continue it.");
    return;
  }
  try {
    const texts = await Promise.all(
      TEMPERATURES.map((T) =>
        apiJson<Completion>(
          "/v1/completions",
          {
            ...completionBody(prompt, n, T),
            seed: Number(seed),
            top_p: 1,
            top_k: 0,
            min_p: 0,
          },
          mine.signal,
        ),
      ),
    );
    if (mine !== abort) return;
    box.replaceChildren(
      ...texts.map((r, i) =>
        el("div", { class: "temp-col", "data-t": String(TEMPERATURES[i]) }, [
          el("h3", { text: `T = ${TEMPERATURES[i]}` + (i === 0 ? " (greedy)" : "") }),
          el("p", { class: "mono temp-text", text: r.choices[0].text }),
        ]),
      ),
    );
    $("temps-note").textContent =
      `${n} tokens each, seed ${seed}, no top-k / top-p / min-p. Run again: T = 0 never changes; the others change with the seed.`;
    viewError("s-temps", null);
    document.body.dataset.temps = String(Date.now());
  } catch (e) {
    if ((e as Error).name === "AbortError") return;
    box.replaceChildren();
    viewError("s-temps", `Not updated for this prompt: ${(e as Error).message}`);
  }
}

let lastPrompt: string | null = null;
/** How long the prompt must rest (no keystroke, an inspection done) before the continuations run. */
const REST_MS = 600;
let resting = 0;

export function initTemps(): void {
  // Only a new prompt (or seed) changes these continuations; selecting a token does not.
  onInspected(() => {
    clearTimeout(resting);
    resting = window.setTimeout(() => {
      const key =
        $<HTMLTextAreaElement>("prompt").value + "\u0000" + $<HTMLInputElement>("seed").value;
      if (!S.data || key === lastPrompt) return;
      lastPrompt = key;
      void run();
    }, REST_MS);
  });
  // A keystroke restarts the rest: inspections paced a second apart must not let runs through.
  $("prompt").addEventListener("input", () => clearTimeout(resting));
  $("temps-run").addEventListener("click", () => void run());
}
