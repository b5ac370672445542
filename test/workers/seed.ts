// Seeds the test's own local R2 bucket with the converted default model, from the packed
// fixture that `npm test` builds (build/test/tiny-shakespeare.bin). Runs inside workerd.

import { env, exports } from "cloudflare:workers";
import packed from "../../build/test/tiny-shakespeare.bin";
import { unpackModel } from "../../weights/unpack.js";

export const MODEL = "tiny-shakespeare";

export async function seedModel(
  name = MODEL,
): Promise<{ files: { file: string; bytes: Uint8Array }[] }> {
  const { files } = unpackModel(new Uint8Array(packed));
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

/** POST a JSON body to the Worker; the status, headers and parsed JSON body. */
export async function post(path: string, body: unknown) {
  const res = await worker().fetch(`http://gpt-edge.test${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}
