// The analogy's expected answer computed here, not by the server: the default model's wte read
// with the repo's loader, a − b + c, and a brute-force cosine ranking over every valid token.

import { wteRows } from "../../src/inspect/embeddings.js";
import { loadKernelModule } from "../../src/kernels/node.js";
import { loadModel } from "../../src/model/loader.js";
import { modelDirStore } from "../helpers/fs-store.js";
import { FIXTURE_DIR } from "../setup/paths.js";
import { MODEL } from "./server.js";

export async function wteCosineTop(plus: string[], minus: string[]): Promise<number> {
  const lm = await loadModel(modelDirStore(FIXTURE_DIR, MODEL), MODEL, {
    kernels: loadKernelModule(),
    budgetBytes: 112 * 2 ** 20,
    slots: 1,
  });
  const tok = lm.tokenizer;
  const id = (s: string) => tok.encode(s)[0];
  const w = wteRows(lm);
  const x = new Float64Array(w.C);
  for (const [s, sign] of [
    ...plus.map((p) => [p, 1] as const),
    ...minus.map((m) => [m, -1] as const),
  ]) {
    const r = w.row(id(s));
    for (let j = 0; j < w.C; j++) x[j] += sign * r[j];
  }
  const skip = new Set([...plus, ...minus].map(id));
  let best = -1;
  let bestCos = -Infinity;
  for (let i = 0; i < w.V; i++) {
    if (skip.has(i) || !tok.isValidId(i)) continue;
    const r = w.row(i);
    let d = 0;
    let n = 0;
    for (let j = 0; j < w.C; j++) [d, n] = [d + x[j] * r[j], n + r[j] * r[j]];
    const cos = d / Math.sqrt(n || 1);
    if (cos > bestCos) [best, bestCos] = [i, cos];
  }
  return best;
}
