// The IndexedDB promises the queue and sdk-core's state store are built on, in Chromium: results,
// commits, failures and aborts, and another tab asking for the database.
import { expect, test } from 'vitest';
import { committed, openStore, request } from './idb.js';

const fresh = () => `keel-idb-test-${crypto.randomUUID()}`;

test('a one-store database: put and read back, in key order, with in-line or out-of-line keys', async () => {
  const db = await openStore(fresh(), 'q', 'k');
  const tx = db.transaction('q', 'readwrite');
  for (const k of [3, 1, 2]) tx.objectStore('q').put({ k, v: `v${k}` });
  await committed(tx);
  expect(await request(db.transaction('q').objectStore('q').getAll())).toEqual([
    { k: 1, v: 'v1' },
    { k: 2, v: 'v2' },
    { k: 3, v: 'v3' },
  ]);
  db.close();
  const kv = await openStore(fresh(), 'kv');
  await request(kv.transaction('kv', 'readwrite').objectStore('kv').put({ a: 1 }, 'config'));
  expect(await request(kv.transaction('kv').objectStore('kv').get('config'))).toEqual({ a: 1 });
  kv.close();
});

test('a failed request and an aborted transaction reject, naming why', async () => {
  const db = await openStore(fresh(), 'q', 'k');
  const tx = db.transaction('q', 'readwrite');
  const s = tx.objectStore('q');
  s.add({ k: 1 });
  const dup = request(s.add({ k: 1 }));
  await expect(dup).rejects.toMatchObject({ name: 'ConstraintError' });
  await expect(committed(tx)).rejects.toMatchObject({ name: 'ConstraintError' });
  const aborted = db.transaction('q', 'readwrite');
  aborted.objectStore('q').put({ k: 2 });
  const end = committed(aborted);
  aborted.abort();
  await expect(end).rejects.toMatchObject({ name: 'AbortError' });
  expect(await request(db.transaction('q').objectStore('q').count())).toBe(0);
  db.close();
});

test('another tab deleting the database is told to this connection, which can step aside', async () => {
  const name = fresh();
  let told = 0;
  const db = await openStore(name, 'q', 'k', (d) => {
    told++;
    d.close();
  });
  await request(indexedDB.deleteDatabase(name));
  expect(told).toBe(1);
  expect(() => db.transaction('q')).toThrow(/closing|closed/i);
});
