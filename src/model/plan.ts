// The memory plan: every byte of WASM memory a model needs (weights image, KV-cache slots,
// scratch activations), laid out once before anything is fetched, and checked against the
// isolate budget. The forward pass addresses memory only through this plan. planServing picks
// the KV dtype, the served context and the slot count that fit (see its comment).

import { q4ScratchBytes, QBLOCK } from "../kernels/quant.js";
import { RESERVED_BYTES } from "../kernels/types.js";
import {
  ALIGN,
  ownsEmbedding,
  stageLayers,
  type DType,
  type Manifest,
  type ModelConfig,
} from "./manifest.js";

const PAGE = 65536; // one WebAssembly page
const MiB = 1024 * 1024;

/**
 * The most WASM memory a plan lays out: wasm32 addresses 4 GiB (65536 pages), and the last page
 * stays unused so that no buffer ends at 2^32, where a kernel's u32 end pointer would wrap to 0.
 * Below it every pointer is unsigned on both sides (usize in assembly/; in TS plain numbers,
 * never `>> 2` or `| 0`, which turn an offset past 2 GiB negative).
 */
export const MAX_MEMORY_BYTES = 65535 * PAGE;

/** KV-cache element type: f32, or int8 blocks of 32 channels with an f32 scale (as q8). */
export type KvDtype = "f32" | "q8";

export interface PlanOptions {
  /** KV-cache slots: sequences that can be in flight at once. */
  slots: number;
  /** Rows (tokens) one forward pass may process: prefill chunk plus batched decode. */
  rows: number;
  /** Rows whose logits are computed in one unembedding pass (V floats each). */
  logitRows: number;
  /** Budget for the whole WASM memory, bytes. */
  budgetBytes: number;
  /** Default f32. */
  kv?: KvDtype;
  /** Positions per KV slot, the longest sequence served. Default (and at most) n_ctx. */
  context?: number;
}

export interface MemoryPlan {
  weights: number; // image base; tensor at weights + entry.offset
  kv: number; // [slots][L][K, V] caches (L: the stage's layers), each [context][C] f32, or i8 [context][C] + f32 [context][C/32]
  kvDtype: KvDtype;
  /** Positions per slot: the context this plan serves (<= n_ctx). */
  context: number;
  kvSlotBytes: number;
  slots: number;
  rows: number;
  /** Rows unembedded at once; 0 in a stage without the embedding (it has no logits buffer). */
  logitRows: number;
  x: number; // [rows][C] residual stream
  xn: number; // [rows][C] layernorm output
  qkv: number; // [rows][3C] c_attn output (q | k | v)
  y: number; // [rows][C] attention output
  tmp: number; // [rows][C] c_proj outputs before the residual add
  fc: number; // [rows][4C] MLP hidden
  att: number; // [NH][rows][context] attention probabilities of one segment
  lnf: number; // [logitRows][C] ln_f output of the rows that need logits (first stage only)
  logits: number; // [logitRows][V] (first stage only)
  ids: number; // [rows] i32 token ids (first stage only)
  xq: number; // [max(rows, logitRows)][4C] i8: a matmul input (or qkv) quantized to blocks of 32
  xs: number; // [max(rows, logitRows)][4C/32] f32: its block scales
  q4x: number; // q4 matmulQuant's scratch for max(rows, logitRows) rows of 4C (0 bytes without q4)
  totalBytes: number;
  pages: number;
  breakdown: { weights: number; kv: number; scratch: number; reserved: number };
}

export class ModelTooLargeError extends Error {
  constructor(
    message: string,
    readonly plan: { totalBytes: number; budgetBytes: number },
  ) {
    super(message);
    this.name = "ModelTooLargeError";
  }
}

const align = (n: number, a = ALIGN) => Math.ceil(n / a) * a;

/**
 * Byte sizes of one K (or V) cache of one layer, and of one slot (K and V of `layers` layers:
 * all of them, or a stage's).
 */
