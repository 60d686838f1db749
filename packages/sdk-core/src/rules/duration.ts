import type { Duration } from './types.js';

/** The duration grammar: a positive integer and a unit, `m` `h` `d` `w`. No spaces, no decimals. */
export const DURATION = /^([1-9]\d*)([mhdw])$/;

const UNIT = { m: 6e4, h: 36e5, d: 864e5, w: 6048e5 } as const;

/** `'7d'` → 604800000, or `NaN` for anything else. Never throws (used by the evaluator). */
export const durationMs = (s: unknown): number => {
  const m = typeof s === 'string' ? DURATION.exec(s) : null;
  return m ? Number(m[1]) * UNIT[m[2] as keyof typeof UNIT] : NaN;
};

/** `'7d'` → 604800000. Throws a readable error for anything that isn't a duration. */
export function parseDuration(s: Duration | string): number {
  const ms = durationMs(s);
  if (Number.isNaN(ms)) {
    throw new RangeError(`expected "7d"-style duration (a whole number then m, h, d or w), found ${JSON.stringify(s)}`);
  }
  return ms;
}
