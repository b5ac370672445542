// Helpers for the demo page's browser checks: assertions, canvas pixel counts, screenshots,
// the API asked directly (to compare the page's numbers with), and waiting for a redraw.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import type { Inspection } from "../../src/inspect/types.js";
import { ROOT } from "../setup/paths.js";
import { MODEL } from "./server.js";

// Functions passed to page.evaluate run in the browser; tsconfig has no DOM lib (the Worker's
// types would clash with it), so the few browser globals they use are declared loosely here.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;

export interface Ctx {
  page: Page;
  origin: string;
  /** Every URL the page requested, in order. */
  requests: string[];
  /** Uncaught exceptions and console errors. */
  errors: string[];
}

export const SHOT_DIR = join(ROOT, ".screenshots");

export function assert(ok: unknown, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Distinct colours among sampled pixels of a canvas: a blank canvas has one or two. */
export function canvasColours(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (el) => {
    const c = el as any;
    const data = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 4 * 3)
      seen.add((data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]);
    return seen.size;
  });
}

export async function nonBlank(page: Page, selector: string): Promise<void> {
  const n = await canvasColours(page, selector);
  assert(n > 2, `${selector} is blank (${n} colours)`);
}

export async function shot(page: Page, section: string, width: number | string): Promise<void> {
  mkdirSync(SHOT_DIR, { recursive: true });
  await page.locator("#" + section).screenshot({ path: join(SHOT_DIR, `${section}-${width}.png`) });
}

export async function inspectApi(
  origin: string,
  body: Record<string, unknown>,
): Promise<Inspection> {
  const res = await fetch(origin + "/v1/inspect", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, top_n: 200, neighbours: 12, ...body }),
  });
  if (!res.ok) throw new Error(`inspect answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Inspection;
}

/** The value of body[data-<key>] now, to wait for it to change. */
export const mark = (page: Page, key: string) =>
  page.evaluate((k) => document.body.dataset[k] ?? "", key);

export async function changed(
  page: Page,
  key: string,
  before: string,
  timeout = 20_000,
): Promise<void> {
  await page.waitForFunction(
    ([k, b]) => (document.body.dataset[k] ?? "") !== b,
    [key, before] as const,
    { timeout },
  );
}

/** Replace the prompt as if typed and wait until every view has redrawn for it. */
export async function setPrompt(page: Page, text: string): Promise<void> {
  const before = await mark(page, "inspected");
  await page.fill("#prompt", text);
  await changed(page, "inspected", before);
}

export async function setRange(page: Page, id: string, value: number): Promise<void> {
  await page.$eval(
    "#" + id,
    (el, v) => {
      (el as any).value = String(v);
      el.dispatchEvent(new (globalThis as any).Event("input", { bubbles: true }));
    },
    value,
  );
}

export const SECTIONS = [
  "s-diagram",
  "s-tokens",
  "s-next",
  "s-lens",
  "s-inside",
  "s-mlp",
  "s-emb",
  "s-scale",
  "s-temps",
  "s-gen",
  "s-att",
  "s-block",
];