export function kvBytes(c: ModelConfig, kv: KvDtype, context: number, layers = c.n_layer) {
  const data = align(context * c.n_embd * (kv === "f32" ? 4 : 1));
  const scales = kv === "f32" ? 0 : align((context * c.n_embd * 4) / QBLOCK);
  const half = data + scales;
  return { data, half, layer: 2 * half, slot: 2 * half * layers };
}

/** KV bytes of one slot (every layer, K and V); by default f32 at n_ctx. */
export function kvSlotBytes(c: ModelConfig, kv: KvDtype = "f32", context = c.n_ctx): number {
  return kvBytes(c, kv, context).slot;
}

/**
 * Where one layer's K (which 0) or V (1) cache of a slot lives: quants/floats and scales.
 * `layer` counts from the plan's first layer (a stage's layer first + i is its layer i).
 */
export function kvAddress(
  p: MemoryPlan,
  c: ModelConfig,
  slot: number,
  layer: number,
  which: 0 | 1,
) {
  const b = kvBytes(c, p.kvDtype, p.context);
  const data = p.kv + slot * p.kvSlotBytes + layer * b.layer + which * b.half;
  return { data, scales: data + b.data };
}

/**
 * Lay out memory for a model; throws ModelTooLargeError (with the numbers and the fix) if over
 * budget or past what WASM memory can address (MAX_MEMORY_BYTES).
 */
export function planMemory(m: Manifest, opts: PlanOptions): MemoryPlan {
  const plan = layout(m, opts);
  if (plan.totalBytes > Math.min(opts.budgetBytes, MAX_MEMORY_BYTES)) {
    throw tooLarge(m, plan, opts.budgetBytes);
  }
  return plan;
}

/**
 * The layout of planMemory, whatever its size. A stage (m.stage) has a KV cache for its own
 * layers only, and only the first stage, which embeds and unembeds, has ids, lnf and logits.
 */
export function layout(m: Manifest, opts: PlanOptions): MemoryPlan {
  const c = m.config;
  const { n_embd: C, n_head: NH, n_vocab: V } = c;
  const [first, end] = stageLayers(m);
  const head = ownsEmbedding(m);
  const rows = opts.rows;
  const logitRows = head ? opts.logitRows : 0;
  const kvDtype = opts.kv ?? "f32";
  const context = Math.min(opts.context ?? c.n_ctx, c.n_ctx);
  let at = RESERVED_BYTES;
  const take = (bytes: number) => {
    const p = at;
    at = align(at + bytes, 64); // 64: a cache line, so buffers never share one
    return p;
  };
  const weights = take(m.image_bytes);
  const slotBytes = kvBytes(c, kvDtype, context, end - first).slot;
  const kv = take(opts.slots * slotBytes);
  const scratchStart = at;
  const qRows = Math.max(rows, logitRows);
  const plan: MemoryPlan = {
    weights,
    kv,
    kvDtype,
    context,
    kvSlotBytes: slotBytes,
    slots: opts.slots,
    rows,
    logitRows,
    x: take(rows * C * 4),
    xn: take(rows * C * 4),
    qkv: take(rows * 3 * C * 4),
    y: take(rows * C * 4),
    tmp: take(rows * C * 4),
    fc: take(rows * 4 * C * 4),
    att: take(NH * rows * context * 4),
    lnf: take(logitRows * C * 4),
    logits: take(logitRows * V * 4),
    ids: take(head ? rows * 4 : 0),
    xq: take(qRows * 4 * C),
    xs: take(((qRows * 4 * C) / QBLOCK) * 4),
    q4x: take(m.tensors.some((t) => t.dtype === "q4") ? q4ScratchBytes(qRows, 4 * C) : 0),
    totalBytes: 0,
    pages: 0,
    breakdown: {
      weights: m.image_bytes,
      kv: opts.slots * slotBytes,
      scratch: 0,
      reserved: RESERVED_BYTES,
    },
  };
  plan.breakdown.scratch = at - scratchStart;
  plan.totalBytes = align(at, PAGE);
  plan.pages = plan.totalBytes / PAGE;
  return plan;
}

