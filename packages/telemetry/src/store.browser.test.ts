// The persisted queue in Chromium's IndexedDB: the head a write returns, and deletes (one range
// when they are the oldest), with another tab (a second connection) writing in between.
import { expect, test } from 'vitest';
import { openStore, request } from './idb.js';
import { type Entry, openQueue } from './store.js';
import type { Message } from './types.js';

const fresh = () => `keel-store-test-${crypto.randomUUID()}`;
const entry = (at: number, n: number): Entry => ({
  k: [at, `id-${n}`],
  m: { type: 'track', event: `e${n}`, messageId: `id-${n}`, timestamp: new Date(at).toISOString(), anonymousId: 'a', context: {} } as unknown as Message,
});
const keysIn = async (name: string) => {
  const db = await openStore(name, 'q', 'k');
  const keys = await request(db.transaction('q').objectStore('q').getAllKeys());
  db.close();
  return keys;
};

test('a write returns the head of the whole store in key order, trimmed to the bound first', async () => {
  const name = fresh();
  const q = await openQueue(name);
  const [a, b, c] = [entry(3, 3), entry(1, 1), entry(2, 2)];
  const first = await q.add([a, b, c], 100, 2);
  expect(first.head.map((e) => e.k)).toEqual([b.k, c.k]);
  expect(first.head[0]).toEqual(b);
  // Another tab's older entry is in the store: the head is read from it, not from this write.
  const other = await openQueue(name);
  await other.add([entry(0, 0)], 100);
  const second = await q.add([entry(5, 5)], 100, 3);
  expect(second.head.map((e) => e.k)).toEqual([
    [0, 'id-0'],
    [1, 'id-1'],
    [2, 'id-2'],
  ]);
  // Over the bound: the oldest are trimmed before the head is read, also for a first write.
  const third = await (await openQueue(fresh())).add([entry(1, 1), entry(2, 2), entry(3, 3)], 2, 5);
  expect(third.trimmed).toBe(1);
  expect(third.head.map((e) => e.k[0])).toEqual([2, 3]);
});

test('removing what a send read never deletes an entry another tab wrote between those keys', async () => {
  const name = fresh();
  const q = await openQueue(name);
  const mine = [entry(1, 1), entry(3, 3), entry(5, 5)];
  await q.add(mine, 100);
  // A tab whose write was delayed: its entry sorts between this tab's.
  await (await openQueue(name)).add([entry(2, 2)], 100);
  await q.remove(mine.map((e) => e.k));
  expect(await keysIn(name)).toEqual([[2, 'id-2']]);
  // And with the next read in the same transaction.
  await q.add([entry(4, 4), entry(6, 6)], 100);
  expect((await q.head(10, [[4, 'id-4']])).map((e) => e.k)).toEqual([
    [2, 'id-2'],
    [6, 'id-6'],
  ]);
  // The oldest keys, in any order: they go in one delete, the newer stay.
  await q.add([entry(7, 7)], 100);
  await q.remove([
    [6, 'id-6'],
    [2, 'id-2'],
  ]);
  expect(await keysIn(name)).toEqual([[7, 'id-7']]);
});
