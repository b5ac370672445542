import { exports } from "cloudflare:workers";
import OpenAI from "openai";
import OpenAI4 from "openai4";
import { beforeAll, expect, it } from "vitest";
import { MODEL, seedModel } from "./seed.js";
const worker = () => (exports as unknown as { default: { fetch: typeof fetch } }).default;
beforeAll(async () => { await seedModel(); });
for (const [name, C] of [["v7", OpenAI], ["v4", OpenAI4]] as const) {
  it(`probe ${name}`, async () => {
    const client = new (C as any)({ baseURL: "http://gpt-edge.test/v1", apiKey: "t", maxRetries: 0,
      fetch: async (url: any, init: any) => worker().fetch(url, init) });
    const r = await client.completions.create({ model: MODEL, prompt: "ROMEO:", max_tokens: 5 });
    console.log(name, JSON.stringify(r));
    const s = await client.completions.create({ model: MODEL, prompt: "ROMEO:", max_tokens: 5, stream: true, stream_options: {include_usage: true} });
    for await (const ch of s) console.log(name, JSON.stringify(ch));
    expect(r.choices.length).toBe(1);
  });
}
