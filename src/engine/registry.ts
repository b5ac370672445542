// The models resident in this isolate, one engine each. Concurrent first requests share one
// load (and one tokenizer fetch), but never depend on the request that started it: every waiter
// watches the work's progress and restarts work that stalled (its owner was cancelled or killed).
// A failed load is forgotten so a later request retries. A load reserves its memory from its plan
// until it is resident or gone; idle models are evicted only when a model that exists needs their
// memory, and the load reuses one evicted model's WASM memory.
// A staged model (its manifest has a stage plan) loads no weights here: its engine lives in its
// first stage's Durable Object (one per replica, chosen by where a request comes from), reached
// through opts.staged; this isolate keeps its tokenizer.

import {
  checkModelName,
  fetchChecked,
  fetchManifest,
  loadModel,
  ModelLoadError,
  type WeightStore,
} from "../model/loader.js";
import { Tokenizer } from "../tokenizer/index.js";
import type { Manifest } from "../model/manifest.js";
import { ModelTooLargeError, planServing, type MemoryPlan } from "../model/plan.js";
import { Engine, type EngineOptions } from "./engine.js";
import type { Generator } from "./generator.js";
import { STALLED, watch, type Shared } from "./shared-work.js";
import { WasmBudget, type Reservation } from "./wasm-budget.js";

/** Where a request comes from, as far as choosing a staged model's replica goes. */
export interface RequestOrigin {
  /** request.cf.continent: AF, AN, AS, EU, NA, OC, SA; absent when unknown. */
  continent?: string;
}

/** A staged model as the gateway serves it: the Generator of each replica, and their status. */
export interface StagedModel {
  readonly lm: Generator["lm"] & { manifest: Manifest };
  /** The replica serving a request from `from`. */
  replica(from?: RequestOrigin): Generator;
  status(): Promise<object>;
}

export interface RegistryOptions {
  kernels: WebAssembly.Module | null;
  /** Which kernel build `kernels` is (status reports it): "relaxed-simd" or "simd128". */
  kernelBuild?: string;
  budgetBytes: number;
  slots: number;
  rows?: number;
  /** Longest context to serve (default each model's n_ctx): trades context for KV slots. */
  context?: number;
  engine: EngineOptions;
  /**
   * A load or tokenizer fetch that completes no read for this long is abandoned and restarted, ms
   * (default 10 s).
   */
  loadStallMs?: number;
  /**
   * Serves a staged model through its stages (src/stage/client.ts); throws ModelLoadError when
   * this gateway cannot reach them. Absent: staged models cannot be served here.
   */
  staged?: (m: Manifest, tokenizer: Tokenizer, context: number) => StagedModel;
}

export interface ModelInfo {
  id: string;
  n_ctx: number;
  n_vocab: number;
  created: number;
}

/** A model's load in progress, with the memory it reserves. */
interface Loading extends Shared<Engine | StagedModel>, Reservation {
  /** Declared stalled and replaced: it reads, writes and allocates nothing more. */
  abandoned: boolean;
  /** The WASM memory it loads into, once it has one; handed back when the load fails or stalls. */
  memory?: WebAssembly.Memory;
}

const LOAD_STALL_MS = 10_000;
const WASM_PAGE = 65536;
const mb = (n: number) => (n / (1024 * 1024)).toFixed(1) + " MiB";

type TokenizerOf = { tokenizer: Tokenizer; n_ctx: number };

export class ModelRegistry {
  private readonly loads = new Map<string, Loading>();
  private readonly ready = new Map<string, Engine>();
  private readonly staged = new Map<string, StagedModel>();
  private readonly tokenizers = new Map<string, Shared<TokenizerOf>>();
  private readonly budget: WasmBudget;

  constructor(
    readonly store: WeightStore & R2Listable,
    readonly opts: RegistryOptions,
  ) {
    this.budget = new WasmBudget(opts.budgetBytes, this.ready, () => this.loads.values());
  }

