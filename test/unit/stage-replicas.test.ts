// STAGE_REPLICAS: parsed and checked once (a clear error naming what is wrong), each request's
// continent mapped to a replica, the default when unset; and every stub of a stage object,
// the gateway's and the first stage's, created with its replica's location hint.

import { describe, expect, it } from "vitest";
import { linkTo, stageStub, type StageNamespace } from "../../src/stage/links.js";
import {
  DEFAULT_PLACEMENT,
  parsePlacement,
  placementOf,
  PlacementConfigError,
  replicaFor,
} from "../../src/stage/replicas.js";

const CONFIG = {
  replicas: { eu: "weur", us: "enam", default: null },
  continents: { EU: "eu", AF: "eu", NA: "us" },
  fallback: "default",
};

describe("parsePlacement", () => {
  it("Should read unset or empty as one replica named default with no hint", () => {
    for (const raw of [undefined, null, "", "  "])
      expect(parsePlacement(raw)).toEqual(DEFAULT_PLACEMENT);
    expect(DEFAULT_PLACEMENT.replicas).toEqual([{ name: "default" }]);
  });

  it("Should read a JSON string and a TOML table ([vars] gives an object) alike", () => {
    const want = {
      replicas: [{ name: "eu", hint: "weur" }, { name: "us", hint: "enam" }, { name: "default" }],
      continents: { EU: "eu", AF: "eu", NA: "us" },
      fallback: "default",
    };
    expect(parsePlacement(JSON.stringify(CONFIG))).toEqual(want);
    expect(parsePlacement(CONFIG)).toEqual(want);
  });

  it("Should take the only replica as the fallback when none is named", () => {
    expect(parsePlacement({ replicas: { eu: "weur" } })).toEqual({
      replicas: [{ name: "eu", hint: "weur" }],
      continents: {},
      fallback: "eu",
    });
  });

  const bad: [string, unknown, RegExp][] = [
    ["not JSON", "{replicas: 1}", /not JSON/],
    ["an array", "[]", /must be an object/],
    ["a misspelt key", { ...CONFIG, continent: {} }, /unknown key 'continent'/],
    ["no replicas", { replicas: {} }, /at least one replica/],
    ["an unknown hint", { replicas: { eu: "europe" } }, /'europe' is not a location hint.*weur/],
    ["a bad replica name", { replicas: { "EU West": null } }, /replica name 'EU West'/],
    ["an unknown continent", { ...CONFIG, continents: { EUR: "eu" } }, /'EUR' is not a continent/],
    [
      "a continent to no replica",
      { ...CONFIG, continents: { EU: "europe" } },
      /'europe'.*not a replica/,
    ],
    ["two replicas, no fallback", { replicas: { eu: null, us: null } }, /'fallback' names/],
    [
      "a fallback to no replica",
      { ...CONFIG, fallback: "asia" },
      /fallback 'asia' is not a replica/,
    ],
  ];
  for (const [what, raw, message] of bad) {
    it(`Should refuse ${what} with a PlacementConfigError saying so`, () => {
      expect(() => parsePlacement(raw)).toThrow(PlacementConfigError);
      expect(() => parsePlacement(raw)).toThrow(message);
    });
  }
});

describe("replicaFor", () => {
  const p = parsePlacement(CONFIG);

  it("Should send a request to the replica its continent maps to", () => {
    expect(replicaFor(p, "EU")).toEqual({ name: "eu", hint: "weur" });
    expect(replicaFor(p, "AF")).toEqual({ name: "eu", hint: "weur" });
    expect(replicaFor(p, "NA")).toEqual({ name: "us", hint: "enam" });
  });

  it("Should send unlisted continents and requests without one to the fallback", () => {
    for (const c of ["SA", "AS", undefined, "T1"])
      expect(replicaFor(p, c)).toEqual({ name: "default" });
  });

  it("Should send everything to default when STAGE_REPLICAS is unset", () => {
    expect(replicaFor(DEFAULT_PLACEMENT, "EU")).toEqual({ name: "default" });
  });
});

describe("placementOf", () => {
  it("Should fall back to the default placement on a bad value, logging the error once", () => {
    const logged: string[] = [];
    const got = placementOf('{"replicas": {"eu": "mars"}}', (m) => logged.push(m));
    expect(got.placement).toEqual(DEFAULT_PLACEMENT);
    expect(got.error).toMatch(/'mars' is not a location hint/);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/'mars'.*replica 'default' meanwhile/);
  });

  it("Should log nothing for a good value", () => {
    const logged: string[] = [];
    expect(placementOf(CONFIG, (m) => logged.push(m))).toEqual({
      placement: parsePlacement(CONFIG),
    });
    expect(logged).toEqual([]);
  });
});

/** A namespace that records each stub asked of it; its stubs answer a later stage's status. */
function recordingNamespace() {
  const asked: [string, object | undefined][] = [];
  const ns: StageNamespace = {
    getByName(name, options) {
      asked.push([name, options]);
      return { status: async () => ({ stage: 1 }) };
    },
  };
  return { ns, asked };
}

describe("stageStub and linkTo", () => {
  it("Should create a replica's object with its location hint, or with none", () => {
    const { ns, asked } = recordingNamespace();
    stageStub(ns, "replica:eu", "weur");
    stageStub(ns, "replica:default");
    expect(asked).toEqual([
      ["replica:eu", { locationHint: "weur" }],
      ["replica:default", {}],
    ]);
  });

  it("Should call a later stage through one stub with the hint, a new one only after a failure", async () => {
    // One stub keeps the calls in order (E-order): frees-only calls are not overtaken. Stub 0
    // throws on its third call, as a broken stub does; stub 1 answers.
    const asked: [string, object | undefined][] = [];
    const calls = [0, 0];
    const ns: StageNamespace = {
      getByName(name, options) {
        const k = asked.push([name, options]) - 1;
        return {
          status: async () => {
            if (k === 0 && ++calls[0] === 3) throw new Error("disconnected");
            if (k === 1) calls[1]++;
            return { stage: 1, stub: k };
          },
        };
      },
    };
    const link = linkTo(ns, 1, "replica:eu", "weur", 1000);
    expect(await link.status()).toEqual({ stage: 1, stub: 0 });
    expect(await link.status()).toEqual({ stage: 1, stub: 0 });
    expect(asked).toHaveLength(1);
    expect(await link.status()).toEqual({ stage: 1, stub: 1 }); // retried on a new stub
    expect(await link.status()).toEqual({ stage: 1, stub: 1 });
    expect(asked).toEqual([
      ["replica:eu", { locationHint: "weur" }],
      ["replica:eu", { locationHint: "weur" }],
    ]);
    expect(calls).toEqual([3, 2]);
  });
});
