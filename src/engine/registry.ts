// The models resident in this isolate, one engine each. Concurrent first requests share one
// load; a failed load is forgotten so a later request retries; idle models are evicted when
// another needs the memory budget.

import { fetchChecked, fetchManifest, loadModel, type WeightStore } from "../model/loader.js";
import { Tokenizer } from "../tokenizer/index.js";
import type { Manifest } from "../model/manifest.js";
import { ModelTooLargeError, planServing } from "../model/plan.js";
import { Engine, type EngineOptions } from "./engine.js";

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
}

export interface ModelInfo {
  id: string;
  n_ctx: number;
  n_vocab: number;
  created: number;
}

export class ModelRegistry {
  private readonly engines = new Map<string, Promise<Engine>>();
  private readonly ready = new Map<string, Engine>();
  private readonly tokenizers = new Map<string, Promise<{ tokenizer: Tokenizer; n_ctx: number }>>();

  constructor(
    readonly store: WeightStore & R2Listable,
    readonly opts: RegistryOptions,
  ) {}

  /** The engine of a model, loading it on first use. */
  get(name: string, waitUntil?: (p: Promise<unknown>) => void): Promise<Engine> {
    let p = this.engines.get(name);
    if (!p) {
      p = this.load(name, waitUntil);
      this.engines.set(name, p);
      p.catch(() => this.engines.delete(name)); // a later request retries
    }
    return p;
  }

  /**
   * A model's tokenizer without its weights (tokenize/detokenize need no forward pass): the
   * loaded engine's if resident, else fetched from the store once and kept.
   */
  tokenizer(name: string): Promise<{ tokenizer: Tokenizer; n_ctx: number }> {
    const e = this.ready.get(name);
    if (e) return Promise.resolve({ tokenizer: e.lm.tokenizer, n_ctx: e.lm.plan.context });
    let p = this.tokenizers.get(name);
    if (!p) {
      p = (async () => {
        const m = await fetchManifest(this.store, name);
        const bytes = await fetchChecked(this.store, name, m.tokenizer);
        return { tokenizer: Tokenizer.fromBytes(bytes, { verify: false }), n_ctx: this.context(m) };
      })();
      this.tokenizers.set(name, p);
      p.catch(() => this.tokenizers.delete(name));
    }
    return p;
  }

  private async load(name: string, waitUntil?: (p: Promise<unknown>) => void): Promise<Engine> {
    // Evict idle models so the new one gets the budget; busy ones keep theirs.
    let used = 0;
    for (const [other, e] of this.ready) {
      if (e.load === 0) {
        this.ready.delete(other);
        this.engines.delete(other);
      } else used += e.lm.plan.totalBytes;
    }
    const lm = await loadModel(this.store, name, {
      kernels: this.opts.kernels,
      budgetBytes: this.opts.budgetBytes - used,
      slots: this.opts.slots,
      rows: this.opts.rows,
      context: this.opts.context,
      waitUntil,
    });
    const engine = new Engine(lm, this.opts.engine);
    this.ready.set(name, engine);
    return engine;
  }

  /** Resident models: memory plan, load time, engine occupancy and counters. */
  status() {
    const models = [...this.ready].map(([name, e]) => ({
      id: name,
      load_ms: Math.round(e.lm.loadMs),
      memory_bytes: e.lm.plan.totalBytes,
      memory: e.lm.plan.breakdown,
      ...e.snapshot(),
    }));
    return { budget_bytes: this.opts.budgetBytes, kernels: this.opts.kernelBuild, models };
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
    const m: Manifest =
      this.ready.get(name)?.lm.manifest ?? (await fetchManifest(this.store, name));
    // OpenAI's `created` (unix seconds): when the converter wrote the model.
    const created = Math.floor((Date.parse(String(m.source?.converted_at ?? "")) || 0) / 1000);
    return { id: m.name, n_ctx: this.context(m), n_vocab: m.config.n_vocab, created };
  }

  /**
   * The context this server serves a model with: its loaded plan's, or the plan it would get
   * (the memory plan may cap it below n_ctx). A model over budget reports n_ctx; loading it fails.
   */
  private context(m: Manifest): number {
    const e = this.ready.get(m.name);
    if (e) return e.lm.plan.context;
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
