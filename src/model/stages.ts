// Pipeline stages: a model too big for one isolate, cut at convert time into contiguous runs of
// layers, each planned by plan.ts exactly as the runtime will plan it; and the manifest one stage
// loads (its tensors and shards only, rebased into an image of its own). No Workers APIs here.

import type { Manifest, ShardEntry, StagePlan, TensorEntry } from "./manifest.js";
import { sha256Hex } from "./shard-io.js";
import {
  kvChoices,
  layout,
  MAX_MEMORY_BYTES,
  planMemory,
  type KvDtype,
  type PlanOptions,
} from "./plan.js";

const MiB = 1024 * 1024;

export interface StageOptions {
  /** The isolate budget every stage's memory plan must fit, bytes. */
  budgetBytes: number;
  /** KV slots each stage holds: sequences in flight at once. */
  slots: number;
  /** Positions per slot; default (and at most) n_ctx. */
  context?: number;
  /** Rows per forward pass, and rows unembedded at once (in the first stage), as served. */
  rows: number;
  logitRows: number;
  /** KV dtype; "auto" (default): f32 unless int8 needs fewer stages. */
  kv?: KvDtype | "auto";
  /** "auto" (default): the fewest stages that fit; a number: that many, balanced. */
  stages?: "auto" | number;
}

/** The layer of a tensor h.<l>.*, or undefined for wte, wpe and ln_f.*. */
const layerOf = (name: string): number | undefined => {
  const l = /^h\.(\d+)\./.exec(name);
  return l ? Number(l[1]) : undefined;
};

/** Which stage holds a tensor: h.<l>.* the one with layer l, the rest (wte, wpe, ln_f) the first. */
export function stageOf(name: string, list: { layers: [number, number] }[]): number {
  const l = layerOf(name);
  if (l === undefined) return 0;
  return list.findIndex(({ layers: [first, end] }) => l >= first && l < end);
}

/** The options a stage's memory is planned with (at convert time and at load time alike). */
export function stagePlanOptions(s: StagePlan): PlanOptions {
  const budgetBytes = s.budget_mb * MiB;
  const { slots, context, kv, rows, logit_rows: logitRows } = s;
  return { budgetBytes, slots, context, kv, rows, logitRows };
}

/**
 * Cuts the layers into contiguous stages whose memory plans (plan.ts layout: weights + KV for
 * opts.slots at opts.context + scratch) all fit opts.budgetBytes. "auto" takes the fewest
 * stages that fit; a number N takes N. Either way the cut is balanced: the largest stage as
 * small as can be (so the first stage, which also holds wte, wpe and the logits, gets fewer
 * layers), then the stages as even as can be. Shard lists are left empty for the converter.
 * Throws ModelTooLargeError (with the numbers and fixes) when no cut fits.
 */
export function planStages(m: Manifest, opts: StageOptions): StagePlan {
  const c = m.config;
  const L = c.n_layer;
  const want = opts.stages ?? "auto";
  if (want !== "auto" && !(Number.isInteger(want) && want >= 1 && want <= L))
    throw new RangeError(`--stages ${want}: a number of stages from 1 to n_layer ${L}, or auto`);
  const context = Math.min(opts.context ?? c.n_ctx, c.n_ctx);
  const kinds = kvChoices(c, opts.kv);
  const budget = Math.min(opts.budgetBytes, MAX_MEMORY_BYTES);
  const cuts = kinds.map((kv) => {
    const planOpts: PlanOptions = { ...opts, kv, context };
    return { kv, planOpts, table: new Partitions(L, (a, b) => stageCost(m, a, b, planOpts)) };
  });
  // f32 (exact) first: it is taken unless int8 needs fewer stages (auto) or only int8 fits (N)
  let pick: ((typeof cuts)[number] & { n: number }) | undefined;
  for (const cut of cuts) {
    const { table } = cut;
    const n = want === "auto" ? table.fewestUnder(budget) : table.max(want) <= budget ? want : 0;
    if (n && (!pick || n < pick.n)) pick = { ...cut, n };
  }
  if (!pick) throw refusal(m, cuts.at(-1)!, want);
  const { kv, planOpts, table, n } = pick;
  return {
    budget_mb: opts.budgetBytes / MiB,
    slots: opts.slots,
    context,
    kv,
    rows: opts.rows,
    logit_rows: opts.logitRows,
    list: table.cut(n).map((layers, i) => {
      const p = layout(stageView(m, layers, i, n).manifest, planOpts);
      const { weights, kv, scratch } = p.breakdown;
      return { layers, shards: [], memory: { total: p.totalBytes, weights, kv, scratch } };
    }),
  };
}

