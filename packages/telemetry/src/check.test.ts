import fc from 'fast-check';
import { expect, test } from 'vitest';
import { MAX_DEPTH, measure } from './check.js';

const nest = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { d: v };
  return v;
};
const why = (v: unknown) => {
  try {
    measure(v, Infinity);
    return undefined;
  } catch (e) {
    return e;
  }
};

test('plain data is measured within a small factor of its JSON length (escapes, array indexes)', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 10 }), (v) => {
      const json = JSON.stringify(v);
      const n = measure(v, Infinity);
      return n >= json.length / 6 - 2 && n <= json.length * 10 + 16;
    }),
    { seed: 5 },
  );
});

test('refused with the path and the problem: BigInt, functions, symbols, too deep, cyclic', () => {
  expect(why({ a: { b: 1n } })).toBe('.a.b is a BigInt');
  expect(why({ list: [1, () => 1] })).toBe('.list.1 is a function');
  expect(why({ s: Symbol('x') })).toBe('.s is a symbol');
  expect(why(nest(MAX_DEPTH))).toBeUndefined();
  expect(why(nest(MAX_DEPTH + 1))).toMatch(/^(\.d)+ nests deeper than 32 levels \(or is cyclic\)$/);
  expect(why(nest(4200))).toMatch(/nests deeper/);
  const cyclic: Record<string, unknown> = { x: 1 };
  cyclic.me = { again: cyclic };
  expect(why(cyclic)).toMatch(/^\.me\.again\.me\.again.* nests deeper/);
  expect(why({ s: 'lone \ud800', d: new Date(0), u: undefined, n: null })).toBeUndefined();
});

test('a getter that throws propagates its own error', () => {
  const bad = Object.defineProperty({}, 'x', {
    enumerable: true,
    get: () => {
      throw new TypeError('nope');
    },
  });
  expect(() => measure(bad, Infinity)).toThrow(TypeError);
});

test('a wide or shared value stops at the budget instead of walking it all', () => {
  const wide = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]));
  expect(measure(wide, 1000)).toBeGreaterThan(1000);
  // 2^30 paths through shared objects: measured (and refused as too big) in a moment.
  let shared: unknown = 1;
  for (let i = 0; i < 30; i++) shared = { a: shared, b: shared };
  const t0 = performance.now();
  expect(measure(shared, 32_000)).toBeGreaterThan(32_000);
  expect(performance.now() - t0).toBeLessThan(500);
  expect(measure(new Array(1e6), 32_000)).toBeGreaterThan(32_000); // sparse: its holes are nulls in JSON
});
