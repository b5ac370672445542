// Demo page script, part 2: the next-token distribution re-tempered in the browser from the
// top logits and the server's exact normalisers (no forward pass while sliding), the top-k and
// top-p cut-offs applied in the sampler's order, and "step": sample one token via the API.

export const jsDist = String.raw`
var SHOWN = 20; // bars drawn; the page holds the top 200 for the cut-offs

function temp() { return Number($("temp").value); }
function topK() { return Number($("topk").value); }
function topP() { return Number($("topp").value); }

/**
 * Probabilities of the listed tokens at temperature T, then what the sampler would draw from:
 * top-k by rank, renormalised over the survivors, then the smallest prefix holding top-p
 * (at least one token). p_i(T) = exp((logit_i - max) / T - log_z(T)); log_z is exact over the
 * whole vocabulary at every slider step, so these numbers are exact, not estimates.
 */
function distribution(next, T, k, p) {
  var top = next.top, N = top.length;
  var probs, sample = new Array(N).fill(0), end = N, endK = null, endP = null, exact = true;
  if (T <= 0) {
    probs = top.map(function (_, i) { return i === 0 ? 1 : 0; });
    sample[0] = 1;
    return { probs: probs, sample: sample, end: 1, endK: null, endP: null, greedy: true, exact: true, heldOut: 0 };
  }
  var at = Math.max(0, Math.min(next.log_z.length - 1, Math.round(T / 0.05) - 1));
  var lz = next.log_z[at];
  probs = top.map(function (t) { return Math.exp((t.logit - next.max_logit) / T - lz); });
  var listed = probs.reduce(function (a, b) { return a + b; }, 0);
  var mass = 1; // the probability the candidates hold before top-p
  if (k > 0) {
    endK = Math.min(k, N);
    if (k > N) exact = false; // survivors beyond the list: renormalised with the full mass
    else mass = probs.slice(0, endK).reduce(function (a, b) { return a + b; }, 0);
    end = endK;
  }
  if (p < 1) {
    var cum = 0;
    for (var i = 0; i < end; i++) {
      cum += probs[i] / mass;
      if (cum >= p - 1e-12) { endP = i + 1; break; }
    }
    if (endP !== null) end = endP;
    else exact = false; // the nucleus reaches past the listed tokens
  }
  var kept = 0;
  for (var j = 0; j < end; j++) kept += probs[j];
  var norm = endP !== null || endK !== null ? kept : 1;
  for (var m = 0; m < end; m++) sample[m] = probs[m] / norm;
  return { probs: probs, sample: sample, end: end, endK: endK, endP: endP, greedy: false, exact: exact, heldOut: 1 - listed };
}

function renderBars() {
  var d = S.data, box = $("bars");
  $("temp-out").textContent = temp().toFixed(2);
  $("topk-out").textContent = topK() > 0 ? String(topK()) : "off";
  $("topp-out").textContent = topP() < 1 ? topP().toFixed(2) : "off";
  box.textContent = "";
  if (!d) return;
  var dist = distribution(d.next, temp(), topK(), topP());
  var cutting = dist.endK !== null || dist.endP !== null;
  var n = Math.min(SHOWN, d.next.top.length);
  for (var i = 0; i < n; i++) {
    var t = d.next.top[i], p = dist.probs[i];
    var cls = "bar-row" + (i >= dist.end ? " cut" : "") + (i === S.sampled ? " sampled" : "");
    var label = JSON.stringify(t.text) + ": " + pct(p) + (i >= dist.end ? ", cut off" : "");
    var fill = el("div", { class: "fill" });
    fill.style.width = (100 * p).toFixed(2) + "%";
    box.append(el("div", { class: cls, role: "listitem", "aria-label": label }, [
      el("span", { class: "rank", text: String(i + 1) }),
      el("span", { class: "tok", text: vis(t.text), title: "id " + t.id + ", logit " + t.logit.toFixed(2) }),
      el("div", { class: "track" }, [fill]),
      el("span", { class: "p", text: pct(p) })
    ]));
    if (dist.endK === i + 1 && topK() > 0) box.append(el("div", { class: "cutline", text: "top-k = " + topK() + ": only the " + topK() + " most likely can be drawn" }));
    if (dist.endP === i + 1) box.append(el("div", { class: "cutline", text: "top-p = " + topP().toFixed(2) + ": these " + (i + 1) + " hold ≥ " + Math.round(100 * topP()) + "%" }));
  }
  var shownMass = dist.probs.slice(0, n).reduce(function (a, b) { return a + b; }, 0);
  var notes = [];
  if (dist.greedy) notes.push("Temperature 0 is greedy: the top token every time; top-k and top-p do nothing.");
  else notes.push("These " + n + " hold " + pct(shownMass) + " of the probability over all " + d.config.n_vocab + " tokens.");
  if (!dist.greedy && cutting) {
    var beyond = dist.end > n ? " (the cut falls past the " + n + " shown)" : "";
    notes.push("After the cut-offs " + dist.end + " token" + (dist.end > 1 ? "s" : "") + " remain" + beyond + "; the top one is drawn with p = " + pct(dist.sample[0]) + ".");
  }
  notes.push(dist.exact
    ? "Exact: the server sent the top " + d.next.top.length + " logits and the normaliser over the whole vocabulary for every slider step, so sliding needs no new forward pass."
    : "Approximate: the cut-off reaches past the " + d.next.top.length + " tokens the page holds.");
  $("bars-note").textContent = notes.join(" ");
}

/** Sample one token with the current settings, log it with the distribution it came from, append it. */
async function step() {
  var d = S.data;
  if (!d) return;
  var btn = $("step");
  btn.disabled = true;
  var T = temp(), k = topK(), p = topP();
  var dist = distribution(d.next, T, k, p);
  var body = { model: S.model, prompt: $("prompt").value, max_tokens: 1, temperature: T, top_p: p, logprobs: 5 };
  if (k > 0) body.top_k = k;
  var seed = $("seed").value.trim();
  if (seed !== "") body.seed = Number(seed);
  try {
    var r = await apiJson("/v1/completions", body);
    var c = r.choices[0];
    var tok = c.logprobs && c.logprobs.tokens.length ? c.logprobs.tokens[0] : c.text;
    var i = d.next.top.findIndex(function (t) { return t.text === tok; });
    S.sampled = i;
    renderBars();
    var mini = el("div", { class: "mini", "aria-hidden": "true" }, d.next.top.slice(0, 6).map(function (t, j) {
      return el("span", { class: j === i ? "sampled" : "", text: vis(t.text) + " " + pct(dist.probs[j]) });
    }));
    var what = c.text === "" && c.finish_reason === "stop" ? "the end-of-text token (generation would stop)" : JSON.stringify(tok);
    var where = i >= 0 ? " — rank " + (i + 1) + ", p = " + pct(dist.probs[i]) + " at T = " + T.toFixed(2) +
      (dist.sample[i] !== dist.probs[i] ? " (" + pct(dist.sample[i]) + " after the cut-offs)" : "") : "";
    $("steps").append(el("li", {}, [document.createTextNode("sampled " + what + where), mini]));
    if (c.text !== "") {
      $("prompt").value += c.text;
      setTimeout(function () { runInspect(); }, 700); // leave the highlight visible for a moment
    }
  } catch (e) {
    setStatus("Step failed: " + e.message, true);
  } finally {
    btn.disabled = false;
  }
}

function initDist() {
  ["temp", "topk", "topp"].forEach(function (id) {
    $(id).addEventListener("input", function () { S.sampled = -1; renderBars(); });
  });
  $("step").addEventListener("click", step);
}
`;
