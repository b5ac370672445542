// A fine-tune whose wte has more rows than its tokenizer has tokens (a pad token added with
// resize_token_embeddings, nanoGPT's 50,304): it converts with a warning, and the ids without
// text are never sampled, ranked or scored (their logits are −∞), so nothing that decodes the
// output meets an id it cannot write. The extra row is made the most likely token on purpose.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.js";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel } from "../../src/model/loader.js";
import { inspect } from "../../src/inspect/inspect.js";
import { parseInspectParams } from "../../src/inspect/params.js";
import { convertCheckpoint } from "../../weights/convert.js";
import { encodeSafetensors, numel, readF32, readHeader } from "../../weights/safetensors.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { SOURCE_DIR } from "../setup/paths.js";
import { generate, greedyRequest } from "./helpers/generate.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "converter-vocab-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

it("Should never produce the ids a padded vocabulary has no text for", async () => {
  const file = path.join(SOURCE_DIR, "model.safetensors");
  const fd = fs.openSync(file, "r");
  const t = new Map(
    readHeader(file).map((h) => [
      h.key,
      { shape: h.shape, data: readF32(fd, h, 0, numel(h.shape)) },
    ]),
  );
  fs.closeSync(fd);
  const wte = t.get("wte.weight")!;
  const [V, C] = wte.shape;
  const extra = 8;
  const data = new Float32Array((V + extra) * C);
  data.set(wte.data);
  // ln_f outputs its bias whatever the input, and the new rows point along it: they win.
  t.get("ln_f.weight")!.data.fill(0);
  t.get("ln_f.bias")!.data.fill(1);
  data.fill(5, V * C);
  t.set("wte.weight", { shape: [V + extra, C], data });
  const hf = path.join(tmp, "hf");
  fs.mkdirSync(hf);
  const config = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, "config.json"), "utf8"));
  fs.writeFileSync(
    path.join(hf, "config.json"),
    JSON.stringify({ ...config, vocab_size: V + extra }),
  );
  for (const f of ["vocab.json", "merges.txt"])
    fs.copyFileSync(path.join(SOURCE_DIR, f), path.join(hf, f));
  const tensors = [...t].map(([name, x]) => ({
    name,
    dtype: "F32",
    shape: x.shape,
    data: new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength),
  }));
  fs.writeFileSync(path.join(hf, "model.safetensors"), encodeSafetensors(tensors));

  const out = path.join(tmp, "out");
  const r = convertCheckpoint(hf, out, { name: "padded" });
  expect(r.warnings.join("\n")).toMatch(/ids 2048\.\.2055 have no text, so they are never sampled/);
  const lm = await loadModel(modelDirStore(out, "padded"), "padded", {
    kernels: loadKernelModule(),
    budgetBytes: 112 * 2 ** 20,
    slots: 1,
    cache: null,
  });
  expect([lm.manifest.config.n_vocab, lm.tokenizer.vocabSize]).toEqual([V + extra, V]);
  let logits: Float32Array | undefined;
  lm.model.forward(
    [{ slot: 0, pos0: 0, ids: lm.tokenizer.encode("ROMEO:"), logits: "last" }],
    (_s, _t, l) => {
      logits = l.slice();
    },
  );
  expect(Array.from(logits!.subarray(V))).toEqual(new Array(extra).fill(-Infinity));
  expect(logits!.subarray(0, V).every(Number.isFinite)).toBe(true);
  const e = new Engine(lm, { maxQueue: 1, prefillChunk: 16 });
  const ids = await generate(e, greedyRequest(lm.tokenizer.encode("ROMEO:"), 4));
  expect(ids).toHaveLength(4);
  expect(ids.every((id) => id < V)).toBe(true);
  expect(() => lm.tokenizer.decode(ids)).not.toThrow();
  const sampled = greedyRequest(lm.tokenizer.encode("ROMEO:"), 16);
  sampled.sampling = { ...sampled.sampling, temperature: 1.5, top_p: 0.99 };
  expect((await generate(e, sampled)).every((id) => id < V)).toBe(true);
  // /v1/inspect leaves them out as the model does: the logit lens and the neurons' pushes
  // ranked them first and then failed to name them (a 500), and the entropy came out NaN.
  const got = inspect(lm, parseInspectParams({ model: "padded", prompt: "ROMEO:" }), (job) =>
    e.withSlot(job),
  );
  expect(Number.isFinite(got.next.entropy)).toBe(true);
  expect(got.next.top.every((t) => t.id < V)).toBe(true);
  for (const layer of got.focus.lens) {
    expect(layer.top.every((t) => t.id < V && Number.isFinite(t.prob))).toBe(true);
    expect(Number.isFinite(layer.entropy)).toBe(true);
  }
  for (const n of got.focus.mlp.neurons) expect(n.pushes.every((t) => t.id < V)).toBe(true);
  const last = got.focus.lens.at(-1)!.top[0];
  expect(last.id).toBe(got.next.top[0].id);
});