const mb = (n: number) => (n / MiB).toFixed(1) + " MiB";

/** The refusal: what the plan needs, part by part, and the fixes that apply to this model. */
function tooLarge(m: Manifest, plan: MemoryPlan, budget: number): ModelTooLargeError {
  const { body, wte } = weightDtypes(m);
  const fixes: string[] = [];
  if (body === "f32" || wte === "f32")
    fixes.push("convert with a smaller dtype (--dtype q8 or q4)");
  else if (body === "q8") fixes.push("convert with --dtype q4");
  else if (wte === "q8") fixes.push("convert with --embedding-dtype q4");
  fixes.push(...(m.stage ? stageFixes(m, plan) : servingFixes(m, plan, budget)));
  const kv = plan.kvDtype === "q8" ? "int8" : "f32";
  const dtypes = body === wte ? body : `${body}, wte ${wte}`;
  const limit =
    budget > MAX_MEMORY_BYTES
      ? `WASM memory addresses at most ${mb(MAX_MEMORY_BYTES)} (4 GiB less one page), ` +
        `whatever the budget (${mb(budget)})`
      : `the isolate budget is ${mb(budget)}`;
  const [first, end] = stageLayers(m);
  const who = m.stage
    ? `Stage ${m.stage.index} of ${m.stage.count} of model '${m.name}' (layers ${first}-${end - 1})`
    : `Model '${m.name}'`;
  return new ModelTooLargeError(
    `${who} needs ${mb(plan.totalBytes)} of WASM memory (weights ${mb(m.image_bytes)} ` +
      `${dtypes}, KV cache ${mb(plan.breakdown.kv)} ${kv} for ${plan.slots} slot(s) at context ` +
      `${plan.context}, scratch ${mb(plan.breakdown.scratch)}) but ${limit}. ` +
      `Fix: ${fixes.join(", or ")}.`,
    { totalBytes: plan.totalBytes, budgetBytes: budget },
  );
}

/** The runtime's knobs for a whole model. */
function servingFixes(m: Manifest, plan: MemoryPlan, budget: number): string[] {
  const fixes: string[] = [];
  if (plan.slots > 1) fixes.push("use fewer KV slots (MAX_SLOTS)");
  if (plan.context > MIN_CONTEXT) fixes.push("serve a shorter context");
  if (m.image_bytes > Math.min(budget, MAX_MEMORY_BYTES) / 2)
    fixes.push("split the layers into pipeline stages (one isolate each)");
  return fixes;
}

/**
 * Whether int8 KV can hold this model: its blocks of 32 values (one scale each) must tile a
 * row (n_embd) and a head. Every GPT-2 qualifies; a head of 16 would give the attention kernel
 * no whole block (every q·k 0: uniform attention), so such a model keeps f32 KV.
 */
export const int8KvFits = (c: { n_embd: number; n_head: number }) =>
  c.n_embd % QBLOCK === 0 && (c.n_embd / c.n_head) % QBLOCK === 0;

/**
 * The KV dtypes to try, f32 (exact) first: the one asked for, else both where int8 fits. Int8
 * asked for where it does not fit is refused with the reason.
 */
export function kvChoices(c: { n_embd: number; n_head: number }, kv?: KvDtype | "auto"): KvDtype[] {
  const q8ok = int8KvFits(c);
  if (kv === "q8" && !q8ok)
    throw new RangeError(
      `int8 KV needs n_embd and the head size to be multiples of ${QBLOCK}; this model has ` +
        `n_embd ${c.n_embd} and heads of ${c.n_embd / c.n_head}: use f32 KV (--stage-kv f32 or auto)`,
    );
  return kv && kv !== "auto" ? [kv] : q8ok ? ["f32", "q8"] : ["f32"];
}

