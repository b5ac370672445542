// A staged model's later stages in this process, for the engine-over-a-pipeline tests: the
// Durable Objects' own code (StageLayers, SequenceSlots) behind links that stand in for RPC, with
// a delay per call if asked (a remote stage's compute and the round trip), and a record of the
// calls: how many stages were working at once, what each was sent and sent back.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Engine } from "../../../src/engine/engine.js";
import { loadKernelModule } from "../../../src/kernels/node.js";
import type { GPT2 } from "../../../src/model/gpt2.js";
import { loadModel, type LoadedModel } from "../../../src/model/loader.js";
import type { Manifest } from "../../../src/model/manifest.js";
import { stageManifest, stagePlanOptions } from "../../../src/model/stages.js";
import { StageLayers } from "../../../src/stage/layers.js";
import { Pipeline, type StageLink } from "../../../src/stage/pipeline.js";
import type { StageAnswer, StageBatch } from "../../../src/stage/protocol.js";
import { convertCheckpoint } from "../../../weights/convert.js";
import { modelDirStore } from "../../helpers/fs-store.js";
import { SOURCE_DIR } from "../../setup/paths.js";

export const immediate = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The tiny model whole, and cut into 3 stages of `slots` slots at context 128, each in its memory. */
export async function loadStaged(slots = 4): Promise<{ whole: LoadedModel; parts: LoadedModel[] }> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "local-stages-"));
  try {
    const stages = { count: 3, slots, context: 128 };
    const m = convertCheckpoint(SOURCE_DIR, tmp, { name: "staged", stages }).manifest;
    const store = modelDirStore(tmp, m.name);
    const opts = { ...stagePlanOptions(m.stages!), kernels: loadKernelModule(), cache: null };
    const load = (manifest: Manifest) => loadModel(store, m.name, { ...opts, manifest });
    const whole = await load(m);
    const parts = await Promise.all(m.stages!.list.map((_, i) => load(stageManifest(m, i))));
    return { whole, parts };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** One call a later stage served: what it was sent, and how many floats it sent back. */
export interface CallRecord {
  stage: number;
  batch: StageBatch;
  floats: number;
}

/**
 * How long a call takes after it arrives, ms (0: one event-loop turn): a remote stage's compute
 * and the round trip. Calls are not queued here: two that overlap may end in either order, as
 * two RPCs may, so only the pipeline's own order keeps a sequence's positions in order.
 */
export type Delay = (stage: number, batch: StageBatch) => number;

export class LocalStages {
  readonly layers: StageLayers[];
  calls = 0;
  /** Calls with rows being served now; the most stages ever working at once, and calls. */
  private busy: number[];
  maxBusy = 0;
  maxCalls = 0;
  readonly log: CallRecord[] = [];
  /** Runs as stage i's call arrives, before it is served. */
  onCall?: (i: number) => void;

  constructor(
    readonly parts: LoadedModel[],
    private readonly delay?: Delay,
  ) {
    this.layers = parts.slice(1).map((lm, i) => new StageLayers(lm, i + 1));
    this.busy = this.layers.map(() => 0);
  }

  links(): StageLink[] {
    return this.layers.map((_, k) => ({ index: k + 1, forward: (b) => this.serve(k, b) }));
  }

  /** Stage k+1's call: `delay` ms, then its answer. */
  private async serve(k: number, b: StageBatch): Promise<StageAnswer> {
    this.calls++;
    this.onCall?.(k + 1);
    const work = b.segs.length ? 1 : 0; // a call with frees only costs nothing
    this.busy[k] += work;
    this.maxBusy = Math.max(this.maxBusy, this.busy.filter((n) => n > 0).length);
    this.maxCalls = Math.max(this.maxCalls, this.busy[k]);
    const ms = work * (this.delay?.(k + 1, b) ?? 0);
    await (ms > 0 ? sleep(ms) : immediate()); // an RPC: other drivers run meanwhile
    this.busy[k] -= work;
    const answer = this.layers[k].forward(structuredClone(b));
    const floats = "rows" in answer ? answer.rows.length : 0;
    this.log.push({ stage: k + 1, batch: b, floats });
    return answer;
  }

  evict(i: number): void {
    const lm = this.layers[i - 1].lm;
    const kv = new Uint8Array(
      lm.kernels.memory.buffer,
      lm.plan.kv,
      lm.plan.slots * lm.plan.kvSlotBytes,
    );
    kv.fill(0);
    this.layers[i - 1] = new StageLayers(lm, i);
  }

  get used(): number[] {
    return this.layers.map((l) => l.slots.used);
  }
}

/** The engine of the first stage over these stages, `depth` batches in flight (default 3). */
export function pipelined(
  stages: LocalStages,
  opts: {
    depth?: number;
    prefillChunk?: number;
    maxQueue?: number;
    model?: GPT2;
    yieldFn?: () => Promise<void>;
  } = {},
): Engine<Pipeline> {
  const first = stages.parts[0];
  const model = opts.model ?? first.model;
  const pipeline = new Pipeline(model, stages.links(), first.plan.slots, opts.depth);
  return new Engine(
    { ...first, model: pipeline },
    {
      maxQueue: opts.maxQueue ?? 64,
      prefillChunk: opts.prefillChunk ?? 16,
      yieldFn: opts.yieldFn ?? immediate,
    },
  );
}
