// Calls to this Worker's API (same origin only): JSON POSTs whose OpenAI-shaped errors become
// ApiCallError with the server's code, and the page-measured round trip of the last inspection.

import { $ } from "./dom.js";

export class ApiCallError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    /** The request field the error is about, if the server named one. */
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

function headers(): Record<string, string> {
  const h: Record<string, string> = { "content-type": "application/json" };
  const key = $<HTMLInputElement>("apikey").value.trim();
  if (key) h.authorization = "Bearer " + key;
  return h;
}

async function fail(res: Response): Promise<never> {
  const j = (await res.json().catch(() => ({}))) as {
    error?: { message?: string; code?: string; param?: string };
  };
  throw new ApiCallError(
    j.error?.message ?? `HTTP ${res.status}`,
    res.status,
    j.error?.code ?? null,
    j.error?.param ?? null,
  );
}

export async function api(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  const res = await fetch(path, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify(body),
    signal,
  });
  return res.ok ? res : fail(res);
}

export async function apiJson<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return (await (await api(path, body, signal)).json()) as T;
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: headers() });
  return res.ok ? ((await res.json()) as T) : fail(res);
}
