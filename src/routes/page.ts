// GET /: the interactive "see inside the model" page, plus its stylesheet and script as
// same-origin assets with a content hash in the URL (cached for good, replaced on change). A
// Content-Security-Policy allows nothing but this origin, so the page works offline and cannot
// contact another site. The pieces live in ./page/.

import { Hono } from "hono";
import type { AppEnv } from "./context.js";
import { pageCss } from "./page/css.js";
import { pageHtml } from "./page/html.js";
import { jsAtt } from "./page/js-att.js";
import { jsBlock } from "./page/js-block.js";
import { jsCore } from "./page/js-core.js";
import { jsDist } from "./page/js-dist.js";
import { jsEmb } from "./page/js-emb.js";
import { jsGen } from "./page/js-gen.js";

/** All parts share one function scope; jsBlock runs the start-up calls last. */
const JS = `(function () {\n"use strict";\n${[jsCore, jsDist, jsGen, jsAtt, jsEmb, jsBlock].join("\n")}\n})();\n`;

/** FNV-1a, 32-bit: a cache-busting tag, not a security hash. */
function tag(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

const CSS_URL = `/assets/page.${tag(pageCss)}.css`;
const JS_URL = `/assets/page.${tag(JS)}.js`;
const HTML = pageHtml(CSS_URL, JS_URL);

const CSP = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const IMMUTABLE = "public, max-age=31536000, immutable"; // the URL changes whenever the content does

export const page = new Hono<AppEnv>()
  .get("/", (c) => {
    c.header("content-security-policy", CSP);
    c.header("cache-control", "no-cache");
    return c.html(HTML);
  })
  .get(CSS_URL, (c) => {
    c.header("cache-control", IMMUTABLE);
    return c.body(pageCss, 200, { "content-type": "text/css; charset=utf-8" });
  })
  .get(JS_URL, (c) => {
    c.header("cache-control", IMMUTABLE);
    return c.body(JS, 200, { "content-type": "text/javascript; charset=utf-8" });
  });

/** The script as served, for tests that parse it. */
export const pageScript = JS;
