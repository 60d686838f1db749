import fc from 'fast-check';
import { expect, test } from 'vitest';
import { backoffDelay } from './backoff.js';

const policy = { baseDelay: 1000, maxDelay: 60_000 };

test('full jitter under an exponential cap: base × 2^attempt, never above maxDelay', () => {
  expect(backoffDelay(0, policy, 0.5)).toBe(500);
  expect(backoffDelay(3, policy, 0.5)).toBe(4000);
  expect(backoffDelay(3, policy, 0.999)).toBeLessThan(8000);
  expect(backoffDelay(20, policy, 0.999)).toBeLessThan(60_000);
  expect(backoffDelay(5000, policy, 0.5)).toBe(30_000); // a huge attempt count does not overflow to NaN
  fc.assert(
    fc.property(fc.nat(200), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
      const d = backoffDelay(attempt, policy, r);
      return d >= 0 && d < Math.min(policy.maxDelay, policy.baseDelay * 2 ** attempt) + 1e-9;
    }),
    { seed: 12 },
  );
});

test('a Retry-After is a floor, with a quarter of the jitter above it', () => {
  expect(backoffDelay(0, policy, 0.9, 5000)).toBe(5000);
  expect(backoffDelay(10, policy, 1 - 1e-9, 2000)).toBeCloseTo(15_000, 0);
  expect(backoffDelay(10, policy, 0, 0)).toBe(0);
});
