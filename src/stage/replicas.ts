// Which replica of a staged model serves a request: STAGE_REPLICAS (the gateway's [vars]) names
// the replicas, each with an optional Durable Objects location hint, and maps the continent a
// request comes from (request.cf.continent) to one of them, with a fallback for the rest.
// Parsed once per isolate; plain data in, plain data out, so it runs in Node as well.

/** Cloudflare's location hints for a Durable Object (where it is created; a hint, not a promise). */
export const LOCATION_HINTS = [
  "wnam",
  "enam",
  "sam",
  "weur",
  "eeur",
  "apac",
  "oc",
  "afr",
  "me",
] as const satisfies readonly DurableObjectLocationHint[];
export type LocationHint = (typeof LOCATION_HINTS)[number];

/** The values of request.cf.continent. */
export const CONTINENTS = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"] as const;

/** One replica: every stage's object of it is named after it; the first is created near `hint`. */
export interface Replica {
  name: string;
  hint?: LocationHint;
}

export interface Placement {
  replicas: Replica[];
  /** Continent code -> replica name; continents not listed go to `fallback`. */
  continents: Record<string, string>;
  fallback: string;
}

/** STAGE_REPLICAS unset: one replica named default, no hint (Cloudflare places it). */
export const DEFAULT_PLACEMENT: Placement = {
  replicas: [{ name: "default" }],
  continents: {},
  fallback: "default",
};

export class PlacementConfigError extends Error {
  name = "PlacementConfigError";
}

/** Replica names become Durable Object names and /v1/status entries: keep them plain. */
const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const EXAMPLE =
  `e.g. {"replicas": {"eu": "weur", "us": "enam"}, "continents": {"EU": "eu", "AF": "eu"}, ` +
  `"fallback": "us"}`;

/**
 * STAGE_REPLICAS as [vars] gives it (a JSON string, or an object from a TOML table), checked;
 * unset or empty means DEFAULT_PLACEMENT. Throws PlacementConfigError saying what is wrong.
 */
export function parsePlacement(raw: unknown): Placement {
  if (raw === undefined || raw === null || (typeof raw === "string" && raw.trim() === ""))
    return DEFAULT_PLACEMENT;
  const bad = (what: string) => new PlacementConfigError(`STAGE_REPLICAS: ${what}; ${EXAMPLE}`);
  let v = raw;
  if (typeof raw === "string") {
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw bad(`not JSON (${(e as Error).message})`);
    }
  }
  if (!isRecord(v)) throw bad("must be an object");
  const extra = Object.keys(v).filter((k) => !["replicas", "continents", "fallback"].includes(k));
  if (extra.length) throw bad(`unknown key '${extra[0]}' (keys: replicas, continents, fallback)`);
  const replicas = replicasOf(v.replicas, bad);
  const known = (name: unknown) => replicas.some((r) => r.name === name);
  const continents: Record<string, string> = {};
  const given = v.continents ?? {};
  if (!isRecord(given)) throw bad("continents must map continent codes to replica names");
  for (const [code, name] of Object.entries(given)) {
    if (!(CONTINENTS as readonly string[]).includes(code))
      throw bad(`continents: '${code}' is not a continent code (${CONTINENTS.join(", ")})`);
    if (!known(name)) throw bad(`continents: ${code} goes to '${name}', which is not a replica`);
    continents[code] = name as string;
  }
  const fallback = v.fallback ?? (replicas.length === 1 ? replicas[0].name : undefined);
  if (fallback === undefined)
    throw bad("with more than one replica, 'fallback' names the one for unlisted continents");
  if (!known(fallback)) throw bad(`fallback '${fallback}' is not a replica`);
  return { replicas, continents, fallback: fallback as string };
}

/** The replicas object: name -> location hint, or null for none. */
function replicasOf(v: unknown, bad: (what: string) => Error): Replica[] {
  if (!isRecord(v) || Object.keys(v).length === 0)
    throw bad("replicas must map at least one replica name to a location hint or null");
  return Object.entries(v).map(([name, hint]) => {
    if (!NAME.test(name))
      throw bad(`replica name '${name}' must be 1-32 of a-z, 0-9, '-', '_' (starting a-z0-9)`);
    if (hint === null) return { name };
    if (!(LOCATION_HINTS as readonly unknown[]).includes(hint))
      throw bad(
        `replica '${name}': '${hint}' is not a location hint (${LOCATION_HINTS.join(", ")})`,
      );
    return { name, hint: hint as LocationHint };
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The replica serving a request from `continent` (request.cf.continent; absent locally). */
export function replicaFor(p: Placement, continent?: string): Replica {
  const name = (continent !== undefined && p.continents[continent]) || p.fallback;
  return p.replicas.find((r) => r.name === name)!;
}

/**
 * STAGE_REPLICAS for a gateway: parsed, or on a bad value DEFAULT_PLACEMENT and the error,
 * logged once. A bad value is read by every isolate at its first request, not at deploy: refusing
 * then would take every staged model down over a typo, while the default replica serves the same
 * text (only not where it was meant to be); /v1/status shows the error until it is fixed.
 */
export function placementOf(
  raw: unknown,
  log: (message: string) => void = (m) => console.error(m),
): { placement: Placement; error?: string } {
  try {
    return { placement: parsePlacement(raw) };
  } catch (e) {
    if (!(e instanceof PlacementConfigError)) throw e;
    log(`${e.message}. Serving every request from the replica 'default' meanwhile.`);
    return { placement: DEFAULT_PLACEMENT, error: e.message };
  }
}
