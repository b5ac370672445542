// One pipeline stage of a staged model: a Durable Object in its own Worker script (objects of
// one script may share an isolate, so each stage that needs its own 128 MB is its own script),
// loading only its stage's shards from R2 into its own WASM memory, with the same loader,
// kernels and forward pass as the single-isolate path. The first stage also runs the engine:
// continuous batching of every request of its replica, through the Pipeline to the others.
// Everything it holds is in memory; an evicted stage comes back empty and reloads on its next
// call, and the first stage re-prefills the sequences it lost (pipeline.ts).

import { DurableObject } from "cloudflare:workers";
import { Engine } from "../engine/engine.js";
import type { GenerationRequest } from "../engine/sequence.js";
import { kernels } from "../kernels/bundled.js";
import { intSetting } from "../settings.js";
import { fetchManifest, loadModel, type LoadedModel } from "../model/loader.js";
import type { StagePlan } from "../model/manifest.js";
import { planMemory } from "../model/plan.js";
import { stageKey, stageManifest, stagePlanOptions } from "../model/stages.js";
import { linkTo, type Link, type StageNamespace } from "./links.js";
import { stageBinding } from "./names.js";
import { Pipeline } from "./pipeline.js";
import type { Fault, GenerateAnswer, StageAnswer, StageBatch } from "./protocol.js";
import { faultOf, StageConfigError } from "./faults.js";
import { serveSequence } from "./serve.js";
import { StageLayers } from "./layers.js";
import type { LocationHint } from "./replicas.js";

/** A stage script's settings: [vars] of its generated config (weights/stage-configs.ts). */
export interface StageEnv {
  WEIGHTS: R2Bucket;
  MODEL: string;
  STAGE_INDEX: string;
  STAGE_COUNT: string;
  /** This isolate's WASM budget, MiB (default 112); the stage plan must fit it. */
  MEMORY_BUDGET_MB?: string;
  /** First stage: sequences that may wait for a KV slot. */
  MAX_QUEUE?: string;
  /** Longest wait for another stage's answer, ms (default 120 s: a cold stage loads first). */
  STAGE_CALL_TIMEOUT_MS?: string;
  /** "1" lets tests evict an object (evict()); never set in a deployed config. */
  STAGE_TEST_HOOKS?: string;
}

/** What a loaded stage holds: its model, and the engine (first stage) or its layers (others). */
interface Loaded {
  lm: LoadedModel;
  engine?: Engine<Pipeline>;
  links: Link[];
  layers?: StageLayers;
  /** A later stage: its stageKey in the manifest it loaded, which batches must expect. */
  key?: string;
}

export class Stage extends DurableObject<StageEnv> {
  private loading: Promise<Loaded> | null = null;
  private loaded: Loaded | null = null;
  /**
   * This stage's own weights once loaded, kept when only warming the later stages failed, and
   * the memory of an own load that failed, loaded into by the next try: the platform frees WASM
   * memory only at GC, and a second copy of a stage near the budget is past the isolate's 128 MB.
   */
  private own: LoadedModel | null = null;
  private spare: WebAssembly.Memory | undefined;
  /** Loads of its own weights this object has completed (one, unless its R2 reads failed). */
  private loads = 0;
  private readonly index = Number(this.env.STAGE_INDEX);
  private readonly count = Number(this.env.STAGE_COUNT);

  // ---- every stage ----

  /** Load now (the first stage warms the others as it loads); the fault if it cannot. */
  async warm(): Promise<Fault | null> {
    try {
      await this.load();
      return null;
    } catch (e) {
      return faultOf(e, this.index);
    }
  }

  /**
   * What this stage holds; the first stage adds every other stage's answer, each with the
   * location hint its object is created with (`hint`: the replica's, from the gateway).
   */
  async status(hint?: LocationHint): Promise<object> {
    const own = this.ownStatus();
    if (this.index !== 0) return own;
    const links = this.loaded?.links ?? this.linksOf(hint);
    const others = await Promise.all(
      links.map(async (l) => ({
        ...(await l.status().catch((e: Error) => ({ stage: l.index, error: e.message }))),
        hint: l.hint ?? null,
      })),
    );
    return { model: this.env.MODEL, stages: [{ ...own, hint: hint ?? null }, ...others] };
  }

  // ---- stages after the first ----

