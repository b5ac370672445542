// DOM and formatting helpers shared by every view of the demo page: element builders that never
// parse text as HTML, token text with visible whitespace, percentages and integers.

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page: no element #${id}`);
  return e as T;
};

type Kid = Node | string;

/** Build an element: el("li", {class: "x"}, ["text", child]). Text is never parsed as HTML. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  kids: Kid[] = [],
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...kids);
  return e;
}

const SVG = "http://www.w3.org/2000/svg";
export function svgEl(tag: string, attrs: Record<string, string | number> = {}): SVGElement {
  const e = document.createElementNS(SVG, tag) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** Token text with whitespace made visible: space ·, newline ↵, tab →. */
export function vis(s: string): string {
  if (s === "") return "∅";
  return s.replace(/ /g, "·").replace(/\n/g, "↵").replace(/\r/g, "␍").replace(/\t/g, "→");
}

/**
 * A probability (or share) as a percentage with one decimal: the one format of every view. What
 * would round to 0.0% shows as "<0.1%" (0 too: the server rounds probabilities to 5 decimals, so a
 * 0 is a small probability, not an impossible token); what would round to 100.0% as "100%".
 */
export function pct(p: number): string {
  const tenths = Math.round(1000 * p); // in 0.1% steps
  if (tenths <= 0) return "<0.1%";
  if (tenths >= 1000) return "100%";
  return (tenths / 10).toFixed(1) + "%";
}

export const hex = (bytes: number[]) =>
  bytes.map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(" ");

export const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");

/** 1.2K, 3.4M, 175B: parameter counts at a glance. */
export function fmtCount(n: number): string {
  const units: [number, string][] = [
    [1e9, "B"],
    [1e6, "M"],
    [1e3, "K"],
  ];
  for (const [u, s] of units) if (n >= u) return (n / u).toFixed(n >= 10 * u ? 0 : 1) + s;
  return String(Math.round(n));
}

export const fmtBytes = (b: number) =>
  b >= 1048576 ? (b / 1048576).toFixed(1) + " MiB" : (b / 1024).toFixed(1) + " KiB";

export const dark = window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;

export const clamp = (x: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, x));

/** Size a canvas to its CSS box at the device's pixel ratio; returns the context in CSS px. */
export function fitCanvas(c: HTMLCanvasElement, W: number, H: number): CanvasRenderingContext2D {
  const ratio = window.devicePixelRatio || 1;
  c.width = Math.round(W * ratio);
  c.height = Math.round(H * ratio);
  const g = c.getContext("2d")!;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, W, H);
  return g;
}

export const ink = () => (dark ? "#e6edf3" : "#1b1f24");
export const mutedInk = () => (dark ? "#9ea7b3" : "#57606a");
export const accent = () => (dark ? "#58a6ff" : "#0a5dc2");
