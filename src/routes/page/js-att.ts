// Demo page script, part 4: attention. Small multiples of every head with a one-word kind
// (previous token, first token, self, spread), the chosen head as a heatmap (canvas, keyboard
// cursor, readout), and as arcs from the selected token to the tokens it reads (SVG).

export const jsAtt = String.raw`
var cursor = { q: -1, k: -1 };

/** Blues ramp, light → dark on a light page, dark → bright on a dark one. */
function heatRGB(v) {
  var a = dark ? [22, 27, 34] : [247, 251, 255], b = dark ? [158, 220, 255] : [8, 48, 107];
  v = Math.max(0, Math.min(1, v));
  return [0, 1, 2].map(function (i) { return Math.round(a[i] + (b[i] - a[i]) * v); });
}
function heatColour(v) { return "rgb(" + heatRGB(v).join(",") + ")"; }

/**
 * What a head mostly does, from the server's per-head means over queries 1..T-1, compared with
 * a head that spreads evenly (weight 1/(q+1) on every visible token): the pattern it favours
 * most over that baseline, if at least 1.5× (else "broad" or "mixed").
 */
function headKind(s, T) {
  var even = 0;
  for (var q = 1; q < T; q++) even += 1 / (q + 1);
  even /= Math.max(1, T - 1);
  var best = [["previous", s.prev], ["first", s.first], ["self", s.self]].sort(function (a, b) { return b[1] - a[1]; })[0];
  if (T > 2 && best[1] >= 1.5 * even) return best[0];
  return s.entropy > 0.8 * Math.log(T) ? "broad" : "mixed";
}

function layerData(layer) {
  var d = S.data;
  return d && d.attention.layers.find(function (l) { return l.layer === layer; });
}

function drawThumb(canvas, rows) {
  var T = rows.length;
  canvas.width = T;
  canvas.height = T;
  var g = canvas.getContext("2d");
  var img = g.createImageData(T, T);
  for (var q = 0; q < T; q++) {
    for (var k = 0; k < T; k++) {
      var c = heatRGB(k <= q ? rows[q][k] : 0);
      var o = 4 * (q * T + k);
      img.data[o] = c[0]; img.data[o + 1] = c[1]; img.data[o + 2] = c[2]; img.data[o + 3] = 255;
    }
  }
  g.putImageData(img, 0, 0);
}

/** Small multiples: one row per layer, one column per head. */
function renderHeads() {
  var d = S.data, box = $("heads"), T = d.tokens.length;
  box.textContent = "";
  box.style.gridTemplateColumns = "auto repeat(" + d.config.n_head + ", minmax(0, 1fr))";
  d.attention.summary.forEach(function (s) {
    if (s.head === 0) box.append(el("span", { class: "layer-label", text: "L" + s.layer }));
    var data = layerData(s.layer);
    var on = s.layer === S.layer && s.head === S.head;
    var kind = headKind(s, T);
    var b = el("button", { type: "button", class: "head", "aria-pressed": String(on),
      "aria-label": "layer " + s.layer + " head " + s.head + ": " + kind + "; on the previous token " + pct(s.prev) + ", on the first " + pct(s.first) }, [
      el("span", { class: "name", text: "H" + s.head })
    ]);
    if (data) {
      var c = el("canvas", { "aria-hidden": "true" });
      drawThumb(c, data.heads[s.head]);
      b.append(c);
    }
    b.append(el("span", { class: "kind", text: kind }),
      el("span", { class: "muted nums", text: "prev " + s.prev.toFixed(2) + " 1st " + s.first.toFixed(2) }));
    b.addEventListener("click", function () { chooseHead(s.layer, s.head); });
    box.append(b);
  });
}

function chooseHead(layer, head) {
  S.layer = layer;
  S.head = head;
  if (!layerData(layer)) { runInspect([layer]); return; }
  renderAttention();
}

function fillSelect(sel, n, value, label) {
  if (sel.options.length !== n) {
    sel.textContent = "";
    for (var i = 0; i < n; i++) sel.append(new Option(label + " " + i, String(i)));
  }
  sel.value = String(value);
}

function renderAttention() {
  var d = S.data;
  if (!d) return;
  fillSelect($("layer"), d.config.n_layer, S.layer, "layer");
  fillSelect($("head"), d.config.n_head, S.head, "head");
  var shown = d.attention.layers.map(function (l) { return l.layer; });
  $("att-note").textContent = shown.length < d.config.n_layer
    ? "Long prompt: matrices of layer " + shown.join(", ") + " only (summaries for all)." : "";
  renderHeads();
  var data = layerData(S.layer);
  if (!data) return;
  var rows = data.heads[S.head];
  if (cursor.q >= rows.length || cursor.q < 0) cursor = { q: selIndex(), k: selIndex() };
  drawHeat(rows);
  drawArcs(rows);
}

/** Heatmap geometry for the current canvas size: margin for labels when cells are big enough. */
function heatLayout(canvas, T) {
  var W = canvas.clientWidth || 360;
  var ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(W * ratio);
  canvas.height = Math.round(W * ratio);
  var margin = W / T >= 14 ? Math.min(90, W * 0.22) : 0;
  var cell = (W - margin - 2) / T;
  return { W: W, ratio: ratio, margin: margin, cell: cell };
}

function drawHeat(rows) {
  var canvas = $("heat"), T = rows.length, d = S.data;
  var L = heatLayout(canvas, T);
  var g = canvas.getContext("2d");
  g.setTransform(L.ratio, 0, 0, L.ratio, 0, 0);
  g.clearRect(0, 0, L.W, L.W);
  var x0 = L.margin, y0 = L.margin;
  for (var q = 0; q < T; q++) {
    for (var k = 0; k < T; k++) {
      g.fillStyle = k <= q ? heatColour(rows[q][k]) : (dark ? "#0d1117" : "#eef0f3");
      g.fillRect(x0 + k * L.cell, y0 + q * L.cell, Math.ceil(L.cell), Math.ceil(L.cell));
    }
  }
  if (L.margin) {
    g.fillStyle = dark ? "#e6edf3" : "#1b1f24";
    g.font = "12px ui-monospace, Menlo, Consolas, monospace";
    g.textBaseline = "middle";
    d.tokens.forEach(function (t, i) {
      var s = vis(t.text).slice(0, 9);
      g.textAlign = "right";
      g.fillText(s, x0 - 4, y0 + (i + 0.5) * L.cell);
      g.save();
      g.translate(x0 + (i + 0.5) * L.cell, y0 - 4);
      g.rotate(-Math.PI / 3);
      g.textAlign = "left";
      g.fillText(s, 0, 0);
      g.restore();
    });
  }
  if (cursor.q >= 0) {
    g.strokeStyle = dark ? "#ffd33d" : "#b3261e";
    g.lineWidth = 2;
    g.strokeRect(x0 + cursor.k * L.cell, y0 + cursor.q * L.cell, L.cell, L.cell);
    var qt = d.tokens[cursor.q], kt = d.tokens[cursor.k];
    $("heat-read").textContent = "Layer " + S.layer + ", head " + S.head + ": " + JSON.stringify(qt.text) +
      " (row " + (cursor.q + 1) + ") reads " + JSON.stringify(kt.text) + " (column " + (cursor.k + 1) + ") with weight " +
      (cursor.k <= cursor.q ? rows[cursor.q][cursor.k].toFixed(3) : "0 (a token cannot see the future)") +
      ". Arrow keys move, Enter selects the row's token.";
  }
}

function heatCell(e) {
  var canvas = $("heat"), rows = layerData(S.layer).heads[S.head];
  var L = heatLayout(canvas, rows.length);
  var r = canvas.getBoundingClientRect();
  var k = Math.floor((e.clientX - r.left - L.margin) / L.cell), q = Math.floor((e.clientY - r.top - L.margin) / L.cell);
  return q >= 0 && k >= 0 && q < rows.length && k < rows.length ? { q: q, k: k } : null;
}

function drawArcs(rows) {
  var svg = $("arcs"), d = S.data, T = rows.length, q = selIndex();
  var NS = "http://www.w3.org/2000/svg";
  svg.textContent = "";
  var xs = [], x = 12;
  d.tokens.forEach(function (t) { var w = 8 * Math.min(12, vis(t.text).length) + 14; xs.push(x + w / 2); x += w; });
  var H = 240, base = H - 18;
  svg.setAttribute("width", String(Math.max(x + 12, 200)));
  svg.setAttribute("viewBox", "0 0 " + Math.max(x + 12, 200) + " " + H);
  var col = dark ? "#58a6ff" : "#0a5dc2";
  for (var k = 0; k <= q && k < T; k++) {
    var w = rows[q][k];
    if (w < 0.01) continue;
    var path = document.createElementNS(NS, "path");
    if (k === q) {
      var r = 6 + 10 * w;
      path.setAttribute("d", "M " + (xs[q] - 4) + " " + (base - 14) + " a " + r / 2 + " " + r + " 0 1 1 8 0");
    } else {
      // Peak height h above the baseline; a quadratic curve peaks halfway to its control point.
      var h = Math.min(base - 24, 18 + Math.abs(xs[q] - xs[k]) / 2);
      path.setAttribute("d", "M " + xs[q] + " " + (base - 14) + " Q " + (xs[q] + xs[k]) / 2 + " " + (base - 14 - 2 * h) + " " + xs[k] + " " + (base - 14));
    }
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", col);
    path.setAttribute("stroke-width", String(1 + 7 * w));
    path.setAttribute("stroke-opacity", String(0.25 + 0.75 * w));
    var title = document.createElementNS(NS, "title");
    title.textContent = JSON.stringify(d.tokens[k].text) + ": " + w.toFixed(3);
    path.append(title);
    svg.append(path);
  }
  d.tokens.forEach(function (t, i) {
    var text = document.createElementNS(NS, "text");
    text.setAttribute("x", String(xs[i]));
    text.setAttribute("y", String(base));
    text.setAttribute("text-anchor", "middle");
    if (i === q) text.setAttribute("class", "q");
    text.textContent = vis(t.text).slice(0, 12);
    text.addEventListener("click", function () { selectToken(i); });
    svg.append(text);
  });
  svg.setAttribute("aria-label", "Arcs from " + JSON.stringify(d.tokens[q].text) + " to the tokens it attends to in layer " + S.layer + ", head " + S.head);
  // Arcs run leftwards from the selected token: show it near the right edge.
  var scroller = svg.parentElement;
  scroller.scrollLeft = Math.max(0, xs[q] + 60 - scroller.clientWidth);
}

function initAtt() {
  $("layer").addEventListener("change", function () { chooseHead(Number($("layer").value), S.head); });
  $("head").addEventListener("change", function () { chooseHead(S.layer, Number($("head").value)); });
  var heat = $("heat");
  heat.addEventListener("mousemove", function (e) {
    var c = layerData(S.layer) && heatCell(e);
    if (c) { cursor = c; drawHeat(layerData(S.layer).heads[S.head]); }
  });
  heat.addEventListener("click", function (e) { var c = layerData(S.layer) && heatCell(e); if (c) selectToken(c.q); });
  heat.addEventListener("keydown", function (e) {
    var data = layerData(S.layer);
    if (!data) return;
    var T = data.heads[S.head].length;
    var moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (moves[e.key]) {
      e.preventDefault();
      cursor.q = Math.max(0, Math.min(T - 1, cursor.q + moves[e.key][0]));
      cursor.k = Math.max(0, Math.min(cursor.q, cursor.k + moves[e.key][1]));
      drawHeat(data.heads[S.head]);
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      selectToken(cursor.q);
    }
  });
  window.addEventListener("resize", function () { if (S.data) { renderAttention(); renderCloud(); } });
}
`;
