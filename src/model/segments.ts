// What one forward call runs over: segments, each a sequence's new tokens at its slot and
// positions, laid out as consecutive rows of the call; which rows want logits.

import type { MemoryPlan } from "./plan.js";

/** One sequence's contribution to a forward call: `ids` appended at positions pos0.. in `slot`. */
export interface Segment {
  slot: number;
  pos0: number;
  ids: ArrayLike<number>;
  /** Which of this segment's rows need logits: "last", "all", or "none". */
  logits: "last" | "all" | "none";
}

/** Rows of a call (the segments' tokens), checked against the plan's rows and context. */
export function segmentRows(segs: Segment[], plan: Pick<MemoryPlan, "rows" | "context">): number {
  const B = segs.reduce((n, s) => n + s.ids.length, 0);
  if (B > plan.rows) throw new Error(`forward: ${B} rows exceed the planned ${plan.rows}`);
  for (const s of segs) {
    if (s.pos0 + s.ids.length > plan.context)
      throw new Error(`forward: positions past the served context ${plan.context}`);
  }
  return B;
}

/** The rows that need logits, as [segment, t within it, row of the call]. */
export function logitRows(segs: Segment[]): [seg: number, t: number, row: number][] {
  const want: [number, number, number][] = [];
  let row = 0;
  segs.forEach((s, si) => {
    const T = s.ids.length;
    for (let t = 0; t < T; t++) {
      if (s.logits === "all" || (s.logits === "last" && t === T - 1)) want.push([si, t, row + t]);
    }
    row += T;
  });
  return want;
}

/**
 * The rows that need logits as one-row segments, for logitsFrom over only those rows
 * ([K][C], in logitRows order, e.g. what the last stage of a pipeline sends back): `rows` are
 * their rows in the call, `at` the [segment, t] each stands for.
 */
export function logitSegments(segs: Segment[]): {
  segs: Segment[];
  rows: number[];
  at: [seg: number, t: number][];
} {
  const want = logitRows(segs);
  return {
    segs: want.map(([si, t]) => {
      const s = segs[si];
      return { slot: s.slot, pos0: s.pos0 + t, ids: [s.ids[t]], logits: "last" as const };
    }),
    rows: want.map(([, , r]) => r),
    at: want.map(([si, t]) => [si, t]),
  };
}