/** A stage is sized at convert time: the converter's knobs. */
function stageFixes(m: Manifest, plan: MemoryPlan): string[] {
  const [first, end] = stageLayers(m);
  const fixes: string[] = [];
  if (end - first > 1) fixes.push("cut the model into more stages (--stages auto)");
  if (plan.slots > 1) fixes.push("plan fewer slots per stage (--stage-slots)");
  if (plan.kvDtype === "f32" && int8KvFits(m.config))
    fixes.push("use the int8 KV cache (--stage-kv q8)");
  if (plan.context > MIN_CONTEXT) fixes.push("plan a shorter context (--stage-context)");
  return fixes;
}

/** The dtypes of the linear weights (the first layer's c_attn) and of wte (if it has it). */
function weightDtypes(m: Manifest): { body: DType; wte: DType } {
  const of = (name: string) => m.tensors.find((t) => t.name === name)?.dtype;
  const body = of(`h.${stageLayers(m)[0]}.attn.c_attn.weight`) ?? "f32";
  return { body, wte: of("wte") ?? body };
}

/**
 * The shortest context planServing will cap a model to before refusing it: below 256 positions a
 * GPT-2 prompt and its completion barely fit, and a refusal that names the fix is more useful.
 */
export const MIN_CONTEXT = 256;
/** Capped contexts are multiples of 64 positions (tidy numbers; nothing depends on it). */
const CONTEXT_STEP = 64;

export interface ServeOptions extends Omit<PlanOptions, "kv" | "slots"> {
  /** Slots wanted; fewer are planned if fewer fit. */
  slots: number;
  /** "auto" (default) lets the plan choose; f32 or q8 forces one. */
  kv?: KvDtype | "auto";
}

/**
 * The plan a model is served with, decided before any weight byte is fetched:
 * 1. full context (n_ctx, or opts.context) with every wanted slot, f32 KV if that fits,
 *    else int8 KV (3.6x smaller, ~0.4% error per element, exact integer q·k dots);
 * 2. else full context with as many slots as fit, int8 KV;
 * 3. else one slot with the longest context (a multiple of 64, at least MIN_CONTEXT) that fits;
 * 4. else ModelTooLargeError with the numbers of the smallest plan tried.
 * int8 KV needs C and the head size to be multiples of 32 (true for every GPT-2); without that,
 * and when opts.kv forces a dtype, only that dtype is tried. The API must report plan.context.
 */
export function planServing(m: Manifest, opts: ServeOptions): MemoryPlan {
  const c = m.config;
  const kinds = kvChoices(c, opts.kv);
  const full = Math.min(opts.context ?? c.n_ctx, c.n_ctx);
  const base = { ...opts, kv: undefined, context: full };
  const fits = (kv: KvDtype, slots: number, context = full) => {
    try {
      return planMemory(m, { ...base, kv, slots, context });
    } catch (e) {
      if (e instanceof ModelTooLargeError) return null;
      throw e;
    }
  };
  const wanted = Math.max(1, opts.slots);
  for (const kv of kinds) {
    const plan = fits(kv, wanted);
    if (plan) return plan;
  }
  const kv = kinds[kinds.length - 1]; // the most compact
  const one = layout(m, { ...base, kv, slots: 1 });
  const free = Math.min(opts.budgetBytes, MAX_MEMORY_BYTES) - one.totalBytes;
  if (free >= 0) {
    const slots = Math.min(wanted, 1 + Math.floor(free / one.kvSlotBytes));
    for (let s = slots; s >= 1; s--) {
      const plan = fits(kv, s); // page rounding can cost the last slot
      if (plan) return plan;
    }
  }
  const floor = Math.min(full, MIN_CONTEXT);
  for (
    let ctx = Math.floor(full / CONTEXT_STEP) * CONTEXT_STEP;
    ctx >= floor;
    ctx -= CONTEXT_STEP
  ) {
    const plan = fits(kv, 1, ctx);
    if (plan) return plan;
  }
  return planMemory(m, { ...base, kv, slots: 1, context: floor }); // throws with its numbers
}
