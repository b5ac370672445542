// A bench-only Worker (serve-overhead.ts starts it with `wrangler dev -c` next to the real one):
// the forward passes alone inside workerd, so the served rate can be set against the same
// runtime's bare rate as well as Node's. GET /?model=&mb=&slots=&context=&batch=[&kernels=baseline]
// loads the model from R2 once per kernel build (relaxed unless asked), then times bareRequests
// (serve-shape.ts: the whole, its prefills and its decode steps) with performance.now(): local
// workerd's clock advances during compute (production's would not).

import baselineKernels from "../../../build/kernels.wasm";
import relaxedKernels from "../../../build/kernels-relaxed.wasm";
import { loadModel, type LoadedModel, type WeightStore } from "../../../src/model/loader.js";
import { bareRequests } from "../serve-shape.js";

/** One loaded model per kernel build (`kernels=baseline` asks for the SIMD128 one). */
const loaded = new Map<string, LoadedModel>();

export default {
  async fetch(req: Request, env: { WEIGHTS: WeightStore }): Promise<Response> {
    const u = new URL(req.url);
    const model = u.searchParams.get("model");
    if (!model) return new Response("ok"); // the dev-server readiness probe
    const num = (k: string) => Number(u.searchParams.get(k));
    const build = u.searchParams.get("kernels") === "baseline" ? "baseline" : "relaxed";
    let lm = loaded.get(build);
    if (!lm) {
      lm = await loadModel(env.WEIGHTS, model, {
        kernels: build === "baseline" ? baselineKernels : relaxedKernels,
        budgetBytes: num("mb") * 2 ** 20,
        slots: num("slots"),
        rows: 64,
        logitRows: 8,
        context: num("context"),
        cache: null,
      });
      loaded.set(build, lm);
    }
    return Response.json(bareRequests(lm, num("batch")));
  },
};
