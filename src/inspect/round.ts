// Rounding for JSON payloads: the page draws pictures, so a few significant decimals carry all
// the information and keep responses small.

export const round = (x: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** Three coordinates (zeros for axes a model with C < 3 lacks), 4 decimals. */
export function pad3(v: number[]): number[] {
  return [0, 1, 2].map((i) => round(v[i] ?? 0, 4));
}
