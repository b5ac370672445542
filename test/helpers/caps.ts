// Server caps for tests that build the app over a registry in Node: small, with what a test
// needs changed.

import type { ServerCaps } from "../../src/routes/context.js";

export const testCaps = (changes: Partial<ServerCaps> = {}): ServerCaps => ({
  maxN: 4,
  maxTokens: 256,
  maxPromptTokens: 256,
  maxChoices: 8,
  maxBodyBytes: 1 << 20,
  maxTokenizeChars: 1 << 17,
  maxTokenizeTokens: 1 << 15,
  maxResponseBytes: 1 << 21,
  streamStallMs: 30_000,
  ...changes,
});