/** Bytes of the memory plan of a stage running layers a..b-1 (the first stage if a = 0). */
function stageCost(m: Manifest, a: number, b: number, opts: PlanOptions): number {
  return layout(stageView(m, [a, b], a === 0 ? 0 : 1, 2).manifest, opts).totalBytes;
}

/** Why no cut fits: the worst stage of the best cut tried, refused by planMemory itself. */
function refusal(
  m: Manifest,
  { planOpts, table }: { planOpts: PlanOptions; table: Partitions },
  want: "auto" | number,
): Error {
  const n = want === "auto" ? m.config.n_layer : want;
  const list = table.cut(n);
  const costs = list.map(([a, b]) => table.cost(a, b));
  const worst = costs.indexOf(Math.max(...costs));
  const why =
    want === "auto"
      ? `even with one layer per stage (${n} stages)`
      : `cut into ${n} stage(s) (layers ${list.map(([a, b]) => `${a}-${b - 1}`).join(", ")})`;
  try {
    planMemory(stageView(m, list[worst], worst, n).manifest, planOpts);
  } catch (e) {
    if (e instanceof Error) e.message = `Model '${m.name}' does not fit ${why}: ${e.message}`;
    return e as Error;
  }
  return new Error(`planStages: stage ${worst} fits after all`); // unreachable: cost > budget
}

/**
 * Balanced contiguous cuts of L layers into n stages, by dynamic programming over a stage cost
 * (bytes of its plan, memoized: a stage is one run of layers): first the smallest possible
 * largest stage, then, among cuts that keep every stage under it, the smallest sum of squared
 * costs (the most even). O(n·L²) cost lookups; L ≤ 48 for every GPT-2.
 */
class Partitions {
  private readonly memo = new Map<number, number>();
  /** best[k][e]: the smallest largest stage cutting layers 0..e-1 into k stages. */
  private readonly best: number[][];

  constructor(
    private readonly L: number,
    private readonly stageCost: (a: number, b: number) => number,
  ) {
    this.best = [Array.from({ length: L + 1 }, (_, e) => (e === 0 ? 0 : Infinity))];
  }

  cost(a: number, b: number): number {
    const key = a * (this.L + 1) + b;
    let v = this.memo.get(key);
    if (v === undefined) this.memo.set(key, (v = this.stageCost(a, b)));
    return v;
  }

  /** The largest stage of the best cut into n stages. */
  max(n: number): number {
    const L = this.L;
    for (let k = this.best.length; k <= n; k++) {
      const row = new Array<number>(L + 1).fill(Infinity);
      for (let e = k; e <= L; e++)
        for (let s = k - 1; s < e; s++)
          row[e] = Math.min(row[e], Math.max(this.best[k - 1][s], this.cost(s, e)));
      this.best.push(row);
    }
    return this.best[n][L];
  }

  /** The fewest stages whose best cut fits the budget, or 0 if even L stages do not. */
  fewestUnder(budget: number): number {
    for (let n = 1; n <= this.L; n++) if (this.max(n) <= budget) return n;
    return 0;
  }

  /** The cut into n stages: [first, end) layers per stage. */
  cut(n: number): [number, number][] {
    const { L } = this;
    const limit = this.max(n);
    const sq = (a: number, b: number) => (this.cost(a, b) / MiB) ** 2; // MiB²: exact in a double
    // even[k][e]: the least sum of squares cutting 0..e-1 into k stages each within the limit
    const even: { sum: number; from: number }[][] = [[{ sum: 0, from: -1 }]];
    for (let k = 1; k <= n; k++) {
      even.push([]);
      for (let e = k; e <= L; e++) {
        let best = { sum: Infinity, from: -1 };
        for (let s = k - 1; s < e; s++) {
          const prev = even[k - 1][s];
          if (!prev || prev.sum === Infinity || this.cost(s, e) > limit) continue;
          const sum = prev.sum + sq(s, e);
          if (sum < best.sum) best = { sum, from: s };
        }
        even[k][e] = best;
      }
    }
    const list: [number, number][] = [];
    for (let k = n, e = L; k > 0; k--) {
      const s = even[k][e].from;
      list.unshift([s, e]);
      e = s;
    }
    return list;
  }
}

/** A contiguous byte range of the whole image that a stage holds, and where its copy starts. */
interface Range {
  start: number;
  end: number;
  at: number; // offset of this range in the stage's own image
}

/**
 * The manifest of the stage running layers [first, end), number index of count: its tensors
 * (index 0 also wte, wpe, ln_f) moved into an image of its own, the concatenation of its byte
 * ranges of the whole image (which, cut at stage boundaries, are exactly its shards), no shards.
 */
