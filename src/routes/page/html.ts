// The demo page's markup: one section per stop of the tour (tokens, next token, generate,
// attention, embeddings, inside a block). Styles and script are same-origin assets, so the
// page's Content-Security-Policy can forbid every other origin.

export const pageHtml = (cssUrl: string, jsUrl: string) => /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gpt-edge · see inside the model</title>
<link rel="stylesheet" href="${cssUrl}">
<link rel="icon" href="data:,">
</head>
<body>
<a class="skip" href="#prompt">Skip to the prompt</a>
<header>
  <h1>gpt-edge <span>· see inside a GPT-2</span></h1>
  <p class="lead">A GPT-2 running in WebAssembly on a Cloudflare Worker. Type a prompt and follow it
  through the model: tokens, attention, the residual stream, and the distribution the next token is
  drawn from.</p>
</header>
<main>
<section id="s-prompt" class="card wide" aria-labelledby="h-prompt">
  <h2 id="h-prompt">Prompt</h2>
  <label for="prompt" class="sr-only">Prompt</label>
  <textarea id="prompt" rows="3" spellcheck="false">ROMEO:
But soft, what light through yonder window</textarea>
  <div class="row">
    <label>Model <select id="model"><option value="">loading…</option></select></label>
    <details class="settings"><summary>API key</summary>
      <label>Key <input id="apikey" type="password" autocomplete="off" placeholder="only if the server needs one"></label>
    </details>
    <span id="status" role="status" aria-live="polite"></span>
  </div>
</section>

<section id="s-tokens" class="card wide" aria-labelledby="h-tokens">
  <h2 id="h-tokens">1 · Tokens</h2>
  <p class="hint">Byte-level BPE cuts the text into tokens; the model only ever sees their ids. Hover or
  focus a token for its bytes and the merges that built it; select it to follow it below.</p>
  <div class="row">
    <label>Colour <select id="chip-colour"><option value="index">alternate</option><option value="prob">by how expected it was</option></select></label>
    <span id="token-count" class="muted"></span>
  </div>
  <div id="chips" class="chips" role="group" aria-label="Prompt tokens"></div>
  <div id="tip" class="tip" role="tooltip" hidden></div>
</section>

<section id="s-next" class="card" aria-labelledby="h-next">
  <h2 id="h-next">2 · Next token</h2>
  <p class="hint">The model's output is a score (logit) for every token in the vocabulary; softmax
  turns scores into probabilities. Temperature divides the scores first: low = sharper, high = flatter.</p>
  <div class="controls">
    <label for="temp">Temperature <output id="temp-out" for="temp">0.80</output></label>
    <input id="temp" type="range" min="0" max="2" step="0.05" value="0.8">
    <label for="topk">Top-k <output id="topk-out" for="topk">off</output></label>
    <input id="topk" type="range" min="0" max="100" step="1" value="0">
    <label for="topp">Top-p <output id="topp-out" for="topp">off</output></label>
    <input id="topp" type="range" min="0.05" max="1" step="0.01" value="1">
  </div>
  <div id="bars" class="bars" role="list" aria-label="Most likely next tokens"></div>
  <p id="bars-note" class="muted small"></p>
  <div class="row">
    <button id="step" type="button">Step: sample one token</button>
    <label>Seed <input id="seed" type="number" inputmode="numeric" placeholder="random" value="42"></label>
  </div>
  <ol id="steps" class="steps" aria-label="Sampled steps"></ol>
</section>

<section id="s-gen" class="card" aria-labelledby="h-gen">
  <h2 id="h-gen">3 · Generate</h2>
  <p class="hint">Streamed from <code>/v1/completions</code> one token at a time, with the same
  temperature, top-k, top-p and seed. Shade = probability the model gave the token (before temperature).</p>
  <div class="row">
    <label>Max tokens <input id="max-tokens" type="number" min="1" max="200" value="60"></label>
    <button id="generate" type="button">Generate</button>
    <button id="stop" type="button" class="secondary" disabled>Stop</button>
    <button id="use" type="button" class="secondary" disabled>Use as prompt</button>
  </div>
  <div id="out" class="out" aria-live="polite" aria-label="Generated text"></div>
  <div class="legend" aria-hidden="true"><span>unlikely</span><i class="grad"></i><span>likely</span></div>
  <p id="gen-status" class="muted small" role="status"></p>
</section>

<section id="s-att" class="card wide" aria-labelledby="h-att">
  <h2 id="h-att">4 · Attention: tokens talking to each other</h2>
  <p class="hint">In every layer each head lets a token (row) read from earlier tokens (columns). Each row
  sums to 1. Some heads always look at the previous token, some at the first, some spread out.</p>
  <div class="row">
    <label>Layer <select id="layer"></select></label>
    <label>Head <select id="head"></select></label>
    <span id="att-note" class="muted small"></span>
  </div>
  <div id="heads" class="heads" role="group" aria-label="All heads: choose one"></div>
  <div class="att-views">
    <figure>
      <canvas id="heat" tabindex="0" width="360" height="360" aria-describedby="heat-read"></canvas>
      <div class="heat-legend" aria-hidden="true"><span>weight 0</span><i></i><span>1</span></div>
      <figcaption id="heat-read" class="small" aria-live="polite">Arrow keys move through the matrix.</figcaption>
    </figure>
    <figure class="arcs-fig">
      <div class="arcs-scroll"><svg id="arcs" role="img" aria-label="Attention arcs"></svg></div>
      <figcaption class="small">Arcs: what the selected token (bold) reads from, thicker = more weight.</figcaption>
    </figure>
  </div>
</section>

<section id="s-emb" class="card wide" aria-labelledby="h-emb">
  <h2 id="h-emb">5 · Embeddings and the residual stream</h2>
  <p class="hint">Each token starts as a vector of C numbers (a row of wte); every block adds to it.
  Here those vectors are projected to their three main directions (PCA). Drag or use the arrow keys to
  rotate, + and − to zoom.</p>
  <div class="row" role="radiogroup" aria-label="What to show">
    <label><input type="radio" name="emb-mode" value="wte" checked> Token embeddings (wte)</label>
    <label><input type="radio" name="emb-mode" value="hidden"> Residual stream, layer by layer</label>
    <span class="zoom"><button id="zoom-in" type="button" class="secondary" aria-label="Zoom in">+</button>
    <button id="zoom-out" type="button" class="secondary" aria-label="Zoom out">−</button></span>
  </div>
  <div class="emb">
    <canvas id="cloud" tabindex="0" width="560" height="420" aria-describedby="cloud-read"></canvas>
    <div class="neigh">
      <h3 id="neigh-title">Nearest neighbours</h3>
      <ol id="neigh" class="neigh-list"></ol>
    </div>
  </div>
  <p id="cloud-read" class="muted small"></p>
</section>

<section id="s-block" class="card wide" aria-labelledby="h-block">
  <h2 id="h-block">6 · Inside a block</h2>
  <p class="hint">Every block is layer norm → attention → add, layer norm → MLP (4× wider, GELU) → add.
  Matrix sizes come from the loaded model; times are this prompt's forward pass.</p>
  <div id="dims" class="dims"></div>
  <div class="block-views">
    <div class="table-wrap"><table id="sizes"><caption class="sr-only">Parameters per matrix</caption></table></div>
    <div><h3>Time per stage</h3><div id="times" class="bars times"></div><p id="times-note" class="muted small"></p></div>
  </div>
</section>
</main>
<footer class="muted small">Everything on this page comes from this Worker: no other site is contacted.</footer>
<script src="${jsUrl}" defer></script>
</body>
</html>`;