  /**
   * The engine of a model, loading it on first use. `waitUntil` keeps a load this request starts
   * running if its client leaves; other requests waiting on the load restart it if it stalls.
   */
  async get(name: string, waitUntil?: (p: Promise<unknown>) => void): Promise<Engine> {
    const e = await this.serve(name, waitUntil);
    if (e instanceof Engine) return e;
    throw new ModelLoadError(`model '${name}' is staged: its engine runs in its first stage`);
  }

  /**
   * What serves a model: its Engine here, or the engine in the first stage of the staged model's
   * replica for a request from `from`.
   */
  async serve(
    name: string,
    waitUntil?: (p: Promise<unknown>) => void,
    from?: RequestOrigin,
  ): Promise<Generator> {
    checkModelName(name); // before any storage call
    for (let attempt = 0; ; attempt++) {
      const e = this.ready.get(name) ?? this.staged.get(name)?.replica(from);
      if (e) return e;
      const loading = this.loads.get(name) ?? this.start(name, waitUntil);
      const got = await watch(loading, this.stallMs);
      if (got !== STALLED) return got instanceof Engine ? got : got.replica(from);
      // Abandoned: it stops at its next read, before it writes, and its reservation is free for
      // the next load. Its memory is that load's to reuse: while a read it waits on is pending
      // (slow, not lost) the memory stays alive, and a new one beside it could pass 128 MB.
      this.abandon(name, loading);
      if (attempt >= 1) {
        throw new ModelLoadError(
          `model '${name}': loading made no progress for ${this.stallMs / 1000} s, twice; retry later`,
        );
      }
    }
  }

  private abandon(name: string, loading: Loading): void {
    if (loading.abandoned) return;
    loading.abandoned = true;
    if (this.loads.get(name) === loading) this.loads.delete(name);
    if (loading.memory) this.budget.giveBack(loading.memory);
  }

  private get stallMs(): number {
    return this.opts.loadStallMs ?? LOAD_STALL_MS;
  }

  private start(name: string, waitUntil?: (p: Promise<unknown>) => void): Loading {
    const loading: Loading = {
      promise: null!,
      progress: 0,
      settled: false,
      reserved: 0,
      abandoned: false,
    };
    loading.promise = this.load(name, loading, waitUntil);
    loading.promise
      .catch(() => {})
      .finally(() => {
        loading.settled = true;
        if (this.loads.get(name) === loading) this.loads.delete(name); // a later request retries
      });
    this.loads.set(name, loading);
    waitUntil?.(loading.promise.catch(() => {}));
    return loading;
  }

  /**
   * A model's tokenizer without its weights (tokenize/detokenize need no forward pass): the
   * loaded engine's if resident, else fetched from the store once and kept. Requests share a
   * fetch as they share a load: each watches it, and restarts one that stalls.
   */
  async tokenizer(name: string): Promise<TokenizerOf> {
    checkModelName(name); // before any storage call
    for (let attempt = 0; ; attempt++) {
      const e = this.ready.get(name) ?? this.staged.get(name);
      if (e) return { tokenizer: e.lm.tokenizer, n_ctx: e.lm.plan.context };
      const fetching = this.tokenizers.get(name) ?? this.fetchTokenizer(name);
      const got = await watch(fetching, this.stallMs);
      if (got !== STALLED) return got;
      if (this.tokenizers.get(name) === fetching) this.tokenizers.delete(name);
      if (attempt >= 1) {
        throw new ModelLoadError(
          `model '${name}': fetching its tokenizer made no progress for ` +
            `${this.stallMs / 1000} s, twice; retry later`,
        );
      }
    }
  }

  private fetchTokenizer(name: string): Shared<TokenizerOf> {
    const fetching: Shared<TokenizerOf> = { promise: null!, progress: 0, settled: false };
    fetching.promise = (async () => {
      const m = await fetchManifest(this.store, name);
      fetching.progress++;
      const bytes = await fetchChecked(this.store, name, m.tokenizer);
      fetching.progress++;
      return { tokenizer: Tokenizer.fromBytes(bytes, { verify: false }), n_ctx: this.context(m) };
    })();
    fetching.promise
      .catch(() => {
        if (this.tokenizers.get(name) === fetching) this.tokenizers.delete(name); // retry later
      })
      .finally(() => (fetching.settled = true));
    this.tokenizers.set(name, fetching);
    return fetching;
  }

