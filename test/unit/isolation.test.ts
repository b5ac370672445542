// The engine's isolation guarantee, for every weight dtype: a sequence's logits are the same
// bits alone or batched beside others, and a position's logits the same bits whether its prompt
// was prefilled at once, in chunks, or decoded a token at a time beside another prefill.

import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LoadedModel } from "../../src/model/loader.js";
import type { DType } from "../../src/model/manifest.js";
import type { KvDtype } from "../../src/model/plan.js";
import { CORPUS_SNIPPET } from "../setup/paths.js";
import { bits, ConvertedModels, logitsAt } from "./helpers/logits.js";

const models = new ConvertedModels();
afterAll(() => models.dispose());

const cases: [DType, KvDtype][] = [
  ["f32", "f32"],
  ["q8", "q8"],
  ["q4", "q8"],
];

describe.each(cases)("%s weights, %s KV cache", (dtype, kv) => {
  let m: LoadedModel;
  let prompt: number[];
  beforeAll(async () => {
    m = await models.load(dtype, kv);
    prompt = m.tokenizer.encode(fs.readFileSync(CORPUS_SNIPPET, "utf8")).slice(0, 64);
  });

  it("Should compute a batch exactly as each sequence alone", () => {
    expect(m.plan.kvDtype).toBe(kv);
    const a = prompt.slice(0, 10);
    const b = prompt.slice(30, 37);
    const alone = [logitsAt(m, a, 1).at(-1)!, logitsAt(m, b, 2).at(-1)!];
    const batched: Float32Array[] = [];
    m.model.forward(
      [
        { slot: 2, pos0: 0, ids: b, logits: "last" },
        { slot: 1, pos0: 0, ids: a, logits: "last" },
      ],
      (s, _t, l) => (batched[s] = l.slice()),
    );
    expect(bits(batched[1])).toEqual(bits(alone[0]));
    expect(bits(batched[0])).toEqual(bits(alone[1]));
  });

  it("Should give a position the same bits in one prefill, in chunks, and decoding", () => {
    const ids = prompt.slice(0, 24);
    const whole = logitsAt(m, ids, 0);
    const pieces: Float32Array[] = [];
    m.model.forward([{ slot: 3, pos0: 0, ids: ids.slice(0, 13), logits: "all" }], (_s, t, l) => {
      pieces[t] = l.slice();
    });
    for (let pos = 13; pos < 24; pos++) {
      const seg = { slot: 3, pos0: pos, ids: [ids[pos]], logits: "last" as const };
      // decode beside another sequence's prefill, as the engine batches them
      const other = {
        slot: 1,
        pos0: 0,
        ids: prompt.slice(40, 40 + (pos % 5) + 1),
        logits: "none" as const,
      };
      m.model.forward([other, seg], (s, _t, l) => {
        if (s === 1) pieces[pos] = l.slice();
      });
    }
    for (let pos = 0; pos < 24; pos++) {
      expect(bits(pieces[pos]), `position ${pos}`).toEqual(bits(whole[pos]));
    }
  });
});
