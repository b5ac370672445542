// The Worker configs a staged model's upload writes: one script per stage with its settings in
// its own [vars] (wrangler dev's --var reaches only the first config), the first stage bound to
// the others, and a gateway config bound to every staged model's first stage.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gatewayBinding, stageScript } from "../../src/stage/names.js";
import { readManifest } from "../../weights/inspect.js";
import {
  removeStageConfigs,
  stagedModels,
  writeStageConfigs,
} from "../../weights/stage-configs.js";
import { ROOT, STAGED_DIR, STAGED_MODEL } from "../setup/paths.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "stage-configs-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The value of `key = "..."` in a TOML text, or of every such line. */
const values = (text: string, key: string) =>
  [...text.matchAll(new RegExp(`^${key} = "([^"]*)"`, "gm"))].map((m) => m[1]);

describe("writeStageConfigs", () => {
  const m = readManifest(STAGED_DIR);
  const { configs } = writeStageConfigs(m, { bucket: "my-bucket", budgetMb: 100, dir: tmp });
  const [s0, s1] = configs.map((c) => fs.readFileSync(c, "utf8"));

  it("Should write one script per stage running src/stage/index.ts with its own vars", () => {
    expect(configs).toHaveLength(2);
    configs.forEach((c, i) => {
      const text = fs.readFileSync(c, "utf8");
      expect(values(text, "name")[0]).toBe(stageScript(STAGED_MODEL, i));
      const main = path.resolve(path.dirname(c), values(text, "main")[0]);
      expect(main).toBe(path.join(ROOT, "src", "stage", "index.ts"));
      expect(values(text, "MODEL")).toEqual([STAGED_MODEL]);
      expect(values(text, "STAGE_INDEX")).toEqual([String(i)]);
      expect(values(text, "STAGE_COUNT")).toEqual(["2"]);
      expect(values(text, "MEMORY_BUDGET_MB")).toEqual(["100"]);
      expect(values(text, "bucket_name")).toEqual(["my-bucket"]);
      expect(text).toContain('new_sqlite_classes = ["Stage"]');
    });
  });

  it("Should give each stage the budget its plan was cut for unless told another", () => {
    const big = { ...m, name: "tiny-big", stages: { ...m.stages!, budget_mb: 1024 } };
    const dir = path.join(tmp, "big");
    for (const c of writeStageConfigs(big, { bucket: "b", dir }).configs)
      expect(values(fs.readFileSync(c, "utf8"), "MEMORY_BUDGET_MB")).toEqual(["1024"]);
  });

  it("Should bind the first stage to the later ones, and only the first", () => {
    expect(values(s0, "script_name")).toEqual([stageScript(STAGED_MODEL, 1)]);
    expect(values(s0, "name").slice(1)).toEqual(["STAGE_0", "STAGE_1"]);
    expect(values(s1, "script_name")).toEqual([]);
    expect(values(s1, "name").slice(1)).toEqual(["STAGE_1"]);
  });

  it("Should write a gateway config bound to the model's first stage", () => {
    const gw = fs.readFileSync(path.join(tmp, "gateway.toml"), "utf8");
    const main = path.resolve(tmp, values(gw, "main")[0]);
    expect(main).toBe(path.join(ROOT, "src", "index.ts"));
    expect(values(gw, "name")).toContain(gatewayBinding(STAGED_MODEL));
    expect(values(gw, "script_name")).toEqual([stageScript(STAGED_MODEL, 0)]);
    expect(stagedModels(tmp)).toEqual([{ model: STAGED_MODEL, configs }]);
  });

  it("Should refuse a second model whose script names would be the same", () => {
    const clash = { ...m, name: "Tiny_2stage" };
    expect(() => writeStageConfigs(clash, { bucket: "b", dir: tmp })).toThrow(/rename one/);
  });

  it("Should remove a model's stage configs (and its gateway binding) once it is not staged", () => {
    const dir = fs.mkdtempSync(path.join(tmp, "unstaged-"));
    writeStageConfigs(m, { bucket: "b", dir });
    expect(stagedModels(dir)).toHaveLength(1);
    expect(removeStageConfigs("tiny-shakespeare", dir)).toBe(false); // never staged: untouched
    expect(removeStageConfigs(STAGED_MODEL, dir)).toBe(true);
    expect(stagedModels(dir)).toEqual([]);
    expect(fs.existsSync(path.join(dir, STAGED_MODEL))).toBe(false);
    const gw = fs.readFileSync(path.join(dir, "gateway.toml"), "utf8");
    expect(values(gw, "script_name")).toEqual([]);
    expect(removeStageConfigs(STAGED_MODEL, dir)).toBe(false);
  });
});
