// GET /: the interactive "see inside the model" page, plus its script and stylesheet as
// same-origin assets with a content hash in the URL (cached for good, replaced on change). The
// assets are built from src/page/ by `npm run build:page` (esbuild) into build/page-assets.json.
// A Content-Security-Policy allows nothing but this origin, so the page cannot contact another site.

import { Hono } from "hono";
import assets from "../../build/page-assets.json";
import type { AppEnv } from "./context.js";
import { pageHtml } from "./page/html.js";

const CSS_URL = `/assets/${assets.css.name}`;
const JS_URL = `/assets/${assets.js.name}`;
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
    return c.body(assets.css.body, 200, { "content-type": "text/css; charset=utf-8" });
  })
  .get(JS_URL, (c) => {
    c.header("cache-control", IMMUTABLE);
    return c.body(assets.js.body, 200, { "content-type": "text/javascript; charset=utf-8" });
  });

/** The script as served, for tests that parse it. */
export const pageScript = assets.js.body;
