// Demo page script, part 3: generation streamed from /v1/completions (server-sent events), each
// token shaded by the probability the model gave it, with its alternatives on hover.

export const jsGen = String.raw`
var genAbort = null;
var generated = "";

/** Background for a token of probability p: red (unlikely) → yellow → green, translucent. */
function shade(p) {
  return "hsla(" + Math.round(120 * Math.sqrt(p)) + ", 85%, " + (dark ? "45%" : "55%") + ", 0.42)";
}

function appendTokens(out, lp) {
  lp.tokens.forEach(function (t, k) {
    var p = Math.exp(lp.token_logprobs[k] === null ? 0 : lp.token_logprobs[k]);
    var alts = lp.top_logprobs && lp.top_logprobs[k] ? Object.keys(lp.top_logprobs[k]).map(function (s) {
      return JSON.stringify(s) + " " + pct(Math.exp(lp.top_logprobs[k][s]));
    }).join(", ") : "";
    var s = el("span", { class: "g", text: t, title: JSON.stringify(t) + ": p = " + pct(p) + (alts ? "\nalternatives: " + alts : "") });
    s.style.background = shade(p);
    out.append(s);
  });
}

async function generate() {
  var out = $("out"), status = $("gen-status");
  out.textContent = "";
  out.append(el("span", { class: "prompt", text: $("prompt").value }));
  generated = "";
  var body = {
    model: S.model, prompt: $("prompt").value, stream: true, logprobs: 5,
    temperature: temp(), top_p: topP(), max_tokens: Math.max(1, Math.min(200, Number($("max-tokens").value) || 60)),
    stream_options: { include_usage: true }
  };
  if (topK() > 0) body.top_k = topK();
  var seed = $("seed").value.trim();
  if (seed !== "") body.seed = Number(seed);
  genAbort = new AbortController();
  $("generate").disabled = true;
  $("stop").disabled = false;
  $("use").disabled = true;
  status.textContent = "Generating…";
  var t0 = performance.now(), n = 0, first = 0, finish = "";
  try {
    var res = await api("/v1/completions", body, genAbort.signal);
    var reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    var buf = "";
    for (;;) {
      var r = await reader.read();
      if (r.done) break;
      buf += r.value;
      var cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        var data = buf.slice(0, cut).replace(/^data: ?/, "");
        buf = buf.slice(cut + 2);
        if (data === "[DONE]") continue;
        var chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        var c = chunk.choices && chunk.choices[0];
        if (!c) continue;
        if (c.logprobs && c.logprobs.tokens.length) {
          appendTokens(out, c.logprobs);
          n += c.logprobs.tokens.length;
        } else if (c.text) out.append(c.text);
        generated += c.text;
        if (c.finish_reason) finish = c.finish_reason;
        if (!first && n) first = performance.now() - t0;
        var secs = (performance.now() - t0) / 1000;
        status.textContent = n + " tokens · first after " + Math.round(first) + " ms · " + (n / secs).toFixed(1) + " tokens/s";
      }
    }
    status.textContent += finish ? " · finished: " + (finish === "stop" ? "end of text" : "max tokens") : "";
  } catch (e) {
    status.textContent = e.name === "AbortError" ? status.textContent + " · stopped" : "Error: " + e.message;
  } finally {
    genAbort = null;
    $("generate").disabled = false;
    $("stop").disabled = true;
    $("use").disabled = generated === "";
  }
}

function initGen() {
  $("generate").addEventListener("click", generate);
  $("stop").addEventListener("click", function () { if (genAbort) genAbort.abort(); });
  $("use").addEventListener("click", function () {
    $("prompt").value += generated;
    generated = "";
    $("use").disabled = true;
    runInspect();
    $("prompt").focus();
  });
}
`;
