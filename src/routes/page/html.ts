// The demo page's markup: the prompt, then the model as a diagram (the page's spine) and one
// section per view in the order of the forward pass. Script and styles are same-origin assets
// (src/page/, bundled by esbuild), so the Content-Security-Policy can forbid every other origin.

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
  <h1>gpt-edge <span>· see inside a GPT-2-shaped model</span></h1>
  <p class="lead">A small model with GPT-2's exact architecture, running in WebAssembly on a Cloudflare
  Worker. Type a prompt and follow it through the model, from tokens to the sampled word.
  <span id="model-line"></span></p>
</header>
<main>
<section id="s-prompt" class="card wide" aria-labelledby="h-prompt">
  <h2 id="h-prompt" tabindex="-1">Prompt</h2>
  <label for="prompt" class="sr-only">Prompt</label>
  <textarea id="prompt" rows="3" spellcheck="false">ROMEO:
But soft, what light through yonder window</textarea>
  <div class="row">
    <label>Model <select id="model"><option value="">loading…</option></select></label>
    <label>Seed <input id="seed" type="number" inputmode="numeric" value="42"></label>
    <details class="settings"><summary>API key</summary>
      <label>Key <input id="apikey" type="password" autocomplete="off" placeholder="only if the server needs one"></label>
    </details>
    <span id="status" role="status" aria-live="polite"></span>
  </div>
</section>

<section id="s-tokens" class="card wide" aria-labelledby="h-tokens">
  <h2 id="h-tokens" tabindex="-1">Tokens</h2>
  <p class="hint">Byte-level BPE cuts the text into tokens; the model only ever sees their ids. Hover or
  focus a token for its bytes and merges; select one to follow it through panels 3–6.</p>
  <div class="row">
    <label>Colour <select id="chip-colour"><option value="index">alternate</option><option value="prob">by how expected it was</option></select></label>
    <span id="token-count" class="muted small"></span>
  </div>
  <div id="chips" class="chips" role="group" aria-label="Prompt tokens"></div>
  <div id="tip" class="tip" role="tooltip" hidden></div>
</section>

<section id="s-diagram" class="card wide" aria-labelledby="h-diagram">
  <h2 id="h-diagram" tabindex="-1">1 · The model</h2>
  <p class="hint">Every box shows its live shape for this prompt; select a box to open its view.</p>
  <div id="diagram" class="diagram"></div>
</section>

<section id="s-next" class="card" aria-labelledby="h-next">
  <h2 id="h-next" tabindex="-1">2 · Unembedding and softmax</h2>
  <p class="hint">The last token's final vector times wteᵀ gives one logit z per vocabulary token. Softmax
  turns logits into probabilities; temperature T divides them first: low sharpens, high flattens.</p>
  <p id="formula" class="formula mono"></p>
  <div class="controls">
    <label for="temp">Temperature <output id="temp-out" for="temp">0.80</output></label>
    <input id="temp" type="range" min="0" max="2" step="0.05" value="0.8">
    <label for="topk">Top-k <output id="topk-out" for="topk">off</output></label>
    <input id="topk" type="range" min="0" max="100" step="1" value="0">
    <label for="topp">Top-p <output id="topp-out" for="topp">off</output></label>
    <input id="topp" type="range" min="0.05" max="1" step="0.01" value="1">
    <label for="minp">Min-p <output id="minp-out" for="minp">off</output></label>
    <input id="minp" type="range" min="0" max="0.5" step="0.01" value="0">
    <label for="bar-scale">Bar scale</label>
    <select id="bar-scale"><option value="log">log (shows the tail)</option><option value="relative">relative to the top token</option><option value="linear">linear 0–100%</option></select>
  </div>
  <div id="bars" class="bars" role="list" aria-label="Most likely next tokens"></div>
  <p id="bars-note" class="muted small"></p>
  <div class="row"><button id="step" type="button">Step: sample one token</button></div>
  <ol id="steps" class="steps" aria-label="Sampled steps"></ol>
</section>

<section id="s-lens" class="card" aria-labelledby="h-lens">
  <h2 id="h-lens" tabindex="-1">3 · How the prediction forms, layer by layer</h2>
  <p class="hint">The logit lens: read the residual stream after the embedding and after every block
  through ln_f and the unembedding, as if the model stopped there.</p>
  <div class="table-wrap"><table id="lens" class="lens"></table></div>
  <p id="lens-note" class="muted small"></p>
</section>

<section id="s-inside" class="card wide" aria-labelledby="h-inside">
  <h2 id="h-inside" tabindex="-1">4 · Attention from the inside</h2>
  <p class="hint">Choose the layer and head in panel 9 and the token above. <b id="in-title"></b></p>
  <div class="inside">
    <figure><figcaption class="small">q: what the token looks for</figcaption><canvas id="in-q" class="strip"></canvas></figure>
    <figure><figcaption id="in-k-label" class="small">k</figcaption><canvas id="in-k" class="strip"></canvas></figure>
    <figure><figcaption class="small">scores q·k/√d for every position (grey: masked, the future)</figcaption><canvas id="in-scores" class="chart"></canvas></figure>
    <figure><figcaption class="small">softmax of the scores: the attention row</figcaption><canvas id="in-weights" class="chart"></canvas></figure>
    <figure><figcaption class="small">output Σ weight · v: what this head writes</figcaption><canvas id="in-out" class="strip"></canvas></figure>
  </div>
  <p id="in-note" class="muted small"></p>
  <h3>Context changes meaning</h3>
  <div class="row">
    <label>Word <input id="cmp-word" type="text" value=" light" size="8"></label>
    <label>A <input id="cmp-a" type="text" value="What light through yonder window breaks" size="30"></label>
    <label>B <input id="cmp-b" type="text" value="My purse is light and my heart heavy" size="30"></label>
    <button id="cmp-run" type="button" class="secondary">Compare</button>
  </div>
  <div id="cmp-out"></div>