  /**
   * This stage's layers over a batch of rows from the first stage, if it holds the weights that
   * stage's manifest names for it (the same upload, or one that left this stage alone): else R2
   * says which of the two is stale. This one reloads; the first is told (weights_changed).
   */
  async forward(b: StageBatch): Promise<StageAnswer> {
    try {
      let l = await this.load();
      if (b.expect !== undefined && b.expect !== l.key) {
        const now = await stageKey(
          await fetchManifest(this.env.WEIGHTS, this.env.MODEL),
          this.index,
        );
        if (now === b.expect) {
          if (this.loaded === l) this.unload(); // stale here: the next load reads R2 again
          l = await this.load();
        }
        if (b.expect !== l.key) {
          const message =
            `The staged model '${this.env.MODEL}' was re-uploaded: pipeline stage ` +
            `${this.index} and the first stage hold different uploads. The first stage ` +
            `reloads; retry in a second.`;
          return { fault: { code: "weights_changed", message } };
        }
      }
      return l.layers!.forward(b);
    } catch (e) {
      return { fault: faultOf(e, this.index) };
    }
  }

  // ---- the first stage ----

  /**
   * Queue a generation and stream its events; a fault if the pipeline cannot take it. `hint`:
   * this replica's location hint, which the later stages' objects are created with.
   */
  async generate(req: GenerationRequest, hint?: LocationHint): Promise<GenerateAnswer> {
    if (this.index !== 0) throw new Error(`generate goes to stage 0, not stage ${this.index}`);
    let engine: Engine<Pipeline>;
    try {
      engine = (await this.load(hint)).engine!;
    } catch (e) {
      return { fault: faultOf(e, this.index) };
    }
    let seq;
    try {
      seq = engine.submit(req);
    } catch (e) {
      return { fault: faultOf(e) };
    }
    const { stream, done } = serveSequence(engine, seq);
    this.ctx.waitUntil(done);
    return { stream, epoch: engine.lm.model.epoch };
  }

  /** Tests only (STAGE_TEST_HOOKS=1): drop this object as the platform evicts one. */
  async evict(): Promise<void> {
    if (this.env.STAGE_TEST_HOOKS !== "1") throw new Error("evict() is for tests only");
    this.ctx.abort("evicted by a test");
  }

  // ---- loading ----

  /**
   * The loaded stage, loading it on first use; a failed load is retried by the next call. A first
   * stage whose pipeline a later stage found stale loads again: its engine takes no more work,
   * and its pipeline computes nothing more, so the new load may reuse its memory.
   */
  private load(hint?: LocationHint): Promise<Loaded> {
    if (this.loaded?.engine?.lm.model.stale) {
      this.loaded.engine.close();
      this.unload();
    }
    if (this.loaded) return Promise.resolve(this.loaded);
    if (!this.loading) {
      this.loading = this.loadStage(hint).then(
        (l) => (this.loaded = l),
        (e) => {
          this.loading = null;
          throw e;
        },
      );
    }
    return this.loading;
  }

  /** Forget the loaded stage (its weights stay in this.own): the next call loads again. */
  private unload(): void {
    this.loaded = null;
    this.loading = null;
  }

  /** `hint`: the first stage's replica's, for the later stages' objects its links create. */
  private async loadStage(hint?: LocationHint): Promise<Loaded> {
    const { WEIGHTS, MODEL } = this.env;
    const m = await fetchManifest(WEIGHTS, MODEL);
    const stagePlan = checkStaged(m.stages, MODEL, this.count);
    const manifest = stageManifest(m, this.index);
    const budgetBytes = intSetting(this.env.MEMORY_BUDGET_MB, 112) * 2 ** 20;
    // The plan made at convert time, checked against this isolate's budget (throws if over).
    const plan = planMemory(manifest, { ...stagePlanOptions(stagePlan), budgetBytes });
    const links = this.index === 0 ? this.linksOf(hint) : [];
    // The first stage warms the others while it loads: every stage pays its cold load at once.
    const warming = Promise.all(links.map((l) => l.warm()));
    warming.catch(() => {});
    if (this.own && !sameLoad(this.own, manifest, plan.pages)) {
      this.spare = this.own.kernels.memory; // re-uploaded meanwhile: load the new weights into it
      this.own = null;
    }
    const lm = this.own ?? (await this.loadOwn(manifest, plan, budgetBytes));
    if (this.index !== 0) {
      const key = await stageKey(m, this.index);
      return { lm, links, layers: new StageLayers(lm, this.index), key };
    }
    await warming; // a failure here keeps lm (this.own): the next call only warms again
    const expect = await Promise.all(links.map((l) => stageKey(m, l.index)));
    const pipeline = new Pipeline(lm.model, links, plan.slots, undefined, expect);
    const engine = new Engine(
      { ...lm, model: pipeline },
      { maxQueue: intSetting(this.env.MAX_QUEUE, 256), prefillChunk: Math.min(64, plan.rows) },
    );
    return { lm, engine, links };
  }

