// The demo page's end-to-end checks, in the order a visitor would go: type a prompt, read the
// tokens, slide the temperature, step, generate, open attention and the 3D view, then a phone
// screen. Each check is a sentence and throws on failure; they share one page.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { ROOT } from "../setup/paths.js";
import { MODEL } from "./server.js";

// Functions passed to page.evaluate run in the browser; tsconfig has no DOM lib (the Worker's
// types would clash with it), so the few browser globals they use are declared loosely here.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;
declare const MutationObserver: any;

export interface Ctx {
  page: Page;
  origin: string;
  /** Every URL the page requested, in order. */
  requests: string[];
  /** Uncaught exceptions and console errors. */
  errors: string[];
}

export const SHOT_DIR = join(ROOT, ".screenshots");
const PROMPT = "To be, or not to be: that is the question.";

function assert(ok: unknown, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

const barTexts = (page: Page) => page.locator("#bars .bar-row .p").allTextContents();
const inspectCalls = (c: Ctx) => c.requests.filter((u) => u.endsWith("/v1/inspect")).length;

/** Distinct colours among sampled pixels of a canvas: a blank canvas has one or two. */
function canvasColours(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (el) => {
    const c = el as any;
    const data = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 4 * 7)
      seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  });
}

/** A cheap fingerprint of a canvas's pixels, to see that it was redrawn differently. */
function canvasHash(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (el) => {
    const c = el as any;
    const data = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < data.length; i += 13) h = (Math.imul(h, 31) + data[i]) | 0;
    return h;
  });
}

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SHOT_DIR, name), fullPage: true });
  console.log(`  screenshot .screenshots/${name}`);
}

