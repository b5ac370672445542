// Small canvas pictures shared by the inside-the-model views: a vector as a strip of coloured
// cells (blue negative, red positive, scaled to its largest |value|), and a row of bars.

import { clamp, dark, fitCanvas, mutedInk } from "./dom.js";

/** A vector as one row of cells; returns the scale used (its largest |value|). */
export function strip(canvas: HTMLCanvasElement, v: number[], height = 22): number {
  const W = canvas.clientWidth || 300;
  const g = fitCanvas(canvas, W, height);
  const max = Math.max(1e-9, ...v.map(Math.abs));
  const w = W / v.length;
  v.forEach((x, i) => {
    const a = clamp(x / max, -1, 1);
    const l = dark ? 18 + 45 * Math.abs(a) : 97 - 52 * Math.abs(a);
    g.fillStyle = `hsl(${a >= 0 ? 8 : 215}, 80%, ${l}%)`;
    g.fillRect(i * w, 0, Math.ceil(w), height);
  });
  return max;
}

/**
 * Bars for values (one per item), with a zero line; masked items (null) drawn as a grey "−∞"
 * hatch. Heights are scaled to the largest |value|.
 */
export function bars(
  canvas: HTMLCanvasElement,
  v: (number | null)[],
  height = 110,
  colour?: string,
): void {
  const W = canvas.clientWidth || 300;
  const g = fitCanvas(canvas, W, height);
  const vals = v.filter((x): x is number => x !== null);
  const max = Math.max(1e-9, ...vals.map(Math.abs));
  const hasNeg = vals.some((x) => x < 0);
  const zero = hasNeg ? height / 2 : height - 2;
  const span = hasNeg ? height / 2 - 2 : height - 4;
  const w = W / v.length;
  v.forEach((x, i) => {
    if (x === null) {
      g.fillStyle = dark ? "#30363d" : "#d0d7de";
      g.fillRect(i * w, 2, Math.max(1, w - 1), height - 4);
      return;
    }
    const h = (x / max) * span;
    g.fillStyle =
      colour ?? (x >= 0 ? (dark ? "#58a6ff" : "#0a5dc2") : dark ? "#ff8a80" : "#b3261e");
    g.fillRect(i * w, h >= 0 ? zero - h : zero, Math.max(1, w - 1), Math.abs(h));
  });
  g.strokeStyle = mutedInk();
  g.beginPath();
  g.moveTo(0, zero + 0.5);
  g.lineTo(W, zero + 0.5);
  g.stroke();
}
