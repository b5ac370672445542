// The memory plan: every byte of WASM memory a model needs (weights image, KV-cache slots,
// scratch activations), laid out once before anything is fetched, and checked against the
// isolate budget. The forward pass addresses memory only through this plan.

import { RESERVED_BYTES } from "../kernels/types.js";
import { ALIGN, type Manifest, type ModelConfig } from "./manifest.js";

const PAGE = 65536; // one WebAssembly page
const MiB = 1024 * 1024;

export interface PlanOptions {
  /** KV-cache slots: sequences that can be in flight at once. */
  slots: number;
  /** Rows (tokens) one forward pass may process: prefill chunk plus batched decode. */
  rows: number;
  /** Rows whose logits are computed in one unembedding pass (V floats each). */
  logitRows: number;
  /** Budget for the whole WASM memory, bytes. */
  budgetBytes: number;
}

export interface MemoryPlan {
  weights: number; // image base; tensor at weights + entry.offset
  kv: number; // [slots][L][2][n_ctx][C] f32
  kvSlotBytes: number;
  slots: number;
  rows: number;
  logitRows: number;
  x: number; // [rows][C] residual stream
  xn: number; // [rows][C] layernorm output
  qkv: number; // [rows][3C] c_attn output (q | k | v)
  y: number; // [rows][C] attention output
  tmp: number; // [rows][C] c_proj outputs before the residual add
  fc: number; // [rows][4C] MLP hidden
  att: number; // [NH][rows][n_ctx] attention probabilities of one segment
  lnf: number; // [logitRows][C] ln_f output of the rows that need logits
  logits: number; // [logitRows][V]
  ids: number; // [rows] i32 token ids
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

/** KV bytes for one slot: keys and values of every layer at every position, f32. */
export function kvSlotBytes(c: ModelConfig): number {
  return 2 * c.n_layer * c.n_ctx * c.n_embd * 4;
}

/** Lay out memory for a model; throws ModelTooLargeError (with the numbers and the fix) if over budget. */
export function planMemory(m: Manifest, opts: PlanOptions): MemoryPlan {
  const c = m.config;
  const { n_embd: C, n_head: NH, n_ctx, n_vocab: V } = c;
  const { rows, logitRows } = opts;
  let at = RESERVED_BYTES;
  const take = (bytes: number) => {
    const p = at;
    at = align(at + bytes, 64); // 64: a cache line, so buffers never share one
    return p;
  };
  const weights = take(m.image_bytes);
  const slotBytes = kvSlotBytes(c);
  const kv = take(opts.slots * slotBytes);
  const scratchStart = at;
  const x = take(rows * C * 4);
  const xn = take(rows * C * 4);
  const qkv = take(rows * 3 * C * 4);
  const y = take(rows * C * 4);
  const tmp = take(rows * C * 4);
  const fc = take(rows * 4 * C * 4);
  const att = take(NH * rows * n_ctx * 4);
  const lnf = take(logitRows * C * 4);
  const logits = take(logitRows * V * 4);
  const ids = take(rows * 4);
  const totalBytes = align(at, PAGE);
  const plan: MemoryPlan = {
    weights,
    kv,
    kvSlotBytes: slotBytes,
    slots: opts.slots,
    rows,
    logitRows,
    x,
    xn,
    qkv,
    y,
    tmp,
    fc,
    att,
    lnf,
    logits,
    ids,
    totalBytes,
    pages: totalBytes / PAGE,
    breakdown: {
      weights: m.image_bytes,
      kv: opts.slots * slotBytes,
      scratch: at - scratchStart,
      reserved: RESERVED_BYTES,
    },
  };
  if (totalBytes > opts.budgetBytes) {
    const mb = (n: number) => (n / MiB).toFixed(1) + " MiB";
    throw new ModelTooLargeError(
      `Model '${m.name}' needs ${mb(totalBytes)} of WASM memory (weights ${mb(m.image_bytes)}, ` +
        `KV cache ${mb(opts.slots * slotBytes)} for ${opts.slots} slot(s) at context ${n_ctx}, ` +
        `scratch ${mb(plan.breakdown.scratch)}) but the isolate budget is ${mb(opts.budgetBytes)}. ` +
        `Fix: convert with a smaller dtype (--dtype q8 or q4), serve a shorter context, ` +
        `or use fewer KV slots (MAX_SLOTS).`,
      { totalBytes, budgetBytes: opts.budgetBytes },
    );
  }
  return plan;
}

/**
 * The most KV slots (up to `wanted`, at least 1) that fit the budget. The one-slot plan is
 * returned even if it is over budget, so planMemory then refuses it with the full numbers.
 */
export function fitSlots(m: Manifest, opts: Omit<PlanOptions, "slots">, wanted: number): number {
  const oneSlot = planMemory(m, { ...opts, slots: 1, budgetBytes: Infinity }).totalBytes;
  const free = opts.budgetBytes - oneSlot;
  const extra = Math.floor(free / kvSlotBytes(m.config));
  return Math.max(1, Math.min(wanted, 1 + Math.max(0, extra)));
}
