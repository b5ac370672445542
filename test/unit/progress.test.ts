// Progress of long copies (weights/progress.ts): on a TTY one line redrawn in place at most 4
// times a second with bytes, rate and time left; elsewhere (CI) nothing at all. Converting
// reports the source checkpoint's bytes.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { convertCheckpoint } from "../../weights/convert.js";
import { Progress } from "../../weights/progress.js";
import { uploadModel } from "../../weights/upload.js";
import { SOURCE_DIR } from "../setup/paths.js";

const MiB = 2 ** 20;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "progress-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A stream that records what is written, a terminal or not. */
const stream = (isTTY: boolean) => {
  const writes: string[] = [];
  return { isTTY, writes, write: (s: string) => writes.push(s) };
};

describe("Progress", () => {
  it("Should show bytes, rate and time left, redrawn at most every 250 ms", () => {
    const tty = stream(true);
    let now = 0;
    const p = new Progress("converting x", 4 * MiB, tty, () => now);
    for (let t = 0; t < 1000; t += 50) {
      now = t;
      p.add(MiB / 20); // 1 MiB per second
    }
    expect(tty.writes).toHaveLength(4); // at 0, 250, 500, 750 ms
    expect(tty.writes.every((w) => w.startsWith("\r\x1b[K"))).toBe(true);
    expect(p.line(1000)).toBe("converting x  1.0/4.0 MiB  1.0 MiB/s  0:03 left");
    p.finish();
    expect(tty.writes.at(-1)).toMatch(/^\r\x1b\[Kconverting x {2}1\.0\/4\.0 MiB .*\n$/);
  });

  it("Should count in GiB past 1 GiB and give hours past an hour", () => {
    const p = new Progress("uploading gpt2-xl", 6 * 2 ** 30, stream(true), () => 0);
    p.add(2 ** 30);
    expect(p.line(3_000_000)).toBe("uploading gpt2-xl  1.0/6.0 GiB  0.3 MiB/s  4:10:00 left");
  });

  it("Should clear the line before a log line, and pass logs through untouched off a TTY", () => {
    const tty = stream(true);
    const logged: string[] = [];
    new Progress("x", 1, tty).wrap((s) => logged.push(s))("  h.0");
    expect([tty.writes, logged]).toEqual([["\r\x1b[K"], ["  h.0"]]);
    const log = (s: string) => logged.push(s);
    expect(new Progress("x", 1, stream(false)).wrap(log)).toBe(log);
  });
});

describe("progress of the weights CLI", () => {
  it("Should count every source byte when converting on a TTY, and write nothing elsewhere", () => {
    const tty = stream(true);
    convertCheckpoint(SOURCE_DIR, path.join(tmp, "a"), { progress: tty });
    const size = fs.statSync(path.join(SOURCE_DIR, "model.safetensors")).size;
    const [done, total] = /([\d.]+)\/([\d.]+) MiB/.exec(tty.writes.at(-1)!)!.slice(1).map(Number);
    expect(done).toBe(total);
    expect(Math.abs(total * MiB - size)).toBeLessThan(0.1 * MiB); // the file less its header
    const ci = stream(false);
    convertCheckpoint(SOURCE_DIR, path.join(tmp, "b"), { progress: ci });
    expect(ci.writes).toEqual([]);
  });

  it("Should show nothing for a dry-run upload, even on a TTY", async () => {
    const tty = stream(true);
    await uploadModel(path.join(tmp, "a"), {
      mode: "remote",
      dryRun: true,
      progress: tty,
      bucket: "b",
    });
    expect(tty.writes).toEqual([]);
  });
});
