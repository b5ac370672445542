// `convert --stages`: what the request asks for, with the defaults the Worker plans with, and
// which shards each stage got once the image is written (src/model/stages.ts makes the plan).
import type { Manifest, StagePlan } from "../src/model/manifest.js";
import type { KvDtype } from "../src/model/plan.js";
import { planStages, stageOf } from "../src/model/stages.js";
import { PLAN_LOGIT_ROWS, PLAN_ROWS } from "./inspect.js";
import { memoryBudgetMB } from "./wrangler-config.js";

/** What `--stages` asks for: a count ("auto": the fewest that fit), and what each stage holds. */
export interface StageRequest {
  count: "auto" | number;
  /** KV slots per stage (default 1). */
  slots?: number;
  /** Positions per slot (default n_ctx). */
  context?: number;
  /** The isolate budget per stage, MiB (default MEMORY_BUDGET_MB in wrangler.toml, or 112). */
  budgetMb?: number;
  /** KV dtype (default auto: f32 unless int8 needs fewer stages). */
  kv?: KvDtype | "auto";
}

/** 112 MiB: a 128 MB isolate less 16 MiB for the JS heap (what wrangler.toml sets). */
const DEFAULT_BUDGET_MB = 112;

/** The stage plan for a --stages request, sized as the Worker plans (64 rows, 8 logit rows). */
export function planModelStages(m: Manifest, r: StageRequest): StagePlan {
  const budgetMb = r.budgetMb ?? memoryBudgetMB() ?? DEFAULT_BUDGET_MB;
  return planStages(m, {
    stages: r.count,
    budgetBytes: budgetMb * 2 ** 20,
    slots: r.slots ?? 1,
    context: r.context,
    kv: r.kv,
    rows: PLAN_ROWS,
    logitRows: PLAN_LOGIT_ROWS,
  });
}

/** Indices of stage i's shards in a written manifest: those whose first byte is its tensor's. */
export function stageShards(m: Manifest, i: number): number[] {
  const list = m.stages!.list;
  const holder = (at: number) => m.tensors.filter((t) => t.offset <= at).at(-1)!;
  return m.shards.flatMap((s, k) => (stageOf(holder(s.offset).name, list) === i ? [k] : []));
}
