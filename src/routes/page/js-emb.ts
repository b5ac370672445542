// Demo page script, part 5: the 3D views on a canvas (rotate by dragging or with the arrow keys,
// zoom with + and −): the vocabulary's wte rows with the prompt's tokens, or each prompt token's
// path through the residual stream, layer by layer; and nearest neighbours of the chosen token.

export const jsEmb = String.raw`
var view = { yaw: 0.6, pitch: 0.35, zoom: 1, drag: null, hover: -1 };
var drawn = []; // screen positions of labelled points, for hover

function embMode() { return document.querySelector('input[name="emb-mode"]:checked').value; }

/** Colour of layer i of n (embedding first): a hue ramp from blue to orange. */
function layerColour(i, n) { return "hsl(" + Math.round(220 - 190 * i / Math.max(1, n - 1)) + ", 75%, " + (dark ? "62%" : "42%") + ")"; }

/** The scene: points {p: [x,y,z], r, colour, label?, id?} and lines [[a, b, colour, width]]. */
function scene() {
  var d = S.data, pts = [], lines = [], sel = selIndex();
  if (embMode() === "wte") {
    d.embeddings.cloud.forEach(function (c) {
      pts.push({ p: c.xyz, r: 1.8, colour: dark ? "#6e7681" : "#9aa4ae", label: c.text, id: c.id, faint: true });
    });
    d.embeddings.prompt.forEach(function (xyz, i) {
      pts.push({ p: xyz, r: i === sel ? 6 : 4.5, colour: i === sel ? "#d1242f" : (dark ? "#58a6ff" : "#0a5dc2"),
        label: d.tokens[i].text, id: d.tokens[i].id, strong: true, index: i });
    });
  } else {
    var h = d.hidden, n = h.layers.length;
    d.tokens.forEach(function (t, i) {
      var on = i === sel, prev = null;
      h.points.forEach(function (layer, li) {
        var name = h.layers[li] < 0 ? "embed" : "L" + h.layers[li];
        var pt = { p: layer[i], r: on ? 4.5 : 2.5, colour: layerColour(li, n), index: i,
          label: on ? (li === 0 || li === n - 1 ? t.text + " " : "") + name : t.text + " · " + name, strong: on };
        pts.push(pt);
        if (prev) lines.push([prev, pt, on ? (dark ? "#ffd33d" : "#d1242f") : layerColour(li, n), on ? 2.5 : 0.8]);
        prev = pt;
      });
    });
  }
  return { pts: pts, lines: lines };
}

function renderCloud() {
  var d = S.data, canvas = $("cloud");
  if (!d) return;
  var mode = embMode();
  if ((mode === "wte" && !d.embeddings) || (mode === "hidden" && !d.hidden)) return;
  var W = canvas.clientWidth || 560, H = canvas.clientHeight || Math.round(W * 3 / 4), ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(W * ratio);
  canvas.height = Math.round(H * ratio);
  var g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, W, H);
  var sc = scene();
  // Fit the 95th-percentile distance, not the farthest point: one outlier (a rare token, GPT-2's
  // huge first-position vectors) would otherwise shrink everything else into a dot.
  var dists = sc.pts.map(function (s) { return Math.hypot(s.p[0], s.p[1], s.p[2]); }).sort(function (a, b) { return a - b; });
  var radius = Math.max(1e-9, dists[Math.floor(0.95 * (dists.length - 1))] || 0);
  var cy = Math.cos(view.yaw), sy = Math.sin(view.yaw), cp = Math.cos(view.pitch), sp = Math.sin(view.pitch);
  var scale = 0.42 * Math.min(W, H) * view.zoom / radius;
  function proj(p) {
    var x = p[0] * cy + p[2] * sy, z = -p[0] * sy + p[2] * cy;
    var y = p[1] * cp - z * sp, zz = p[1] * sp + z * cp;
    var f = 3 / Math.max(0.5, 3 + zz / radius); // perspective: a camera three radii away (clamped for outliers)
    return { x: W / 2 + x * scale * f, y: H / 2 - y * scale * f, z: zz };
  }
  // axes: the three principal directions from the origin, labelled with their share of variance
  var ex = mode === "wte" ? d.embeddings.explained : d.hidden.explained;
  var o = proj([0, 0, 0]);
  g.font = "12px system-ui, sans-serif";
  [[1, 0, 0], [0, 1, 0], [0, 0, 1]].forEach(function (a, i) {
    var e = proj([a[0] * radius * 0.9, a[1] * radius * 0.9, a[2] * radius * 0.9]);
    g.strokeStyle = dark ? "#30363d" : "#d0d7de";
    g.lineWidth = 1;
    g.beginPath(); g.moveTo(o.x, o.y); g.lineTo(e.x, e.y); g.stroke();
    g.fillStyle = dark ? "#9ea7b3" : "#57606a";
    g.fillText("PC" + (i + 1) + " " + pct(ex[i]), e.x + 3, e.y);
  });
  sc.pts.forEach(function (s) { s.s = proj(s.p); });
  sc.lines.forEach(function (l) {
    g.strokeStyle = l[2]; g.lineWidth = l[3];
    g.beginPath(); g.moveTo(l[0].s.x, l[0].s.y); g.lineTo(l[1].s.x, l[1].s.y); g.stroke();
  });
  var order = sc.pts.slice().sort(function (a, b) { return b.s.z - a.s.z; }); // far first
  drawn = [];
  order.forEach(function (s) {
    g.globalAlpha = s.faint ? 0.7 : 1;
    g.fillStyle = s.colour;
    g.beginPath(); g.arc(s.s.x, s.s.y, s.r, 0, 2 * Math.PI); g.fill();
    drawn.push(s);
  });
  g.globalAlpha = 1;
  g.font = "12px ui-monospace, Menlo, Consolas, monospace";
  order.forEach(function (s) {
    if (!s.strong || s.label === null || s.label === undefined) return;
    var txt = vis(s.label);
    var w = g.measureText(txt).width;
    g.fillStyle = dark ? "rgba(13,17,23,.8)" : "rgba(255,255,255,.85)";
    g.fillRect(s.s.x + 6, s.s.y - 8, w + 4, 15);
    g.fillStyle = dark ? "#e6edf3" : "#1b1f24";
    g.fillText(txt, s.s.x + 8, s.s.y + 4);
  });
  if (view.hover >= 0 && drawn[view.hover] && !drawn[view.hover].strong) {
    var hv = drawn[view.hover], tw = g.measureText(vis(hv.label)).width;
    g.fillStyle = dark ? "rgba(13,17,23,.85)" : "rgba(255,255,255,.9)";
    g.fillRect(hv.s.x + 6, hv.s.y - 8, tw + 4, 15);
    g.fillStyle = dark ? "#e6edf3" : "#1b1f24";
    g.fillText(vis(hv.label), hv.s.x + 8, hv.s.y + 4);
  }
  if (mode === "hidden") {
    var n = d.hidden.layers.length;
    d.hidden.layers.forEach(function (l, i) {
      g.fillStyle = layerColour(i, n);
      g.fillRect(10 + i * 58, H - 20, 10, 10);
      g.fillStyle = dark ? "#e6edf3" : "#1b1f24";
      g.fillText(l < 0 ? "embed" : "L" + l, 24 + i * 58, H - 11);
    });
  }
  $("cloud-read").textContent = mode === "wte"
    ? "wte: " + d.embeddings.cloud.length + " vocabulary tokens (grey) and the prompt's " + d.tokens.length +
      " tokens (blue, the selected one red). The three axes hold " + pct(ex[0] + ex[1] + ex[2]) + " of the embeddings' variance."
    : "Residual stream: each prompt token's vector after the embedding and after each of the " + (n - 1) +
      " blocks, standardised like layer norm does, in one shared PCA basis (" + pct(ex[0] + ex[1] + ex[2]) + " of the variance). Lines join a token's layers; the selected token is highlighted.";
}

async function renderNeighbours() {
  var d = S.data;
  if (!d) return;
  var i = selIndex(), t = d.tokens[i], list = $("neigh");
  $("neigh-title").textContent = "Nearest neighbours of " + JSON.stringify(t.text);
  var items = S.neighbourCache[t.id];
  if (!items && d.neighbours && d.neighbours.id === t.id) items = d.neighbours.items;
  if (!items) {
    list.textContent = "";
    list.append(el("li", { class: "muted", text: "…" }));
    try {
      var r = await apiJson("/v1/neighbours", { model: S.model, token_id: t.id, k: 12 });
      items = r.items;
    } catch (e) {
      list.textContent = "";
      list.append(el("li", { class: "error", text: e.message }));
      return;
    }
    if (selIndex() !== i || S.data !== d) return;
  }
  S.neighbourCache[t.id] = items;
  list.textContent = "";
  items.forEach(function (n) {
    list.append(el("li", {}, [el("span", { class: "mono", text: vis(n.text) }), el("span", { class: "muted", text: n.cosine.toFixed(3) })]));
  });
}

function initEmb() {
  var c = $("cloud");
  document.querySelectorAll('input[name="emb-mode"]').forEach(function (r) { r.addEventListener("change", renderCloud); });
  c.addEventListener("pointerdown", function (e) { view.drag = { x: e.clientX, y: e.clientY }; c.setPointerCapture(e.pointerId); });
  c.addEventListener("pointerup", function () { view.drag = null; });
  c.addEventListener("pointercancel", function () { view.drag = null; });
  c.addEventListener("pointermove", function (e) {
    if (view.drag) {
      view.yaw += (e.clientX - view.drag.x) * 0.01;
      view.pitch = Math.max(-1.5, Math.min(1.5, view.pitch + (e.clientY - view.drag.y) * 0.01));
      view.drag = { x: e.clientX, y: e.clientY };
      renderCloud();
      return;
    }
    var r = c.getBoundingClientRect(), best = -1, bd = 64; // 8 px radius, squared
    drawn.forEach(function (s, i) {
      var dd = Math.pow(s.s.x - (e.clientX - r.left), 2) + Math.pow(s.s.y - (e.clientY - r.top), 2);
      if (dd < bd) { bd = dd; best = i; }
    });
    if (best !== view.hover) { view.hover = best; renderCloud(); }
  });
  c.addEventListener("click", function () {
    var s = drawn[view.hover];
    if (s && s.index !== undefined) selectToken(s.index);
  });
  c.addEventListener("keydown", function (e) {
    var k = e.key, step = 0.12;
    if (k === "ArrowLeft") view.yaw -= step;
    else if (k === "ArrowRight") view.yaw += step;
    else if (k === "ArrowUp") view.pitch = Math.max(-1.5, view.pitch - step);
    else if (k === "ArrowDown") view.pitch = Math.min(1.5, view.pitch + step);
    else if (k === "+" || k === "=") view.zoom = Math.min(8, view.zoom * 1.2);
    else if (k === "-" || k === "_") view.zoom = Math.max(0.3, view.zoom / 1.2);
    else if (k === "0") view = { yaw: 0.6, pitch: 0.35, zoom: 1, drag: null, hover: -1 };
    else return;
    e.preventDefault();
    renderCloud();
  });
  $("zoom-in").addEventListener("click", function () { view.zoom = Math.min(8, view.zoom * 1.2); renderCloud(); });
  $("zoom-out").addEventListener("click", function () { view.zoom = Math.max(0.3, view.zoom / 1.2); renderCloud(); });
}
`;
