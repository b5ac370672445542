// Request bodies checked against valibot schemas: the first issue becomes a 400 in OpenAI's
// shape naming the top-level field, and every echoed value is a bounded preview of it.

import * as v from "valibot";
import { invalid } from "./errors.js";

/** Fields whose range errors are `integer_*` codes (the others are `decimal_*`). */
export type IntegerFields = ReadonlySet<string>;

/** Longest echo of a client's value in an error message, in characters. */
export const PREVIEW_CHARS = 80;

/**
 * A short rendering of any JSON value for an error message: JSON-like, cut at `max` characters,
 * walking at most what it prints (a 500,000-deep array costs a few steps, not a stack overflow).
 */
export function preview(value: unknown, max = PREVIEW_CHARS): string {
  if (typeof value === "number" && !Number.isFinite(value)) {
    return `${value} (a number too large for a 64-bit float)`;
  }
  let out = "";
  // Iterative walk: what is left to print sits on a stack in reverse order, values and Punct
  // (brackets, commas, keys); it stops once `max` characters are out.
  const stack: unknown[] = [value];
  while (stack.length && out.length <= max) {
    const x = stack.pop();
    if (x instanceof Punct) out += x.text;
    else if (Array.isArray(x)) {
      stack.push(new Punct("]"));
      for (let i = Math.min(x.length, max) - 1; i >= 0; i--) {
        stack.push(x[i]);
        if (i > 0) stack.push(new Punct(","));
      }
      out += "[";
    } else if (x !== null && typeof x === "object") {
      const keys = Object.keys(x).slice(0, max);
      stack.push(new Punct("}"));
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push((x as Record<string, unknown>)[keys[i]]);
        stack.push(new Punct(`${JSON.stringify(keys[i].slice(0, max))}:`));
        if (i > 0) stack.push(new Punct(","));
      }
      out += "{";
    } else if (typeof x === "string") out += JSON.stringify(x.slice(0, max + 1));
    else out += x === undefined ? "undefined" : JSON.stringify(x);
  }
  return out.length > max || stack.length ? `${out.slice(0, max)}…` : out;
}

class Punct {
  constructor(readonly text: string) {}
}

/** Cut a client-supplied string for an error message. */
export const truncate = (s: string, max = PREVIEW_CHARS) =>
  s.length > max ? `${s.slice(0, max)}…` : s;

interface Messages {
  /** Missing required keys: the message per key. */
  required: Record<string, string>;
  /** Fields whose min/max errors get `integer_*` codes. */
  integers: IntegerFields;
}

/** The output of `schema` for `body`, or a 400 for the first issue found. */
export function parseBody<S extends v.GenericSchema>(
  schema: S,
  body: unknown,
  messages: Messages,
): v.InferOutput<S> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid("body", "The request body must be a JSON object.");
  }
  const r = v.safeParse(schema, body, { abortEarly: true });
  if (r.success) return r.output;
  const issue = r.issues[0];
  const keys = (issue.path ?? []).map((p) => String(p.key));
  const param = keys[0] ?? "body";
  if (issue.type === "object" && keys.length === 1 && issue.input === undefined) {
    throw invalid(param, messages.required[param] ?? `Missing required parameter: '${param}'.`);
  }
  // A record's entry messages say "{key}": only the issue's path knows which key it was.
  const message = issue.message.replaceAll("{key}", truncate(keys[1] ?? ""));
  // Range codes for top-level fields only, as before (a logit_bias entry's range has none).
  const code = keys.length === 1 ? codeOf(issue, param, messages.integers) : null;
  throw invalid(param, message, code);
}

function codeOf(issue: v.BaseIssue<unknown>, param: string, integers: IntegerFields) {
  const kind = integers.has(param) ? "integer" : "decimal";
  if (issue.type === "min_value") return `${kind}_below_min_value`;
  if (issue.type === "max_value") return `${kind}_above_max_value`;
  if (issue.type === "max_length") {
    return typeof issue.input === "string" ? "string_above_max_length" : "array_above_max_length";
  }
  return null;
}

// Schema builders whose messages match the API's wording; `got` previews the bad value.

const got = (i: v.BaseIssue<unknown>) => preview(i.input);

/** An optional integer in [min, max] (null = not given). */
export function intField(key: string, min: number, max: number, description: string) {
  const type = (i: v.BaseIssue<unknown>) => `Invalid '${key}': expected an integer, got ${got(i)}.`;
  return v.nullish(
    v.pipe(
      v.number(type),
      v.integer(type),
      v.minValue(min, (i) => `Invalid '${key}': ${i.input} is below the minimum ${min}.`),
      v.maxValue(max, (i) => `Invalid '${key}': ${i.input} is above the maximum ${max}.`),
      v.description(description),
    ),
  );
}

/** An optional finite number in [min, max]. */
export function numField(key: string, min: number, max: number, description: string) {
  const type = (i: v.BaseIssue<unknown>) => `Invalid '${key}': expected a number, got ${got(i)}.`;
  const range = (i: v.BaseIssue<unknown>) =>
    `Invalid '${key}': ${i.input} is outside the allowed range [${min}, ${max}].`;
  return v.nullish(
    v.pipe(
      v.number(type),
      v.finite(type),
      v.minValue(min, range),
      v.maxValue(max, range),
      v.description(description),
    ),
  );
}

/** A JSON object (not an array, which valibot's object and record schemas would take). */
export const plainObject = (message: string) =>
  v.custom<Record<string, unknown>>(
    (x) => typeof x === "object" && x !== null && !Array.isArray(x),
    message,
  );

export const boolField = (key: string, description: string) =>
  v.nullish(v.pipe(v.boolean(`Invalid '${key}': expected a boolean.`), v.description(description)));
