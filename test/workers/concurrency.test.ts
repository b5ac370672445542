// Many requests in one isolate: each seeded request gives byte-identical text alone and beside
// 15 others, also with a clock that stands still (as production's does during compute); past
// slots + queue (4 + 12 in tests) requests get 503 with Retry-After, and the engine serves
// normally afterwards.

import { beforeAll, describe, expect, it, vi } from "vitest";
import { MODEL, postRaw, seedModel } from "./seed.js";

const complete = (body: object) => postRaw("/v1/completions", { model: MODEL, ...body });

/** The completion text, from JSON or by joining the SSE chunks of a streamed response. */
async function text(body: { stream?: boolean }): Promise<string> {
  const res = await complete(body);
  const raw = await res.text();
  expect(res.status, raw).toBe(200);
  if (!body.stream) return JSON.parse(raw).choices[0].text;
  const events = raw.split("\n\n").filter((e) => e.startsWith("data: "));
  expect(events.at(-1)).toBe("data: [DONE]");
  return events
    .slice(0, -1)
    .map((e) => JSON.parse(e.slice(6)).choices[0]?.text ?? "")
    .join("");
}

const PROMPTS = [
  "ROMEO:",
  "JULIET:\nO Romeo,",
  "First Citizen:\nSpeak, speak.",
  "KING HENRY:",
  "A",
  "Nurse:",
];
const request = (i: number) => ({
  prompt: PROMPTS[i % PROMPTS.length],
  max_tokens: 24,
  temperature: 0.9,
  top_p: 0.95,
  seed: 1000 + i,
  stream: i % 2 === 0, // half of them streamed
});

beforeAll(async () => {
  await seedModel();
});

describe("Concurrent requests", () => {
  it("Should give 16 concurrent seeded requests the same text each gets alone", async () => {
    const alone: string[] = [];
    for (let i = 0; i < 16; i++) alone.push(await text(request(i)));
    const together = await Promise.all(Array.from({ length: 16 }, (_, i) => text(request(i))));
    expect(together).toEqual(alone);
    expect(new Set(alone).size).toBeGreaterThan(8); // the seeds really differ
  });

  it("Should stream and complete 8 requests beside an unread stream with a clock that never moves", async () => {
    const alone: string[] = [];
    for (let i = 0; i < 8; i++) alone.push(await text(request(i)));
    const now = performance.now();
    const clock = vi.spyOn(performance, "now").mockReturnValue(now);
    const frozen = vi.spyOn(Date, "now").mockReturnValue(Date.now());
    try {
      // A stream nobody reads: its writes back up and its driver never returns for its tokens.
      const unread = await complete({ ...request(1), max_tokens: 200, stream: true });
      const together = await Promise.all(Array.from({ length: 8 }, (_, i) => text(request(i))));
      expect(together).toEqual(alone);
      await unread.body!.cancel();
      expect(clock).toHaveBeenCalled(); // the engine did consult the (frozen) clock
    } finally {
      clock.mockRestore();
      frozen.mockRestore();
    }
  });

  it("Should answer 503 with Retry-After past slots + queue, then recover", async () => {
    const responses = await Promise.all(
      Array.from({ length: 24 }, (_, i) => complete({ ...request(i), max_tokens: 40 })),
    );
    // Take the answered bodies at once, as a client does: one left unread while the 503s are
    // checked counts as a client gone after WRITE_STALL_ROUNDS steps (write-watch.ts).
    const bodies = Promise.all(
      responses.filter((r) => r.status === 200).map((r) => r.arrayBuffer()),
    );
    const statuses = responses.map((r) => r.status);
    const busy = responses.filter((r) => r.status === 503);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(16);
    expect(busy.length).toBeGreaterThan(0);
    for (const r of busy) {
      expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(((await r.json()) as any).error).toMatchObject({ type: "service_unavailable" });
    }
    await bodies;
    expect(await text(request(3))).toBe(await text(request(3)));
  });
});
