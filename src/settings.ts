// A Worker's settings arrive as strings ([vars] in its wrangler config); the numeric ones are
// read here, the same way for the gateway and the stages.

/** A positive number setting, floored; `def` when unset or not a positive number. */
export function intSetting(v: string | undefined, def: number): number {
  const n = Number(v);
  return v !== undefined && Number.isFinite(n) && n > 0 ? Math.floor(n) : def;
}