  private async load(
    name: string,
    loading: Loading,
    waitUntil?: (p: Promise<unknown>) => void,
  ): Promise<Engine | StagedModel> {
    const replaced = () => new ModelLoadError(`model '${name}': a newer load replaced this one`);
    const beat = () => {
      // An abandoned load stops at its next read, before it writes or allocates anything more.
      if (loading.abandoned) throw replaced();
      loading.progress++;
    };
    // The manifest first: an unknown or unreadable model fails here, before anything is evicted.
    const manifest = await fetchManifest(this.store, name);
    beat();
    if (manifest.stages) return this.serveStaged(name, manifest);
    const plan = this.planNow(name, manifest);
    const memory = this.budget.reserve(loading, plan.totalBytes, (evicted, e) => {
      e.close();
      this.ready.delete(evicted);
      this.tokenizers.delete(evicted);
    });
    loading.memory = memory;
    try {
      // A request that got an evicted engine just before it was evicted finishes reading it in
      // its current microtasks (routes use an engine synchronously once they have it, or take
      // it again after an await: completions after the token limiter).
      if (memory) await new Promise((r) => setTimeout(r, 0));
      if (loading.abandoned) throw replaced();
      const budget = this.opts.budgetBytes;
      const lm = await loadModel(this.store, name, {
        manifest,
        plan,
        memory,
        maxPages: Math.min(65536, Math.floor(budget / WASM_PAGE)),
        kernels: this.opts.kernels,
        budgetBytes: budget,
        slots: this.opts.slots,
        waitUntil,
        onProgress: beat,
        onMemory: (m) => (loading.memory = m),
        owned: () => !loading.abandoned,
      });
      if (loading.abandoned) throw replaced(); // past its last read when it was replaced
      const engine = new Engine(lm, this.opts.engine);
      this.ready.set(name, engine);
      loading.reserved = 0; // counted as resident from here
      return engine;
    } catch (e) {
      loading.reserved = 0;
      // Its memory (an evicted model's, or a new one) for the next load, unless abandoned: it
      // was given back then. The load writes nothing more once it has failed (every read's job
      // has settled).
      if (loading.memory && !loading.abandoned) this.budget.giveBack(loading.memory);
      throw e;
    }
  }

  /** A staged model: its tokenizer here, its engine in its first stage. */
  private async serveStaged(name: string, m: Manifest): Promise<StagedModel> {
    const stages = m.stages!.list.length;
    if (!this.opts.staged) {
      throw new ModelLoadError(
        `model '${name}' is cut into ${stages} pipeline stages and this server runs none; ` +
          `upload it with npm run weights -- upload (which writes the stage configs), then ` +
          `start with npm run dev, which runs them`,
      );
    }
    const bytes = await fetchChecked(this.store, name, m.tokenizer);
    const tokenizer = Tokenizer.fromBytes(bytes, { verify: false });
    const model = this.opts.staged(m, tokenizer, this.context(m));
    this.staged.set(name, model);
    return model;
  }

  private plan(m: Manifest, budgetBytes: number): MemoryPlan {
    return planServing(m, {
      budgetBytes,
      slots: this.opts.slots,
      rows: this.opts.rows ?? 64,
      logitRows: 8,
      context: this.opts.context,
    });
  }