</section>

<section id="s-mlp" class="card" aria-labelledby="h-mlp">
  <h2 id="h-mlp" tabindex="-1">5 · The MLP block</h2>
  <p class="hint"><b id="mlp-title"></b></p>
  <canvas id="mlp-strip" class="strip"></canvas>
  <p id="mlp-strip-note" class="muted small"></p>
  <h3>Most active neurons</h3>
  <ol id="mlp-neurons" class="neurons small"></ol>
  <h3>How much each part changes the residual stream</h3>
  <div id="mlp-norms" class="bars times" role="list"></div>
</section>

<section id="s-emb" class="card wide" aria-labelledby="h-emb">
  <h2 id="h-emb" tabindex="-1">6 · Directions in embedding space</h2>
  <p class="hint">Each token starts as a row of wte. Directions in that space carry meaning: try a − b + c.</p>
  <div class="row analogy">
    <input id="an-a" type="text" value="king" size="8" aria-label="a">
    <span>−</span><input id="an-b" type="text" value="man" size="8" aria-label="b">
    <span>+</span><input id="an-c" type="text" value="woman" size="8" aria-label="c">
    <button id="an-run" type="button" class="secondary">Nearest</button>
  </div>
  <p id="an-note" class="muted small"></p>
  <div class="emb">
    <canvas id="cloud" aria-describedby="cloud-read"></canvas>
    <div class="neigh">
      <h3>Analogy</h3><ol id="an-out" class="neigh-list"></ol>
      <h3 id="neigh-title">Nearest neighbours</h3><ol id="neigh" class="neigh-list"></ol>
    </div>
  </div>
  <p id="cloud-read" class="muted small"></p>
</section>

<section id="s-scale" class="card wide" aria-labelledby="h-scale">
  <h2 id="h-scale" tabindex="-1">7 · Scale</h2>
  <div class="table-wrap"><table id="scale"></table></div>
  <p id="scale-note" class="muted small"></p>
</section>

<section id="s-temps" class="card wide" aria-labelledby="h-temps">
  <h2 id="h-temps" tabindex="-1">8 · Temperature, side by side</h2>
  <p class="hint">Sample, append, repeat: the same prompt and seed continued at three temperatures.</p>
  <div id="temps" class="temps"></div>
  <div class="row"><button id="temps-run" type="button" class="secondary">Run again</button><span id="temps-note" class="muted small"></span></div>
</section>

<section id="s-gen" class="card wide" aria-labelledby="h-gen">
  <h2 id="h-gen" tabindex="-1">Generate</h2>
  <p class="hint">Streamed from <code>/v1/completions</code> with panel 2's temperature and cut-offs and the seed.
  Shade = the probability the model gave each token.</p>
  <div class="row">
    <label>Max tokens <input id="max-tokens" type="number" min="1" max="200" value="60"></label>
    <button id="generate" type="button">Generate</button>
    <button id="stop" type="button" class="secondary" disabled>Stop</button>
    <button id="use" type="button" class="secondary" disabled>Use as prompt</button>
  </div>
  <div id="out" class="out" aria-live="polite" aria-label="Generated text"></div>
  <p id="gen-status" class="muted small" role="status"></p>
</section>

<section id="s-att" class="card wide" aria-labelledby="h-att">
  <h2 id="h-att" tabindex="-1">9 · Attention heads</h2>
  <p class="hint">Each head lets a token (row) read from earlier tokens (columns); rows sum to 1. <span id="clear-note"></span></p>
  <div class="row">
    <label>Layer <select id="layer"></select></label>
    <label>Head <select id="head"></select></label>
  </div>
  <p id="att-note" class="muted small"></p>
  <div id="heads" class="heads" role="group" aria-label="All heads: choose one"></div>
  <div class="att-views">
    <figure><canvas id="heat" tabindex="0" aria-describedby="heat-read"></canvas>
      <figcaption class="small muted">Whole matrix, the selected row tinted red; ↑ ↓ or a click select a row's token.</figcaption></figure>
    <figure><canvas id="att-row" class="chart"></canvas><figcaption id="heat-read" class="small" aria-live="polite"></figcaption></figure>
  </div>
</section>

<section id="s-block" class="card wide" aria-labelledby="h-block">
  <h2 id="h-block" tabindex="-1">10 · Matrices and timings</h2>
  <div id="dims" class="dims"></div>
  <div class="block-views">
    <div class="table-wrap"><table id="sizes"></table></div>
    <div><h3>Time</h3><div id="times" class="bars times" role="list"></div><p id="times-note" class="muted small"></p></div>
  </div>
</section>
</main>
<footer class="muted small">Everything on this page comes from this Worker: no other site is contacted.</footer>
<script src="${jsUrl}" defer></script>
</body>
</html>`;