export const checks: [string, (c: Ctx) => Promise<void>][] = [
  [
    "The page loads and shows the default prompt as token chips",
    async ({ page, origin }) => {
      await page.goto(origin + "/");
      await page.waitForSelector("#chips .chip", { timeout: 60_000 });
      assert(
        (await page.locator("#chips .chip").count()) > 3,
        "expected several chips for the default prompt",
      );
    },
  ],

  [
    "Typing a prompt shows its tokens as chips with their ids",
    async ({ page, origin }) => {
      await page.fill("#prompt", "");
      await page.locator("#prompt").pressSequentially(PROMPT, { delay: 5 });
      const visible = PROMPT.replace(/ /g, "·");
      await page.waitForFunction(
        (v) =>
          [...document.querySelectorAll("#chips .chip .t")]
            .map((e: any) => e.textContent)
            .join("") === v,
        visible,
        { timeout: 30_000 },
      );
      const res = await fetch(origin + "/v1/tokenize", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, prompt: PROMPT }),
      });
      const want = ((await res.json()) as { tokens: number[] }).tokens;
      const ids = (await page.locator("#chips .chip .id").allTextContents()).map(Number);
      assert(JSON.stringify(ids) === JSON.stringify(want), `chip ids ${ids} != tokenize ${want}`);
    },
  ],

  [
    "Tabbing to a chip shows its bytes and merges",
    async ({ page }) => {
      await page.focus("#chip-colour");
      await page.keyboard.press("Tab");
      const focused = await page.evaluate(() => document.activeElement?.className);
      assert(focused === "chip", `Tab after the colour menu focused '${focused}', not a chip`);
      await page.waitForSelector("#tip:not([hidden])");
      const tip = await page.textContent("#tip");
      assert(tip?.includes("bytes:") && tip.includes("id "), `tooltip lacks bytes/id: ${tip}`);
    },
  ],

  [
    "Moving the temperature slider reshapes the bars without a new forward pass",
    async (c) => {
      const { page } = c;
      const calls = inspectCalls(c);
      const before = await barTexts(page);
      await page.focus("#temp");
      await page.keyboard.press("End"); // temperature 2
      const hot = await barTexts(page);
      await page.keyboard.press("Home"); // temperature 0: greedy
      const greedy = await barTexts(page);
      assert(
        JSON.stringify(hot) !== JSON.stringify(before),
        "bars did not change at temperature 2",
      );
      assert(
        parseFloat(hot[0]) < parseFloat(before[0]),
        `top bar ${hot[0]} not lower than ${before[0]}`,
      );
      assert(greedy[0] === "100%" && greedy[1] === "0.0%", `greedy bars: ${greedy.slice(0, 2)}`);
      assert(inspectCalls(c) === calls, "moving the slider sent another /v1/inspect");
      await page.fill("#temp", "0.8");
      await page.fill("#topk", "5");
      assert((await page.locator("#bars .cutline").count()) === 1, "no top-k cut line drawn");
      assert(
        (await page.locator("#bars .bar-row.cut").count()) === 15,
        "expected 15 of 20 bars cut by top-k = 5",
      );
      await page.fill("#topk", "0");
    },
  ],

  [
    "Step samples one token, shows the distribution it came from, and appends it",
    async ({ page }) => {
      const prompt = await page.inputValue("#prompt");
      await page.click("#step");
      await page.waitForSelector("#steps li", { timeout: 30_000 });
      const text = await page.textContent("#steps li");
      assert(text?.startsWith("sampled "), `step log: ${text}`);
      assert(
        (await page.locator("#steps li .mini span").count()) > 0,
        "no mini distribution in the step log",
      );
      await page.waitForFunction((p) => document.getElementById("prompt").value !== p, prompt);
      // Then the page inspects the longer prompt: its chips must catch up with the text.
      const longer = (await page.inputValue("#prompt")).length;
      await page.waitForFunction(
        (n) => document.getElementById("token-count").textContent.endsWith(n + " characters"),
        longer,
      );
    },
  ],

  [
    "Generate streams text token by token, each coloured by its probability",
    async ({ page }) => {
      await page.fill("#max-tokens", "40");
      await page.evaluate(() => {
        const w = window as { batches: number[] };
        w.batches = [];
        new MutationObserver(() =>
          w.batches.push(document.querySelectorAll("#out .g").length),
        ).observe(document.getElementById("out")!, { childList: true });
      });
      await page.click("#generate");
      await page.waitForFunction(
        () => /finished|stopped|Error/.test(document.getElementById("gen-status")!.textContent!),
        null,
        {
          timeout: 90_000,
        },
      );
      const status = await page.textContent("#gen-status");
      assert(!status?.includes("Error"), `generation failed: ${status}`);
      const n = await page.locator("#out .g").count();
      const batches = await page.evaluate(
        () => new Set((window as { batches: number[] }).batches).size,
      );
      assert(n >= 5, `only ${n} generated tokens shown`);
      assert(batches >= 3, `text arrived in ${batches} updates: not streamed`);
      const bg = await page.$eval("#out .g", (e) => (e as any).style.background);
      assert(bg.includes("hsla") || bg.includes("rgba"), `token not shaded: '${bg}'`);
    },
  ],

  [
    "The attention view draws a heatmap, every head, and arcs",
    async ({ page }) => {
      await page.locator("#s-att").scrollIntoViewIfNeeded();
      await page.waitForFunction(() => document.querySelectorAll("#heads .head").length === 16);
      const colours = await canvasColours(page, "#heat");
      assert(colours >= 8, `heatmap looks blank: ${colours} colours`);
      const before = await canvasHash(page, "#heat");
      await page.locator("#heads .head").nth(5).click(); // layer 1, head 1
      assert((await page.inputValue("#layer")) === "1", "clicking a head did not choose its layer");
      assert((await canvasHash(page, "#heat")) !== before, "heatmap did not change with the head");
      assert((await page.locator("#arcs path").count()) > 0, "no attention arcs drawn");
      await page.focus("#heat");
      await page.keyboard.press("ArrowUp");
      const read = await page.textContent("#heat-read");
      assert(read?.includes("reads"), `no keyboard readout: ${read}`);
    },
  ],

  [
    "The 3D view draws the embeddings and rotates with the keyboard",
    async ({ page }) => {
      await page.locator("#s-emb").scrollIntoViewIfNeeded();
      assert((await canvasColours(page, "#cloud")) >= 4, "3D canvas looks blank");
      const a = await canvasHash(page, "#cloud");
      await page.focus("#cloud");
      await page.keyboard.press("ArrowRight");
      const b = await canvasHash(page, "#cloud");
      assert(a !== b, "arrow key did not rotate the view");
      await page.check('input[name="emb-mode"][value="hidden"]');
      assert(
        (await canvasHash(page, "#cloud")) !== b,
        "residual-stream view looks the same as wte",
      );
      await page.waitForFunction(() => document.querySelectorAll("#neigh li .mono").length >= 5);
    },
  ],

  [
    "Inside a block lists every matrix and the time of every stage",
    async ({ page }) => {
      assert(
        (await page.locator("#sizes tr").count()) === 7,
        "expected a header and 6 matrix groups",
      );
      assert((await page.locator("#times .bar-row").count()) === 11, "expected 11 timed stages");
      await shot(page, "desktop.png");
    },
  ],

  [
    "On a 375 px phone screen nothing scrolls sideways",
    async ({ page }) => {
      await page.setViewportSize({ width: 375, height: 812 });
      await page.reload();
      await page.waitForSelector("#chips .chip", { timeout: 60_000 });
      await page.waitForSelector("#heads .head");
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert(width <= 375, `page is ${width} px wide on a 375 px screen`);
      await shot(page, "phone.png");
      await page.setViewportSize({ width: 1280, height: 900 });
    },
  ],

  [
    "The API refuses a 129-token inspection with a 400 in OpenAI's error shape",
    async ({ origin }) => {
      const res = await fetch(origin + "/v1/inspect", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, prompt: " the".repeat(129) }),
      });
      const body = (await res.json()) as { error: Record<string, unknown> };
      assert(res.status === 400, `status ${res.status}`);
      assert(
        body.error.param === "prompt" && body.error.code === "context_length_exceeded",
        JSON.stringify(body),
      );
      assert(Object.keys(body.error).sort().join() === "code,message,param,type", "error keys");
    },
  ],

  [
    "The page made no request outside its own origin",
    async ({ origin, requests }) => {
      const outside = requests.filter((u) => !u.startsWith(origin + "/") && !u.startsWith("data:"));
      assert(requests.length > 5, `only ${requests.length} requests recorded`);
      assert(outside.length === 0, `requests outside ${origin}: ${outside.join(", ")}`);
    },
  ],

  [
    "The page threw no script errors",
    async ({ errors }) => {
      assert(errors.length === 0, errors.join("\n"));
    },
  ],
];
