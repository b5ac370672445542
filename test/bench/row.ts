// What every benchmark section returns (one table row each) and the statistic they report.

export interface Row {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

/** The middle value (the upper one of an even count): robust to a noisy run or two. */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
