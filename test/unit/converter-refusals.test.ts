// What the converter and the upload refuse, and what a refusal leaves: a merges file cut short
// (text would be tokenized other than in training) is refused; a refused conversion leaves the
// earlier conversion in its directory as it was; a manifest whose name is not a model name
// (it becomes R2 keys and a directory that upload replaces) or whose tensor list is not GPT-2's
// is refused before anything is uploaded.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { convertCheckpoint } from "../../weights/convert.js";
import { readManifest, verifyModelDir } from "../../weights/inspect.js";
import { sha256File } from "../../weights/shard.js";
import { uploadPlan } from "../../weights/upload.js";
import { SOURCE_DIR } from "../setup/paths.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "converter-refusals-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The default model's checkpoint, copied; `edit` changes a file of the copy. */
function checkpoint(name: string, edit?: (dir: string) => void): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  for (const f of ["config.json", "model.safetensors", "vocab.json", "merges.txt"])
    fs.copyFileSync(path.join(SOURCE_DIR, f), path.join(dir, f));
  edit?.(dir);
  return dir;
}

/** Every file of a directory with its SHA-256. */
const contents = (dir: string) =>
  Object.fromEntries(fs.readdirSync(dir).map((f) => [f, sha256File(path.join(dir, f))]));

describe("Converter refusals", () => {
  it("Should refuse a merges.txt cut short, naming it", () => {
    const hf = checkpoint("cut", (dir) => {
      const file = path.join(dir, "merges.txt");
      const lines = fs.readFileSync(file, "utf8").split("\n");
      fs.writeFileSync(file, lines.slice(0, 524).join("\n") + "\n"); // a download cut at a line
    });
    expect(() => convertCheckpoint(hf, path.join(tmp, "cut-out"))).toThrow(
      /1268 tokens of the vocabulary .* merges\.txt \(523 merges\).* cut short/s,
    );
    // the whole file converts
    expect(() => convertCheckpoint(checkpoint("whole"), path.join(tmp, "whole-out"))).not.toThrow();
  });

  it("Should leave an earlier conversion as it was when a conversion into its directory is refused", () => {
    const hf = checkpoint("again");
    const out = path.join(tmp, "again-out");
    convertCheckpoint(hf, out, { dtype: "q8" });
    const before = contents(out);
    // a stage plan that cannot fit
    expect(() => convertCheckpoint(hf, out, { stages: { count: 2, budgetMb: 2 } })).toThrow();
    expect(contents(out)).toEqual(before);
    // an untied lm_head
    const untied = checkpoint("untied", (dir) => {
      const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
      fs.writeFileSync(
        path.join(dir, "config.json"),
        JSON.stringify({ ...config, tie_word_embeddings: false }),
      );
    });
    expect(() => convertCheckpoint(untied, out)).toThrow();
    expect(contents(out)).toEqual(before);
    expect(readManifest(out).tensors.find((t) => t.name === "h.0.mlp.c_fc.weight")?.dtype).toBe(
      "q8",
    );
  });
});

describe("Upload and inspect refusals", () => {
  const converted = () => {
    const out = path.join(tmp, `m-${Math.random().toString(36).slice(2)}`);
    convertCheckpoint(checkpoint(path.basename(out) + "-hf"), out);
    return out;
  };
  const editManifest = (dir: string, edit: (m: any) => void) => {
    const file = path.join(dir, "manifest.json");
    const m = JSON.parse(fs.readFileSync(file, "utf8"));
    edit(m);
    fs.writeFileSync(file, JSON.stringify(m));
  };

  it("Should refuse a manifest whose name is not a model name before anything is uploaded", () => {
    const out = converted();
    editManifest(out, (m) => (m.name = "../victim"));
    expect(() => uploadPlan(out)).toThrow(/model name "\.\.\/victim" does not match/);
    editManifest(out, (m) => {
      for (const k of Object.keys(m)) delete m[k];
    });
    expect(() => readManifest(out)).toThrow(/not a converted model's manifest/);
  });

  it("Should report a tensor list that is not GPT-2's for the manifest's config", () => {
    const out = converted();
    expect(verifyModelDir(out, readManifest(out))).toEqual([]);
    editManifest(out, (m) => (m.tensors = m.tensors.filter((t: any) => t.name !== "ln_f.bias")));
    expect(verifyModelDir(out, readManifest(out)).join("\n")).toMatch(/missing ln_f\.bias \[256\]/);
    editManifest(out, (m) => (m.config.n_layer = 5));
    expect(verifyModelDir(out, readManifest(out)).join("\n")).toMatch(/missing h\.4\./);
    expect(() => uploadPlan(out)).toThrow(/is damaged, not uploading/);
  });
});
