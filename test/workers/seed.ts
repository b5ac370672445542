// Seeds the test's own local R2 bucket with the converted default model, from the packed
// fixture that `npm test` builds (build/test/tiny-shakespeare.bin). Runs inside workerd.

import { env, exports } from "cloudflare:workers";
import packed from "../../build/test/tiny-shakespeare.bin";
import { unpackModel } from "../../weights/unpack.js";

export const MODEL = "tiny-shakespeare";

export function seedModel(name = MODEL): Promise<{ files: { file: string; bytes: Uint8Array }[] }> {
  return seedPack(packed, name);
}

/** Put a packed model (weights/pack.ts) into the test's bucket as models/<name>/. */
export async function seedPack(
  pack: ArrayBuffer,
  name: string,
): Promise<{ files: { file: string; bytes: Uint8Array }[] }> {
  const { files } = unpackModel(new Uint8Array(pack));
  const bucket = (env as unknown as { WEIGHTS: R2Bucket }).WEIGHTS;
  // manifest last, as the uploader does, so no reader sees a manifest without its shards
  const ordered = [
    ...files.filter((f) => f.file !== "manifest.json"),
    ...files.filter((f) => f.file === "manifest.json"),
  ];
  for (const f of ordered) await bucket.put(`models/${name}/${f.file}`, f.bytes);
  return { files };
}

export function bucket(): R2Bucket {
  return (env as unknown as { WEIGHTS: R2Bucket }).WEIGHTS;
}

/** The Worker under test (its default export's fetch), as `SELF` used to be. */
export const worker = () => (exports as unknown as { default: { fetch: typeof fetch } }).default;

/** Where a test's requests go: the Worker under test unless a test built its own app. */
export type Fetcher = (req: Request) => Response | Promise<Response>;
const toWorker: Fetcher = (req) => worker().fetch(req);

/** A request to `path` (e.g. "/v1/models"); the raw Response. */
export async function fetchRaw(path: string, init: RequestInit = {}, to = toWorker) {
  return to(new Request(`http://gpt-edge.test${path}`, init));
}

/** POST `body` (JSON-encoded unless already a string) with any extra headers; the raw Response. */
export function postRaw(
  path: string,
  body: unknown,
  opts: { headers?: Record<string, string>; to?: Fetcher } = {},
): Promise<Response> {
  const headers = { "content-type": "application/json", ...opts.headers };
  const payload = typeof body === "string" ? body : JSON.stringify(body);
  return fetchRaw(path, { method: "POST", headers, body: payload }, opts.to);
}

/** A response read: status, headers, the body as text and as JSON (null when it is not JSON). */
export async function read(res: Response) {
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, json, text };
}

/** fetchRaw, read. */
export const send = async (path: string, init: RequestInit = {}, to = toWorker) =>
  read(await fetchRaw(path, init, to));

/** postRaw, read. */
export const post = async (...args: Parameters<typeof postRaw>) => read(await postRaw(...args));