function stageView(m: Manifest, layers: [number, number], index: number, count: number) {
  const mine = ({ name }: TensorEntry) => {
    const l = layerOf(name);
    return l === undefined ? index === 0 : l >= layers[0] && l < layers[1];
  };
  const ranges: Range[] = [];
  let size = 0;
  m.tensors.forEach((t, i) => {
    if (!mine(t)) return;
    const end = i + 1 < m.tensors.length ? m.tensors[i + 1].offset : m.image_bytes; // with padding
    const last = ranges.at(-1);
    if (last && last.end === t.offset) last.end = end;
    else ranges.push({ start: t.offset, end, at: size });
    size += end - t.offset;
  });
  const move = (offset: number) => {
    const r = ranges.find((r) => offset >= r.start && offset < r.end)!;
    return offset - r.start + r.at;
  };
  const tensors = m.tensors.filter(mine).map((t) => {
    const moved: TensorEntry = { ...t, offset: move(t.offset) };
    if (t.scales_offset !== undefined) moved.scales_offset = move(t.scales_offset);
    return moved;
  });
  const { stages: _plan, ...rest } = m;
  const manifest: Manifest = {
    ...rest,
    image_bytes: size,
    tensors,
    shards: [],
    stage: { index, count, layers },
  };
  return { manifest, ranges };
}

/**
 * The manifest stage i of a staged model loads: only its tensors (the first stage: wte, wpe,
 * its layers, ln_f; the others: their layers' h.<l>.*) and only its shards, offsets rebased so
 * that its image is the concatenation of its shards (file names, hence store keys, unchanged),
 * and `stage` saying which one it is. Throws if the manifest's shards do not match its plan.
 */
export function stageManifest(m: Manifest, i: number): Manifest {
  const plan = m.stages;
  if (!plan)
    throw new Error(`model '${m.name}' has no stage plan; convert it with --stages auto or N`);
  const entry = plan.list[i];
  if (!entry)
    throw new RangeError(`model '${m.name}' has stages 0-${plan.list.length - 1}, not ${i}`);
  const { manifest, ranges } = stageView(m, entry.layers, i, plan.list.length);
  manifest.shards = stageShards(m, entry.shards, ranges, i);
  return manifest;
}

/**
 * The stage's shards, rebased; they must tile its ranges in order, nothing more or less. A
 * manifest without shards (a plan made before converting) gives stages without shards.
 */
function stageShards(m: Manifest, picks: number[], ranges: Range[], i: number): ShardEntry[] {
  if (m.shards.length === 0 && picks.length === 0) return [];
  const bad = (why: string) =>
    new Error(`model '${m.name}': stage ${i}'s shards ${why}; reconvert it with --stages`);
  let r = 0;
  let at = 0; // image offset the next shard must start at
  const shards = picks.map((k) => {
    const s = m.shards[k];
    if (!s) throw bad(`list shard ${k}, which does not exist`);
    if (r < ranges.length && at === ranges[r].end) r++;
    if (r < ranges.length && at < ranges[r].start) at = ranges[r].start;
    const range = ranges[r];
    if (!range || s.offset !== at || s.offset + s.bytes > range.end)
      throw bad(`do not tile its part of the image (${s.file} at ${s.offset}+${s.bytes})`);
    at += s.bytes;
    return { ...s, offset: s.offset - range.start + range.at };
  });
  if (r !== ranges.length - 1 || at !== ranges[r].end)
    throw bad(`cover ${shards.reduce((n, s) => n + s.bytes, 0)} bytes, not its whole part`);
  return shards;
}

/**
 * What stage i of this manifest holds, as a short digest: its layers, its shards' SHA-256s and
 * the plan its memory is cut by. Two stages loaded from different uploads of a model agree on
 * it only where that stage's weights and plan are the same, so the first stage can tell whether
 * a later stage holds the weights its own manifest names (src/stage/stage.ts).
 */
export async function stageKey(m: Manifest, i: number): Promise<string> {
  const plan = m.stages;
  const entry = plan?.list[i];
  if (!plan || !entry) throw new RangeError(`model '${m.name}' has no stage ${i}`);
  const { slots, context, kv, rows, logit_rows } = plan;
  const what = JSON.stringify({
    layers: entry.layers,
    shards: entry.shards.map((k) => m.shards[k]?.sha256 ?? null),
    plan: [slots, context, kv, rows, logit_rows],
  });
  return (await sha256Hex(new TextEncoder().encode(what))).slice(0, 24); // 12 bytes
}
