// The demo page without a browser: its script parses, its assets are served under hashed URLs,
// and its Content-Security-Policy allows no other origin (test/browser checks the behaviour).

import { describe, expect, it } from "vitest";
import { page, pageScript } from "../../src/routes/page.js";

describe("GET /", () => {
  it("Should serve a script that parses as JavaScript", () => {
    expect(() => new Function(pageScript)).not.toThrow();
  });

  it("Should link its stylesheet and script by content-hashed same-origin URLs", async () => {
    const res = await page.request("/");
    const html = await res.text();
    const css = html.match(/href="(\/assets\/page\.[0-9a-f]{12}\.css)"/)?.[1];
    const js = html.match(/src="(\/assets\/page\.[0-9a-f]{12}\.js)"/)?.[1];
    expect(css && js).toBeTruthy();
    const script = await page.request(js!);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect(script.headers.get("cache-control")).toContain("immutable");
    expect(await script.text()).toBe(pageScript);
    expect((await page.request(css!)).status).toBe(200);
  });

  it("Should forbid every other origin in its Content-Security-Policy", async () => {
    const csp = (await page.request("/")).headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/https?:|\*/);
  });
});
