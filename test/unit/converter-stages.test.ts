// `convert --stages` and `inspect` of a staged model through the CLI: the plan in the manifest,
// one inspect line per stage with its memory against the budget, refusals with numbers, usage
// errors for the sizing flags, and inspect catching a plan that does not match the shards.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Manifest } from "../../src/model/manifest.js";
import { main } from "../../weights/cli.js";
import { SOURCE_DIR } from "../setup/paths.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "converter-stages-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let errors: string[];
beforeEach(() => {
  errors = [];
  vi.spyOn(console, "error").mockImplementation((s: string) => void errors.push(s));
});
afterEach(() => vi.restoreAllMocks());

/** Runs the CLI; returns its exit code and what it printed. */
async function cli(...args: string[]) {
  const lines: string[] = [];
  const code = await main(args, (s) => lines.push(s));
  return { code, out: lines.join("\n"), err: errors.join("\n") };
}

const readManifest = (dir: string): Manifest =>
  JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));

describe("convert --stages", () => {
  it("Should record N stages, and inspect should print one line per stage with its memory", async () => {
    const dir = path.join(tmp, "three");
    const convert = await cli("convert", SOURCE_DIR, dir, "--dtype", "q8", "--stages", "3");
    expect(convert.code).toBe(0);
    expect(convert.out).toMatch(
      /3 stage\(s\), each within 112 MiB with 1 slot\(s\) at context 256/,
    );
    const m = readManifest(dir);
    expect(m.stages!.list.map((s) => s.layers)).toEqual([
      [0, 1],
      [1, 2],
      [2, 4],
    ]);
    expect(m.stages!.list.flatMap((s) => s.shards).sort()).toEqual(m.shards.map((_, i) => i));
    const inspect = await cli("inspect", dir);
    expect(inspect.code).toBe(0);
    const stageLine =
      /stage +(\d): layers (\d)-(\d)( \+ wte, wpe, ln_f)? +weights [\d.]+ MiB \+ KV [\d.]+ MiB \+ scratch [\d.]+ MiB = [\d.]+ MiB of 112 MiB, \d shard\(s\)/g;
    const lines = [...inspect.out.matchAll(stageLine)].map((r) => r.slice(1, 5));
    expect(lines).toEqual([
      ["0", "0", "0", " + wte, wpe, ln_f"],
      ["1", "1", "1", undefined],
      ["2", "2", "3", undefined],
    ]);
    expect(inspect.out).not.toMatch(/this version plans|OVER BUDGET/);
    expect(inspect.out).toMatch(/all files verified/);
  });

  it("Should take the fewest stages that fit --budget-mb, sized by --stage-slots and --stage-context", async () => {
    const dir = path.join(tmp, "auto");
    const args = ["--stages", "auto", "--budget-mb", "8", "--stage-slots", "2"];
    expect((await cli("convert", SOURCE_DIR, dir, ...args, "--stage-context", "128")).code).toBe(0);
    const s = readManifest(dir).stages!;
    expect([s.budget_mb, s.slots, s.context, s.kv]).toEqual([8, 2, 128, "f32"]);
    expect(s.list.length).toBeGreaterThanOrEqual(2);
    for (const { memory } of s.list) expect(memory.total).toBeLessThanOrEqual(8 * 2 ** 20);
  });

  it("Should refuse, with the numbers, a budget that one layer does not fit (exit 1)", async () => {
    const r = await cli(
      "convert",
      SOURCE_DIR,
      path.join(tmp, "small"),
      "--stages",
      "auto",
      "--budget-mb",
      "3",
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /does not fit even with one layer per stage.*needs [\d.]+ MiB.*budget is 3\.0 MiB/,
    );
    expect(fs.existsSync(path.join(tmp, "small", "manifest.json"))).toBe(false);
  });

  it("Should exit 2 on a bad --stages or a sizing flag without --stages", async () => {
    const out = path.join(tmp, "usage");
    for (const [args, why] of [
      [["--stages", "0"], /--stages 0: auto, or a number/],
      [["--stages", "many"], /--stages many/],
      [["--stage-slots", "2"], /--stage-slots sizes stages: add --stages/],
      [["--stages", "2", "--stage-kv", "q4"], /--stage-kv q4: auto, f32 or q8/],
      [["--stages", "2", "--budget-mb", "0"], /--budget-mb 0: at least 1/],
    ] as const) {
      errors.length = 0;
      const r = await cli("convert", SOURCE_DIR, out, ...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toMatch(why);
    }
    expect((await cli("convert", SOURCE_DIR, out, "--stages", "9")).err).toMatch(/n_layer 4/);
  });

  it("Should not record a plan without --stages", async () => {
    const dir = path.join(tmp, "plain");
    expect((await cli("convert", SOURCE_DIR, dir)).code).toBe(0);
    expect(readManifest(dir).stages).toBeUndefined();
    expect((await cli("inspect", dir)).out).toMatch(/memory plan at MEMORY_BUDGET_MB/);
  });

  it("Should make inspect exit 1 when a stage's shards are not its own", async () => {
    const dir = path.join(tmp, "tampered");
    expect((await cli("convert", SOURCE_DIR, dir, "--stages", "2")).code).toBe(0);
    const m = readManifest(dir);
    m.stages!.list[1].shards.push(0); // the first stage's shard
    fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(m));
    const r = await cli("inspect", dir);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/BAD model 'tiny-shakespeare': stage 1's shards do not tile/);
  });
});
