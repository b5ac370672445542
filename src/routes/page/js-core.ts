// Demo page script, part 1: DOM helpers, shared state, calls to /v1/inspect (debounced, stale
// replies dropped), and the token chips with their bytes-and-merges tooltip. Plain browser JS
// in a String.raw so backslashes survive; no template literals inside (they would interpolate).

export const jsCore = String.raw`
var $ = function (id) { return document.getElementById(id); };
var S = {
  model: "", data: null, sel: -1, layer: 0, head: 0, seq: 0, sampled: -1,
  limits: { max_attention_values: 131072 }, neighbourCache: {}
};

/** Build an element: el("li", {class: "x"}, ["text", child]). Text is never parsed as HTML. */
function el(tag, attrs, kids) {
  var e = document.createElement(tag);
  for (var k in attrs || {}) {
    if (k === "text") e.textContent = attrs[k];
    else if (k === "class") e.className = attrs[k];
    else e.setAttribute(k, attrs[k]);
  }
  (kids || []).forEach(function (c) { e.append(c); });
  return e;
}

/** Token text with whitespace made visible: space ·, newline ↵, tab →. */
function vis(s) {
  if (s === "") return "∅";
  return s.replace(/ /g, "·").replace(/\n/g, "↵").replace(/\r/g, "␍").replace(/\t/g, "→");
}
function pct(p) {
  if (p >= 0.9995) return "100%";
  if (p > 0 && p < 0.001) return "<0.1%";
  return (100 * p).toFixed(1) + "%";
}
function hex(bytes) {
  return bytes.map(function (b) { return (b < 16 ? "0" : "") + b.toString(16).toUpperCase(); }).join(" ");
}
function setStatus(msg, isError) {
  var s = $("status");
  s.textContent = msg;
  s.className = isError ? "error" : "";
}
function selIndex() {
  var T = S.data ? S.data.tokens.length : 0;
  return S.sel >= 0 && S.sel < T ? S.sel : T - 1;
}
var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;

function headers() {
  var h = { "content-type": "application/json" };
  var key = $("apikey").value.trim();
  if (key) h.authorization = "Bearer " + key;
  return h;
}
/** POST JSON; an OpenAI-shaped error becomes an Error with .code and .param. */
async function api(path, body, signal) {
  var res = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body), signal: signal });
  if (res.ok) return res;
  var j = await res.json().catch(function () { return {}; });
  var err = new Error((j.error && j.error.message) || "HTTP " + res.status);
  err.code = j.error && j.error.code;
  throw err;
}
async function apiJson(path, body) { return (await api(path, body)).json(); }

async function loadModels() {
  try {
    var res = await fetch("/v1/models", { headers: headers() });
    var j = await res.json();
    if (!res.ok) throw new Error((j.error && j.error.message) || "HTTP " + res.status);
    var sel = $("model");
    sel.textContent = "";
    (j.data || []).forEach(function (m) {
      sel.append(new Option(m.id + " (" + m.context_length + " ctx)", m.id));
    });
    if (!j.data || !j.data.length) throw new Error("no models in the weight store");
    S.model = sel.value;
    runInspect();
  } catch (e) {
    setStatus("Could not list models: " + e.message, true);
  }
}

var inspectTimer = 0;
function scheduleInspect() {
  clearTimeout(inspectTimer);
  inspectTimer = setTimeout(function () { runInspect(); }, 300);
}

/**
 * Inspect the prompt. All layers' attention when it fits the server's cap, else just the chosen
 * layer (the server says attention_too_large and we ask again for one layer).
 */
async function runInspect(layers) {
  if (!S.model) return;
  var seq = ++S.seq;
  setStatus("Running the model…");
  var body = { model: S.model, prompt: $("prompt").value, top_n: 200, neighbours: 12, layers: layers || "all" };
  var d;
  try {
    d = await apiJson("/v1/inspect", body);
  } catch (e) {
    if (seq !== S.seq) return;
    if (e.code === "attention_too_large" && !layers) return runInspect([S.layer]);
    setStatus(e.message, true);
    return;
  }
  if (seq !== S.seq) return;
  S.data = d;
  S.limits = d.limits;
  S.sampled = -1;
  if (S.sel >= d.tokens.length) S.sel = -1;
  if (S.layer >= d.config.n_layer) S.layer = 0;
  if (S.head >= d.config.n_head) S.head = 0;
  var t = d.timings;
  setStatus(d.tokens.length + " tokens · forward pass " +
    (t.clock_advanced ? t.forward_ms.toFixed(1) + " ms" : "(clock frozen)") +
    " · whole inspection " + t.wall_ms.toFixed(0) + " ms");
  renderAll();
}

function renderAll() {
  renderTokens();
  renderBars();
  renderAttention();
  renderCloud();
  renderNeighbours();
  renderBlock();
}

/** Select a token (index) everywhere: chips, attention row, neighbours, 3D highlight. */
function selectToken(i) {
  S.sel = i;
  renderTokens();
  renderAttention();
  renderCloud();
  renderNeighbours();
}

var CHIP_COLOURS = ["#dbeafe", "#fde68a", "#bbf7d0", "#fbcfe8", "#ddd6fe", "#fed7aa", "#a5f3fc", "#e5e7eb"];
/** Red (surprising) → green (expected) on a log scale: log p from -8 (p ≈ 0.0003) to 0. */
function probColour(lp) {
  if (lp === null || lp === undefined) return "#e5e7eb";
  var x = Math.max(0, Math.min(1, 1 + lp / 8));
  return "hsl(" + Math.round(120 * x) + ", 70%, 80%)";
}

function renderTokens() {
  var d = S.data, box = $("chips");
  box.textContent = "";
  if (!d) return;
  var byProb = $("chip-colour").value === "prob";
  var cur = selIndex();
  d.tokens.forEach(function (t, i) {
    var b = el("button", { type: "button", class: "chip", "data-i": String(i), "aria-pressed": String(i === cur && S.sel >= 0),
      "aria-label": "token " + (i + 1) + ": " + JSON.stringify(t.text) + ", id " + t.id }, [
      el("span", { class: "t", text: vis(t.text) }), el("span", { class: "id", text: String(t.id) })
    ]);
    b.style.background = byProb ? probColour(t.logprob) : CHIP_COLOURS[i % CHIP_COLOURS.length];
    box.append(b);
  });
  $("token-count").textContent = d.tokens.length + " tokens, " + $("prompt").value.length + " characters";
}

function tipContent(t, i) {
  var d = S.data;
  var kids = [el("div", {}, [el("b", { class: "mono", text: JSON.stringify(t.text) }),
    document.createTextNode(" · id " + t.id + " · token " + (i + 1) + " of " + d.tokens.length)])];
  kids.push(el("div", {}, [document.createTextNode("bytes: "), el("code", { text: hex(t.bytes) })]));
  if (t.merges === null) kids.push(el("div", { class: "muted", text: "merges: not traced (special token or long word)" }));
  else if (t.merges.length === 0) kids.push(el("div", { text: "a single byte: no merges" }));
  else {
    kids.push(el("div", { text: "built by " + t.merges.length + " BPE merge" + (t.merges.length > 1 ? "s" : "") + " (Ġ = space, Ċ = newline):" }));
    kids.push(el("ol", { class: "merges mono" }, t.merges.map(function (m) {
      return el("li", { text: m[0] + " + " + m[1] + " → " + m[0] + m[1] });
    })));
  }
  if (t.logprob !== null) {
    kids.push(el("div", { text: "p = " + pct(Math.exp(t.logprob)) + " given the text before it (rank " + t.rank + ")" }));
    var rows = t.top.map(function (a) {
      return el("tr", {}, [el("td", { class: "mono", text: JSON.stringify(a.text) }), el("td", { text: pct(Math.exp(a.logprob)) })]);
    });
    kids.push(el("div", { class: "muted", text: "the model expected:" }), el("table", {}, rows));
  } else {
    kids.push(el("div", { class: "muted", text: "first token: nothing before it predicts it" }));
  }
  return kids;
}

function showTip(btn) {
  var i = Number(btn.getAttribute("data-i")), tip = $("tip");
  tip.textContent = "";
  tipContent(S.data.tokens[i], i).forEach(function (k) { tip.append(k); });
  tip.hidden = false;
  btn.setAttribute("aria-describedby", "tip");
  var r = btn.getBoundingClientRect();
  var w = tip.offsetWidth;
  var left = Math.max(8, Math.min(r.left + window.scrollX, window.scrollX + document.documentElement.clientWidth - w - 8));
  tip.style.left = left + "px";
  tip.style.top = r.bottom + window.scrollY + 6 + "px";
}
function hideTip() {
  $("tip").hidden = true;
  document.querySelectorAll(".chip[aria-describedby]").forEach(function (b) { b.removeAttribute("aria-describedby"); });
}

function initCore() {
  $("prompt").addEventListener("input", scheduleInspect);
  $("model").addEventListener("change", function () { S.model = $("model").value; S.neighbourCache = {}; runInspect(); });
  $("chip-colour").addEventListener("change", renderTokens);
  var chips = $("chips");
  chips.addEventListener("mouseover", function (e) { var b = e.target.closest(".chip"); if (b) showTip(b); });
  chips.addEventListener("mouseleave", hideTip);
  chips.addEventListener("focusin", function (e) { var b = e.target.closest(".chip"); if (b) showTip(b); });
  chips.addEventListener("focusout", hideTip);
  chips.addEventListener("click", function (e) {
    var b = e.target.closest(".chip");
    if (!b) return;
    var i = Number(b.getAttribute("data-i"));
    selectToken(S.sel === i ? -1 : i);
    var again = $("chips").querySelector('[data-i="' + i + '"]');
    if (again) { again.focus(); showTip(again); }
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") hideTip(); });
}
`;
