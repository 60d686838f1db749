// Partition upkeep while ingest runs on PostgreSQL: a month's partition attached while rows of that
// month are being inserted (they were routed to the default partition a moment before) must not
// cost a batch: the commit runs again and the rows land in the new partition.
import { afterEach, expect, test } from 'vitest';
import { testPostgres } from '../test-support/pg.js';
import type { KeelDb } from './db.js';
import { partitionUpkeep } from './partitions.js';
import { openPostgresEventStore } from './postgres.js';
import type { StoredEvent } from './types.js';

let k: KeelDb | undefined;
afterEach(async () => {
  await k?.close();
  k = undefined;
});

const row = (messageId: string, receivedAt: string): StoredEvent => ({
  writeKey: 'k',
  messageId,
  type: 'track',
  event: 'e',
  userId: null,
  anonymousId: 'a',
  groupId: 't',
  timestamp: receivedAt,
  originalTimestamp: null,
  sentAt: null,
  receivedAt,
  payload: '{}',
});

test('inserts racing the creation of their month’s partition are all stored, in that partition', async () => {
  k = await testPostgres();
  const store = openPostgresEventStore(k, { attribution: false });
  const now = new Date('2031-05-10T12:00:00.000Z'); // no partition for this month yet: rows go to the default
  let n = 0;
  let stop = false;
  const failures: unknown[] = [];
  const writer = async () => {
    while (!stop) {
      const batch = Array.from({ length: 20 }, () => row(`m${n++}`, new Date(now.getTime() + n).toISOString()));
      await store.insert(batch).catch((e: unknown) => failures.push(e));
    }
  };
  const writers = Promise.all([writer(), writer(), writer()]);
  await new Promise((r) => setTimeout(r, 150));
  const r = await partitionUpkeep(k, { now, ahead: 0 });
  await new Promise((r) => setTimeout(r, 150));
  stop = true;
  await writers;
  expect(r.created).toContain('events_2031_05');
  expect(failures).toEqual([]);
  const where = await k.pool!.query<{ t: string; n: string }>(`SELECT tableoid::regclass::text AS t, COUNT(*) AS n FROM events GROUP BY 1`);
  const counts = Object.fromEntries(where.rows.map((x) => [x.t.replace(/^.*\./, ''), Number(x.n)]));
  expect(counts.events_default ?? 0).toBe(0);
  expect(counts.events_2031_05).toBe(n);
  await store.close();
  k = undefined; // closed with the store
});
