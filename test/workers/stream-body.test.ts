// StreamBody inside workerd, on its native IdentityTransformStream (what the Worker serves with).
import { expect, it } from "vitest";
import { streamBodySpec } from "../helpers/stream-body-spec.js";

it("Should find workerd's IdentityTransformStream", () => {
  expect(typeof (globalThis as { IdentityTransformStream?: unknown }).IdentityTransformStream).toBe(
    "function",
  );
});

streamBodySpec("IdentityTransformStream");