  /**
   * The plan a model loads with now, in what models serving requests and loads in flight leave
   * (no eviction frees that). Over the whole budget: ModelTooLargeError, which no retry helps.
   * Within it but not beside them: a ModelLoadError, a 503 with Retry-After. Failing beats
   * waiting for them: a load in flight ends with its model busy serving the requests that
   * waited for it, a busy model may stay busy for minutes of generation, a waiting request holds
   * its body and its slot in the isolate meanwhile, and its retry may reach an isolate with room.
   */
  private planNow(name: string, m: Manifest): MemoryPlan {
    this.plan(m, this.budget.bytes); // throws ModelTooLargeError if it never fits
    const free = this.budget.free();
    try {
      return this.plan(m, free);
    } catch (e) {
      if (!(e instanceof ModelTooLargeError)) throw e;
      throw new ModelLoadError(
        `model '${name}' needs at least ${mb(e.plan.totalBytes)} of WASM memory; models loading ` +
          `or serving requests leave ${mb(Math.max(0, free))} of the ${mb(this.budget.bytes)} ` +
          `budget; retry in a few seconds`,
      );
    }
  }

  /**
   * Resident models (memory plan, load time, engine occupancy and counters), and the WASM memory
   * held besides them: reserved by loads in flight, and the spare a failed load gave back.
   */
  status() {
    const models = [...this.ready].map(([name, e]) => ({
      id: name,
      load_ms: Math.round(e.lm.loadMs),
      memory_bytes: e.lm.kernels.memory.buffer.byteLength,
      memory: e.lm.plan.breakdown,
      ...e.snapshot(),
    }));
    return {
      budget_bytes: this.opts.budgetBytes,
      reserved_bytes: this.budget.reserved(),
      spare_bytes: this.budget.spareBytes,
      kernels: this.opts.kernelBuild,
      models,
    };
  }

  /** status(), plus the staged models served so far, each stage as its Durable Object reports. */
  async statusWithStages() {
    const own = this.status();
    const staged = await Promise.all(
      [...this.staged].map(async ([name, g]) => ({
        id: name,
        staged: g.lm.manifest.stages!.list.length,
        ...(await g.status()),
      })),
    );
    return { ...own, models: [...own.models, ...staged] };
  }

  /** Models present in the store: names under models/ with a manifest. */
  async list(): Promise<ModelInfo[]> {
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.store.list({ prefix: "models/", delimiter: "/", cursor });
      for (const p of page.delimitedPrefixes) names.push(p.slice("models/".length, -1));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    const infos = await Promise.all(names.map((n) => this.info(n).catch(() => null)));
    return infos.filter((i): i is ModelInfo => i !== null);
  }

  /** A model's public facts from its manifest (no weights are loaded). */
  async info(name: string): Promise<ModelInfo> {
    checkModelName(name);
    const known = this.ready.get(name) ?? this.staged.get(name);
    const m: Manifest = known?.lm.manifest ?? (await fetchManifest(this.store, name));
    // OpenAI's `created` (unix seconds): when the converter wrote the model.
    const created = Math.floor((Date.parse(String(m.source?.converted_at ?? "")) || 0) / 1000);
    return { id: m.name, n_ctx: this.context(m), n_vocab: m.config.n_vocab, created };
  }

  /**
   * The context this server serves a model with: its loaded plan's, or the plan it would get
   * (the memory plan may cap it below n_ctx). A model over budget reports n_ctx; loading it fails.
   */
  private context(m: Manifest): number {
    const e = this.ready.get(m.name) ?? this.staged.get(m.name);
    if (e) return e.lm.plan.context;
    // A staged model serves the context its stages were planned for (or less, if capped here).
    if (m.stages) return Math.min(m.stages.context, this.opts.context ?? m.stages.context);
    try {
      return planServing(m, {
        budgetBytes: this.opts.budgetBytes,
        slots: this.opts.slots,
        rows: this.opts.rows ?? 64,
        logitRows: 8,
        context: this.opts.context,
      }).context;
    } catch (e) {
      if (e instanceof ModelTooLargeError) return m.config.n_ctx;
      throw e;
    }
  }
}

/** The listing part of R2Bucket. */
export interface R2Listable {
  list(opts: { prefix: string; delimiter: string; cursor?: string }): Promise<{
    delimitedPrefixes: string[];
    truncated: boolean;
    cursor?: string;
  }>;
}
