// Uploading a converted model: object order (manifest last), the wrangler command line for
// --remote, refusing damaged directories, and a real --local upload read back from the same
// Miniflare persistence directory that `wrangler dev --persist-to` serves.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertCheckpoint } from "../../weights/convert.js";
import { remoteCommand, uploadModel, uploadPlan } from "../../weights/upload.js";
import { defaultBucket } from "../../weights/wrangler-config.js";
import { readManifest } from "../../weights/inspect.js";
import { stagedModels, writeStageConfigs } from "../../weights/stage-configs.js";
import { STAGED_DIR } from "../setup/paths.js";

const HF = fileURLToPath(new URL("../../weights/tiny-shakespeare", import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "converter-upload-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const out = path.join(tmp, "model");
beforeAll(
  () => void convertCheckpoint(HF, out, { name: "up-test", maxShardBytes: 4 * 1024 * 1024 }),
);

describe("upload", () => {
  it("Should put the tokenizer and shards first and manifest.json last", () => {
    const keys = uploadPlan(out).map((it) => it.key);
    expect(keys[0]).toBe("models/up-test/tokenizer.bin");
    expect(keys.slice(1, -1)).toEqual(
      [0, 1, 2, 3, 4].map((i) => `models/up-test/shard-00${i}.bin`),
    );
    expect(keys.at(-1)).toBe("models/up-test/manifest.json");
  });

  it("Should take the bucket bound as WEIGHTS in wrangler.toml", () => {
    expect(defaultBucket()).toBe("gpt-edge-weights");
    const toml = path.join(tmp, "other.toml");
    fs.writeFileSync(toml, '[[r2_buckets]]\nbinding = "OTHER"\nbucket_name = "x"\n');
    expect(() => defaultBucket(toml)).toThrow(
      /no \[\[r2_buckets\]\] with binding = "WEIGHTS"; pass --bucket/,
    );
  });

  it("Should build one `wrangler r2 object put --remote` per file, without running it on --dry-run", async () => {
    const [first] = uploadPlan(out);
    expect(remoteCommand(first, "b")).toEqual([
      "r2",
      "object",
      "put",
      "b/models/up-test/tokenizer.bin",
      "--file",
      path.join(out, "tokenizer.bin"),
      "--content-type",
      "application/octet-stream",
      "--remote",
    ]);
    const lines: string[] = [];
    await uploadModel(out, { mode: "remote", dryRun: true, log: (s) => lines.push(s) });
    expect(lines).toHaveLength(7);
    expect(lines.at(-1)).toMatch(
      /would run: wrangler r2 object put gpt-edge-weights\/models\/up-test\/manifest\.json .*--content-type application\/json --remote$/,
    );
  });

  it("Should refuse to upload a damaged directory", () => {
    const bad = path.join(tmp, "bad");
    fs.cpSync(out, bad, { recursive: true });
    fs.truncateSync(path.join(bad, "shard-001.bin"), 10);
    expect(() => uploadPlan(bad)).toThrow(
      /damaged, not uploading:\n {2}shard-001\.bin has 10 bytes/,
    );
  });

  it("Should write --local uploads where Miniflare (wrangler dev) reads them", async () => {
    const persist = path.join(tmp, "state");
    // An earlier upload of "up-test" was staged: its stage configs go with this unstaged one.
    const stageConfigDir = path.join(tmp, "stages");
    writeStageConfigs(
      { ...readManifest(STAGED_DIR), name: "up-test" },
      { bucket: "b", dir: stageConfigDir },
    );
    expect(stagedModels(stageConfigDir)).toHaveLength(1);
    const items = await uploadModel(out, { mode: "local", persistTo: persist, stageConfigDir });
    expect(stagedModels(stageConfigDir)).toEqual([]);
    // A fresh Miniflare configured the way wrangler dev configures it: <persist>/v3, bucket by name.
    const mf = new Miniflare({
      modules: true,
      script: "export default { fetch() { return new Response(null) } }",
      defaultPersistRoot: path.join(persist, "v3"),
      r2Buckets: { WEIGHTS: "gpt-edge-weights" },
      cf: false,
    });
    try {
      const r2 = await mf.getR2Bucket("WEIGHTS");
      for (const it of items) {
        const obj = await r2.get(it.key);
        expect(obj, it.key).not.toBeNull();
        const got = new Uint8Array(await obj!.arrayBuffer());
        expect(Buffer.compare(Buffer.from(got), fs.readFileSync(it.file)), it.key).toBe(0);
        expect(obj!.httpMetadata?.contentType).toBe(it.contentType);
      }
    } finally {
      await mf.dispose();
    }
  });
});
