// The demo page without a browser: its script parses, its assets are served under hashed URLs,
// its Content-Security-Policy allows no other origin, and the bars' cut-off arithmetic matches
// the sampler's order (test/browser checks the behaviour).

import { describe, expect, it } from "vitest";
import type { NextTokens } from "../../src/inspect/types.js";
import { cut } from "../../src/page/dist.js";
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

describe("the page's next-token cut-offs (src/page/dist.ts)", () => {
  // A whole 6-token vocabulary, so the page holds every token and every answer is exact.
  const logits = [3, 2.5, 1, 0.5, 0, -1];
  const V = logits.length;
  const temps = Array.from({ length: 40 }, (_, i) => Math.round((i + 1) * 5) / 100);
  const next: NextTokens = {
    top: logits.map((logit, id) => ({ id, text: String(id), logit })),
    max_logit: 3,
    temperatures: temps,
    log_z: temps.map((T) => Math.log(logits.reduce((s, z) => s + Math.exp((z - 3) / T), 0))),
    entropy: 0,
  };
  const softmax = (T: number) => {
    const e = logits.map((z) => Math.exp(z / T));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  };

  it("Should give softmax(z / T) over the vocabulary at every slider step", () => {
    for (const T of [0.05, 0.5, 1, 1.8]) {
      const c = cut(next, T, 0, 1, 0);
      c.probs.forEach((p, i) => expect(p).toBeCloseTo(softmax(T)[i], 9));
      expect(c.by).toBeNull();
    }
  });

  it("Should cut by top-k, then top-p against the survivors' mass, then min-p, and renormalise", () => {
    const p1 = softmax(1);
    const k = cut(next, 1, 3, 1, 0);
    expect([k.end, k.by]).toEqual([3, "top-k"]);
    expect(k.sample.slice(3)).toEqual([0, 0, 0]);
    expect(k.sample[0]).toBeCloseTo(p1[0] / (p1[0] + p1[1] + p1[2]), 12);
    const p = cut(next, 1, 0, 0.7, 0); // 0.51 + 0.31 ≥ 0.7: two tokens
    expect([p.end, p.by]).toEqual([2, "top-p"]);
    const m = cut(next, 1, 0, 1, 0.5); // p ≥ 0.5 · p_max keeps tokens 0 and 1
    expect([m.end, m.by]).toEqual([2, "min-p"]);
    for (const c of [k, p, m]) expect(c.sample.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(cut(next, 0, 3, 0.5, 0.2).sample).toEqual([1, 0, 0, 0, 0, 0]); // greedy
    expect(V).toBe(6);
  });
});
