// Placement of a staged model's replicas: STAGE_REPLICAS (vitest.config.mts: replicas default,
// eu near weur, oc near oc; EU -> eu, OC -> oc, the rest -> default) sends a request to the
// replica of its cf.continent, whose own first stage (and later stages) serve it with the same
// greedy text as the default replica; /v1/status lists every replica with its hint.

import { beforeAll, describe, expect, it } from "vitest";
import stagedPack from "../../build/test/tiny-2stage.bin";
import { STAGED_MODEL } from "../setup/paths.js";
import { seedModel, seedPack, send, worker } from "../workers/seed.js";

beforeAll(async () => {
  await seedModel();
  await seedPack(stagedPack, STAGED_MODEL);
});

/** A greedy completion's text, from a request that comes from `continent` (none: unknown). */
async function complete(prompt: string, continent?: string): Promise<string> {
  const req = new Request("http://gpt-edge.test/v1/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: STAGED_MODEL, prompt, max_tokens: 16, temperature: 0 }),
    ...(continent ? { cf: { continent } as RequestInitCfProperties } : {}),
  });
  const res = await worker().fetch(req);
  const raw = await res.text();
  expect(res.status, raw).toBe(200);
  return JSON.parse(raw).choices[0].text;
}

interface ReplicaStatus {
  replica: string;
  hint: string | null;
  continents: string[];
  fallback: boolean;
  stages: { stage: number; loaded: boolean; hint?: string | null; tokens?: number }[];
}

/** Every replica of the staged model as GET /v1/status lists them. */
async function replicas(): Promise<Record<string, ReplicaStatus>> {
  const { json } = await send("/v1/status");
  const model = json.models.find((m: { id: string }) => m.id === STAGED_MODEL);
  return Object.fromEntries(model.replicas.map((r: ReplicaStatus) => [r.replica, r]));
}

/** Tokens a replica's first stage has generated (0 before it has loaded). */
const tokens = (r: ReplicaStatus) => r.stages[0].tokens ?? 0;

describe("Replicas of a staged model, chosen by the request's continent", () => {
  it("Should serve a request from Europe in the eu replica, with the default replica's text", async () => {
    const want = await complete("ROMEO:"); // no continent: the fallback, default
    const before = await replicas();
    expect(await complete("ROMEO:", "EU")).toBe(want);
    const after = await replicas();
    expect(tokens(after.eu)).toBeGreaterThan(tokens(before.eu));
    expect(after.eu.stages.map((s) => s.loaded)).toEqual([true, true]);
    expect(tokens(after.default)).toBe(tokens(before.default));
    expect(after.oc.stages[0].loaded).toBe(false); // nothing from Oceania yet
  });

  it("Should send a continent no replica is named for to the fallback", async () => {
    const before = await replicas();
    const text = await complete("JULIET:", "SA");
    const after = await replicas();
    expect(tokens(after.default)).toBeGreaterThan(tokens(before.default));
    expect(tokens(after.eu)).toBe(tokens(before.eu));
    expect(await complete("JULIET:", "EU")).toBe(text);
  });

  it("Should list every replica with its hint and continents, each stage's object created near it", async () => {
    await complete("A", "EU");
    const list = await replicas();
    expect(Object.keys(list)).toEqual(["default", "eu", "oc"]);
    expect(list.default).toMatchObject({ hint: null, continents: [], fallback: true });
    expect(list.eu).toMatchObject({ hint: "weur", continents: ["EU"], fallback: false });
    expect(list.oc).toMatchObject({ hint: "oc", continents: ["OC"], fallback: false });
    // each stage's object created with its replica's hint: stage 0 by the gateway, 1 by stage 0
    expect(list.eu.stages.map((s) => [s.stage, s.hint])).toEqual([
      [0, "weur"],
      [1, "weur"],
    ]);
    expect(list.default.stages.map((s) => s.hint)).toEqual([null, null]);
  });
});
