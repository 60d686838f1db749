import { describe, expect, it } from 'vitest';
import { durationMs, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['15m', 15 * 60_000],
    ['1h', 3_600_000],
    ['7d', 7 * 86_400_000],
    ['2w', 14 * 86_400_000],
    ['30d', 30 * 86_400_000],
  ])('%s', (s, ms) => expect(parseDuration(s)).toBe(ms));

  it.each(['7 days', '7D', '0d', '07d', '1.5d', '-1d', 'd', '7', '', ' 7d', '7s'])('rejects %j with the expected form', (s) => {
    expect(() => parseDuration(s)).toThrow(`expected "7d"-style duration (a whole number then m, h, d or w), found ${JSON.stringify(s)}`);
  });

  it('durationMs never throws, NaN for junk', () => {
    for (const v of [undefined, null, 7, {}, '7 days']) expect(durationMs(v)).toBeNaN();
    expect(durationMs('3d')).toBe(3 * 86_400_000);
  });
});
