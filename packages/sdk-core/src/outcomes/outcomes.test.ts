import fc from 'fast-check';
import { expect, test } from 'vitest';
import { holdoutBucket, inHoldout } from './holdout.js';
import { newcombeDifference, wilson } from './interval.js';

const close = (v: { low: number; high: number }, low: number, high: number) => {
  expect(v.low).toBeCloseTo(low, 4);
  expect(v.high).toBeCloseTo(high, 4);
};

test("Wilson and Newcombe's hybrid score interval match the published examples (Newcombe 1998)", () => {
  close(wilson(81, 263), 0.2553, 0.3662);
  close(newcombeDifference(56, 70, 48, 80), 0.0524, 0.3339);
  close(newcombeDifference(9, 10, 3, 10), 0.1705, 0.809);
  close(newcombeDifference(6, 7, 2, 7), 0.0582, 0.8062);
});

test('intervals stay inside [-1, 1], contain the observed difference, and behave at 0% and 100%', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 500 }),
      fc.integer({ min: 1, max: 500 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (n1, n2, f1, f2) => {
        const x1 = Math.round(f1 * n1);
        const x2 = Math.round(f2 * n2);
        const d = newcombeDifference(x1, n1, x2, n2);
        expect(d.low).toBeGreaterThanOrEqual(-1 - 1e-9);
        expect(d.high).toBeLessThanOrEqual(1 + 1e-9);
        expect(d.low).toBeLessThanOrEqual(d.difference + 1e-12);
        expect(d.high).toBeGreaterThanOrEqual(d.difference - 1e-12);
        expect(d.high - d.low).toBeGreaterThan(0); // never a zero-width interval, even at 0/n vs 0/n
      },
    ),
  );
});

test('holdout buckets: deterministic, spread evenly, independent across items', () => {
  expect(holdoutBucket('reports-unused', 'user-1')).toBe(holdoutBucket('reports-unused', 'user-1'));
  const users = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
  const held = users.filter((u) => inHoldout('reports-unused', u, 20)).length / users.length;
  expect(held).toBeGreaterThan(0.19);
  expect(held).toBeLessThan(0.21);
  // The same user is not in every item's holdout: assignments for two items are independent.
  const both = users.filter((u) => inHoldout('a', u, 20) && inHoldout('b', u, 20)).length / users.length;
  expect(both).toBeGreaterThan(0.03);
  expect(both).toBeLessThan(0.05);
  expect(inHoldout('x', 'user-1', 0)).toBe(false);
  for (const u of users.slice(0, 100)) {
    const b = holdoutBucket('x', u);
    expect(b).toBeGreaterThanOrEqual(0);
    expect(b).toBeLessThan(100);
  }
});
