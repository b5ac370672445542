// StreamBody's contract, run in Node (one standard TransformStream) by test/unit and inside
// workerd (its native IdentityTransformStream) by test/workers: writes arrive in order and
// resolve once read, a reader that takes nothing holds the write, a reader that cancels aborts
// the body and settles what was pending, and close() ends the body after the last write.

import { describe, expect, it } from "vitest";
import { StreamBody } from "../../src/routes/stream-body.js";

/** Whether `p` has settled after a few event-loop turns. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  return done;
}

export function streamBodySpec(pipe: string): void {
  describe(`StreamBody (${pipe})`, () => {
    it("Should deliver the writes in order, as UTF-8, and end the body on close", async () => {
      const body = new StreamBody();
      const read = new Response(body.readable).text();
      await body.write("data: é\n\n");
      await body.write("data: [DONE]\n\n");
      await body.close();
      expect(await read).toBe("data: é\n\ndata: [DONE]\n\n");
      expect(body.aborted).toBe(false);
    });

    it("Should hold a write until the reader takes it", async () => {
      const body = new StreamBody();
      const reader = body.readable.getReader();
      const first = body.write("a".repeat(64));
      const second = body.write("b");
      // Nothing has been read: the second write at least must still wait.
      expect(await settled(second)).toBe(false);
      const got: string[] = [];
      const dec = new TextDecoder();
      while (got.join("").length < 65) got.push(dec.decode((await reader.read()).value));
      expect(await settled(first)).toBe(true);
      expect(await settled(second)).toBe(true);
      expect(got.join("")).toBe(`${"a".repeat(64)}b`);
    });

    it("Should abort once, settle a pending write and tell its listeners when the reader cancels", async () => {
      const body = new StreamBody();
      let calls = 0;
      body.onAbort(() => calls++);
      const reader = body.readable.getReader();
      await Promise.all([body.write("x"), reader.read()]);
      const pending = body.write("y".repeat(1 << 16));
      await reader.cancel(new Error("client gone"));
      expect(await settled(pending)).toBe(true); // resolved, not rejected: writes never throw
      expect(body.aborted).toBe(true);
      expect(calls).toBe(1);
      await body.write("ignored"); // after the abort a write is a no-op
      await body.close();
      body.abort();
      expect(calls).toBe(1);
    });

    it("Should settle a write no reader will take when abort() is called", async () => {
      const body = new StreamBody();
      let calls = 0;
      body.onAbort(() => calls++);
      const pending = body.write("z".repeat(1 << 16));
      expect(await settled(pending)).toBe(false);
      body.abort();
      expect(await settled(pending)).toBe(true);
      expect(calls).toBe(1);
      // The body errors (the client sees a cut, not a clean end).
      await expect(new Response(body.readable).text()).rejects.toThrow("aborted");
    });
  });
}