  /** Load this stage's shards into its memory: a failed load's memory if there is one. */
  private async loadOwn(
    manifest: ReturnType<typeof stageManifest>,
    plan: ReturnType<typeof planMemory>,
    budgetBytes: number,
  ): Promise<LoadedModel> {
    const memory =
      this.spare ?? new WebAssembly.Memory({ initial: plan.pages, maximum: plan.pages });
    this.spare = undefined;
    try {
      this.own = await loadModel(this.env.WEIGHTS, this.env.MODEL, {
        manifest,
        plan,
        memory,
        kernels,
        budgetBytes,
        slots: plan.slots,
        cache: null, // a Durable Object keeps its model in memory; no shard cache in front of R2
      });
    } catch (e) {
      this.spare = memory;
      throw e;
    }
    this.loads++;
    return this.own;
  }

  /** The first stage's links to every later stage's object of this replica, created near it. */
  private linksOf(hint: LocationHint | undefined): Link[] {
    const timeout = intSetting(this.env.STAGE_CALL_TIMEOUT_MS, 120_000);
    // every stage's object of a replica has the replica's name (replicaObject)
    const name = this.ctx.id.name ?? this.ctx.id.toString();
    const env = this.env as unknown as Record<string, StageNamespace>;
    return Array.from({ length: this.count - 1 }, (_, i) => {
      const ns = env[stageBinding(i + 1)];
      if (!ns) throw new Error(`stage 0 has no binding ${stageBinding(i + 1)}: regenerate configs`);
      return linkTo(ns, i + 1, name, hint, timeout);
    });
  }

  private ownStatus() {
    const l = this.loaded;
    const base = {
      stage: this.index,
      model: this.env.MODEL,
      loaded: l !== null,
      loads: this.loads,
    };
    if (!l) return base;
    const { plan, model } = l.lm;
    return {
      ...base,
      layers: model.layerRange,
      load_ms: Math.round(l.lm.loadMs),
      memory_bytes: l.lm.kernels.memory.buffer.byteLength,
      memory: plan.breakdown,
      context: plan.context,
      kv: plan.kvDtype,
      slots: plan.slots,
      ...(l.engine ? engineStatus(l.engine) : layersStatus(l.layers!)),
    };
  }
}

/** The first stage's engine counters and its round trips to each later stage. */
function engineStatus(engine: Engine<Pipeline>) {
  const snap = engine.snapshot();
  const p = engine.lm.model;
  const hops = p.hops.map((h) => ({
    stage: h.stage,
    calls: h.calls,
    // the round trip less the stage's own compute: what a hop costs
    rpc_ms: h.calls ? +((h.ms - h.computeMs) / h.calls).toFixed(3) : 0,
    compute_ms: h.calls ? +(h.computeMs / h.calls).toFixed(3) : 0,
  }));
  return { ...snap, used: snap.running, replays: p.replays, hops };
}

/** A later stage's slots in use and its compute per call. */
function layersStatus(layers: StageLayers) {
  const { calls, computeMs } = layers.stats;
  return {
    used: layers.slots.used,
    calls,
    compute_ms: calls ? +(computeMs / calls).toFixed(3) : 0,
  };
}

/** Whether a kept load is what this manifest and plan would load: the same shards, the same size. */
function sameLoad(lm: LoadedModel, manifest: { shards: { sha256: string }[] }, pages: number) {
  const shas = (m: { shards: { sha256: string }[] }) => m.shards.map((s) => s.sha256).join();
  return lm.plan.pages === pages && shas(lm.manifest) === shas(manifest);
}

/** The stage plan of a model this script serves, checked against the script's own settings. */
function checkStaged(plan: StagePlan | undefined, model: string, n: number): StagePlan {
  const fix = "re-upload it with npm run weights -- upload, which rewrites the stage configs";
  if (!plan) throw new StageConfigError(`model '${model}' in R2 has no stage plan; ${fix}`);
  if (plan.list.length !== n)
    throw new StageConfigError(
      `model '${model}' in R2 has ${plan.list.length} stages, this script was made for ${n}; ${fix}`,
    );
  return plan;
}
