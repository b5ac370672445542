// GET /: a small self-contained page (no external requests) that streams a completion from
// /v1/completions and shows each token as it arrives, coloured by its probability.

import { Hono } from "hono";
import type { AppEnv } from "./context.js";

const HTML = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gpt-edge</title>
<style>
  :root { color-scheme: light dark; --fg:#1b1f24; --bg:#fbfbfd; --muted:#57606a; --accent:#0b6bcb; --card:#fff; --line:#d0d7de; }
  @media (prefers-color-scheme: dark) { :root { --fg:#e6edf3; --bg:#0d1117; --muted:#9aa4ae; --accent:#58a6ff; --card:#161b22; --line:#30363d; } }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
  main { max-width: 860px; margin: 0 auto; padding: 1.25rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
  p.lead { color: var(--muted); margin: 0 0 1rem; }
  form { display: grid; gap: .75rem; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1rem; }
  textarea { width: 100%; min-height: 6rem; font: 15px/1.4 ui-monospace, monospace; padding: .5rem; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); }
  .row { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; }
  label { display: flex; gap: .4rem; align-items: center; color: var(--muted); }
  input[type=number] { width: 6rem; padding: .3rem; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); }
  button { font: inherit; padding: .45rem 1.1rem; border-radius: 6px; border: 0; background: var(--accent); color: #fff; cursor: pointer; }
  button:focus-visible, textarea:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
  #out { white-space: pre-wrap; font: 15px/1.5 ui-monospace, monospace; margin-top: 1rem; padding: 1rem; min-height: 4rem; background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
  #out .prompt { color: var(--muted); }
  #out span.tok { border-radius: 3px; }
  #status { color: var(--muted); font-size: .9rem; margin-top: .5rem; min-height: 1.2rem; }
</style>
</head>
<body>
<main>
  <h1>gpt-edge</h1>
  <p class="lead">A GPT-2 running in WebAssembly on a Cloudflare Worker. Type a prompt; each generated token is shaded by the probability the model gave it.</p>
  <form id="f">
    <label for="prompt" style="display:block">Prompt</label>
    <textarea id="prompt" name="prompt">ROMEO:</textarea>
    <div class="row">
      <label>Model <select id="model"></select></label>
      <label>Temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.8"></label>
      <label>Max tokens <input id="max_tokens" type="number" min="1" max="1024" value="80"></label>
      <label>Seed <input id="seed" type="number" placeholder="random"></label>
      <button id="go" type="submit">Generate</button>
    </div>
  </form>
  <div id="out" aria-live="polite"></div>
  <div id="status" role="status"></div>
</main>
<script type="module">
const $ = (id) => document.getElementById(id);
const models = await fetch("/v1/models").then((r) => r.json()).catch(() => ({ data: [] }));
for (const m of models.data ?? []) $("model").append(new Option(m.id + " (" + m.context_length + " ctx)", m.id));
$("f").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("out"), status = $("status");
  out.textContent = "";
  const p = document.createElement("span");
  p.className = "prompt";
  p.textContent = $("prompt").value;
  out.append(p);
  const body = {
    model: $("model").value, prompt: $("prompt").value, stream: true, logprobs: 0,
    temperature: Number($("temperature").value), max_tokens: Number($("max_tokens").value),
    stream_options: { include_usage: true },
  };
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  status.textContent = "Generating...";
  const t0 = performance.now();
  let n = 0, first = 0;
  const res = await fetch("/v1/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) { status.textContent = "Error: " + ((await res.json()).error?.message ?? res.status); return; }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf("\\n\\n")) >= 0) {
      const ev = buf.slice(0, i); buf = buf.slice(i + 2);
      const data = ev.replace(/^data: ?/, "");
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      if (chunk.error) { status.textContent = "Error: " + chunk.error.message; return; }
      if (chunk.usage) { status.textContent += " · " + chunk.usage.completion_tokens + " tokens"; continue; }
      const c = chunk.choices[0];
      if (!c) continue;
      const lp = c.logprobs;
      if (lp && lp.tokens.length) {
        lp.tokens.forEach((t, k) => {
          const s = document.createElement("span");
          s.className = "tok";
          const prob = Math.exp(lp.token_logprobs[k] ?? 0);
          s.style.background = "hsla(" + Math.round(120 * prob) + ",70%,50%,0.28)";
          s.title = t + "  p=" + prob.toFixed(3);
          s.textContent = t;
          out.append(s);
        });
        n += lp.tokens.length;
      } else if (c.text) out.append(c.text);
      if (!first) first = performance.now() - t0;
      const secs = (performance.now() - t0) / 1000;
      status.textContent = n + " tokens · first after " + Math.round(first) + " ms · " + (n / secs).toFixed(1) + " tokens/s" + (c.finish_reason ? " · finished: " + c.finish_reason : "");
    }
  }
});
</script>
</body>
</html>`;

export const page = new Hono<AppEnv>().get("/", (c) => c.html(HTML));
