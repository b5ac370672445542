// StreamBody on Node's standard TransformStream (no IdentityTransformStream outside workerd).
import { expect, it } from "vitest";
import { streamBodySpec } from "../helpers/stream-body-spec.js";

it("Should run without workerd's IdentityTransformStream here", () => {
  expect((globalThis as { IdentityTransformStream?: unknown }).IdentityTransformStream).toBe(
    undefined,
  );
});

streamBodySpec("TransformStream");
