// Demo page script, part 6: inside a block — the loaded model's matrix sizes (counted from its
// manifest, next to the formulas) and this prompt's time per stage; then start everything up.

export const jsBlock = String.raw`
var STAGES = [
  ["embed", "embed wte+wpe"], ["ln_1", "ln_1"], ["c_attn", "c_attn (q,k,v)"],
  ["attention", "attention"], ["attn.c_proj", "attn c_proj, add"], ["ln_2", "ln_2"],
  ["c_fc", "c_fc (C→4C)"], ["gelu", "GELU"], ["mlp.c_proj", "mlp c_proj, add"],
  ["ln_f", "ln_f"], ["lm_head", "unembed h·wteᵀ"]
];

function fmtInt(n) { return Math.round(n).toLocaleString("en-US"); }
function fmtBytes(b) { return b >= 1048576 ? (b / 1048576).toFixed(1) + " MiB" : (b / 1024).toFixed(1) + " KiB"; }

function renderBlock() {
  var d = S.data;
  if (!d) return;
  var z = d.sizes, m = z.dims;
  $("dims").textContent = "V = " + fmtInt(m.V) + " tokens · C = " + m.C + " · n_ctx = " + m.n_ctx + " · L = " + m.L +
    " blocks · NH = " + m.NH + " heads of HS = " + m.HS + " · " + fmtInt(z.total_params) + " parameters · " +
    fmtBytes(z.total_bytes) + " (" + z.dtype + ")";
  var t = $("sizes");
  t.textContent = "";
  t.append(el("caption", { class: "sr-only", text: "Parameters per matrix" }));
  t.append(el("tr", {}, ["Matrix", "Formula", "Shape", "Parameters"].map(function (h, i) {
    return el("th", { scope: "col", class: i === 3 ? "num" : i === 2 ? "shape" : "", text: h });
  })));
  z.groups.forEach(function (g) {
    var all = g.params * (g.perLayer ? m.L : 1);
    var share = el("div", { class: "share" });
    share.style.width = (100 * all / z.total_params).toFixed(1) + "%";
    var shapes = g.tensors.filter(function (x) { return x.shape.length > 1; }).map(function (x) { return x.shape.join("×"); });
    t.append(el("tr", {}, [
      el("td", { text: g.name + (g.perLayer ? " (per block)" : "") }),
      el("td", { class: "mono", text: g.formula }),
      el("td", { class: "mono shape", text: shapes.join(", ") || "vectors" }),
      el("td", { class: "num" }, [
        document.createTextNode(fmtInt(g.params) + (g.perLayer ? " × " + m.L : "")),
        el("div", { class: "muted small", text: pct(all / z.total_params) }), share
      ])
    ]));
  });
  renderTimes(d.timings);
}

function renderTimes(tm) {
  var box = $("times"), sums = {}, perLayer = {};
  tm.stages.forEach(function (s) {
    var m = /^h\.(\d+)\.(.+)$/.exec(s.name);
    var kind = m ? m[2] : s.name;
    sums[kind] = (sums[kind] || 0) + s.ms;
    if (m) perLayer[m[1]] = (perLayer[m[1]] || 0) + s.ms;
  });
  var digits = tm.resolution_ms === 1 ? 0 : 2; // whole-ms clock: decimals would be noise
  var ms = function (x) { return x.toFixed(digits) + " ms"; };
  var max = Math.max.apply(null, Object.keys(sums).map(function (k) { return sums[k]; }).concat([1e-9]));
  box.textContent = "";
  STAGES.forEach(function (st) {
    if (!(st[0] in sums)) return;
    var fill = el("div", { class: "fill" });
    fill.style.width = (100 * sums[st[0]] / max).toFixed(1) + "%";
    box.append(el("div", { class: "bar-row", role: "listitem", "aria-label": st[1] + ": " + ms(sums[st[0]]) }, [
      el("span", { class: "tok", text: st[1] }),
      el("div", { class: "track" }, [fill]),
      el("span", { class: "p", text: ms(sums[st[0]]) })
    ]));
  });
  var layers = Object.keys(perLayer).map(function (l) { return "block " + l + ": " + ms(perLayer[l]); });
  var coarse = tm.resolution_ms === 1
    ? " This runtime's clock ticks in whole milliseconds, so a short stage reads 0 or 1 ms; the sums are still right on average." : "";
  $("times-note").textContent = tm.clock_advanced
    ? "Per-block stages are summed over the " + layers.length + " blocks (" + layers.join(", ") + "). Forward pass " +
      ms(tm.forward_ms) + " of " + tm.wall_ms.toFixed(0) + " ms for the whole inspection (hooks, PCA, neighbours)." + coarse
    : "This runtime's clock does not advance during compute (deployed Workers freeze it), so stage times read 0; run locally to see them.";
}

initCore();
initDist();
initGen();
initAtt();
initEmb();
renderBars();
loadModels();
`;
