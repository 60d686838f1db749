import fc from 'fast-check';
import { expect, test } from 'vitest';
import { envelope, fit, serialise, utf8Length } from './batch.js';

test('utf8Length is the encoded length, for any string (lone surrogates become U+FFFD)', () => {
  expect(utf8Length('abc')).toBe(3);
  expect(utf8Length('é€😀')).toBe(2 + 3 + 4);
  expect(utf8Length('\ud800')).toBe(3);
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => utf8Length(s) === Buffer.byteLength(s, 'utf8')),
    { seed: 3 },
  );
});

test('serialise isolates what JSON refuses: cycles, BigInt, nothing to write', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  expect(serialise(cyclic)).toBeUndefined();
  expect(serialise({ n: 1n })).toBeUndefined();
  expect(serialise(() => 1)).toBeUndefined();
  expect(
    serialise({
      toJSON: () => {
        throw new Error('no');
      },
    }),
  ).toBeUndefined();
  expect(serialise({ s: '\ud800' })).toBe('{"s":"\\ud800"}'); // well-formed JSON, escaped
});

test('the envelope is the JSON the ingest reads, built from pre-serialised messages', () => {
  const at = new Date('2026-01-02T03:04:05.006Z');
  const text = envelope(['{"a":1}', '{"b":"x"}'], 'k"ey', at);
  expect(JSON.parse(text)).toEqual({ batch: [{ a: 1 }, { b: 'x' }], sentAt: at.toISOString(), writeKey: 'k"ey' });
  expect(JSON.parse(envelope([], 'k', at))).toEqual({ batch: [], sentAt: at.toISOString(), writeKey: 'k' });
});

test('fit: as many messages as fit in the body, never none', () => {
  const overhead = utf8Length(envelope([], 'wk'));
  expect(fit([10, 10, 10], overhead + 32, overhead)).toBe(3); // 10+1+10+1+10
  expect(fit([10, 10, 10], overhead + 31, overhead)).toBe(2);
  expect(fit([1000, 10], overhead + 100, overhead)).toBe(1); // too big alone: sent alone, the server decides
  expect(fit([10, 10, 10], overhead + 21, overhead, 1)).toBe(2);
  expect(fit([], 100, overhead)).toBe(0);
  // Against the real thing: the body built from what fit says is within the limit, and one more would not be.
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary' }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 50, max: 2000 }), (strings, max) => {
      const parts = strings.map((s) => JSON.stringify({ s }));
      const n = fit(parts.map(utf8Length), max, overhead);
      const bytes = (k: number) => utf8Length(envelope(parts.slice(0, k), 'wk'));
      return n >= 1 && (n === 1 || bytes(n) <= max) && (n === parts.length || bytes(n + 1) > max);
    }),
    { seed: 7 },
  );
});
