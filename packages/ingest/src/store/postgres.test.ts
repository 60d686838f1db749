// The PostgreSQL event store when the database goes away (a loopback proxy in front of the real
// server is cut, paused, restored: the shared server itself is never stopped), and with several
// nodes writing to one database.
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { buildApp } from '../app.js';
import { TEST_DATABASE_URL, testSchema, type TestSchema } from '../test-support/pg.js';
import { startTcpProxy, type TcpProxy } from '../test-support/tcp-proxy.js';
import { type KeelDb, postgresKeelDb } from './db.js';
import { StorageFaultError } from './faults.js';
import { MIGRATION_COUNT, migrateToLatest } from './migrations.js';
import { openPostgresStore } from './open.js';
import { binaryIntArray, binaryTextArray, openPostgresEventStore, type PostgresEventStore } from './postgres.js';
import type { StoredEvent } from './types.js';

const row = (messageId: string, over: Partial<StoredEvent> = {}): StoredEvent => ({
  writeKey: 'k',
  messageId,
  type: 'track',
  event: 'e',
  userId: null,
  anonymousId: 'a',
  groupId: null,
  timestamp: '2026-01-01T00:00:00.000Z',
  originalTimestamp: null,
  sentAt: null,
  receivedAt: '2026-01-01T00:00:00.000Z',
  payload: '{}',
  ...over,
});

let schema: TestSchema;
/** Straight to the real server (not through the proxy): what is really stored. */
let direct: pg.Client;
beforeEach(async () => {
  schema = await testSchema();
  direct = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema.schema}` });
  await direct.connect();
});
afterEach(async () => {
  await direct.end();
  await schema.drop();
});
const stored = async () => ({
  events: Number((await direct.query('SELECT COUNT(*) AS n FROM events')).rows[0].n),
  ids: Number((await direct.query('SELECT COUNT(*) AS n FROM event_ids')).rows[0].n),
});
const node = async (url: string, o: { connectTimeoutMs?: number } = {}): Promise<KeelDb> => {
  const k = await postgresKeelDb({ url, schema: schema.schema, max: 3, ...o });
  await migrateToLatest(k);
  return k;
};

describe('binary array parameters', () => {
  // The hot insert sends its columns as binary text[]: every value must come back exactly as the
  // text form would have stored it (quotes, backslashes and braces need no escaping in binary).
  test('text[] and int4[] round-trip through the real server', async () => {
    const values = ['', 'plain', '"quoted"', 'back\\slash\\', '{braces},comma', 'NULL', 'é ü 字 🎉', '\uD800 lone', null, 'x'.repeat(70_000), null];
    const r = await direct.query<{ v: string | null; n: number; i: number }>(
      'SELECT v, n, i FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS t(v, n, i)',
      [binaryTextArray(values), binaryIntArray(values.map((_, i) => i * 1000 - 3))],
    );
    expect(r.rows.map((x) => x.v)).toEqual(values.map((v) => (v === null ? null : v.replace('\uD800', '\uFFFD'))));
    expect(r.rows.map((x) => x.n)).toEqual(values.map((_, i) => i * 1000 - 3));
    const empty = await direct.query('SELECT cardinality($1::text[]) AS n', [binaryTextArray([])]);
    expect(empty.rows[0].n).toBe(0);
  });
});

describe('the database goes away', () => {
  let proxy: TcpProxy;
  let store: PostgresEventStore;
  beforeEach(async () => {
    const target = new URL(TEST_DATABASE_URL);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const via = new URL(TEST_DATABASE_URL);
    via.port = String(proxy.port);
    store = openPostgresEventStore(await node(via.toString(), { connectTimeoutMs: 1000 }), { commitTimeoutMs: 1500 });
  });
  afterEach(async () => {
    await proxy.restore();
    await store.close();
    await proxy.close();
  });

  test('cut: writes answer 503 + Retry-After, /healthz and /readyz say the database is unavailable; restored: all recovers, only what was acknowledged is stored', async () => {
    const app: FastifyInstance = buildApp({ store, writeKeys: ['wk'], logger: false });
    const post = (ids: string[]) =>
      app.inject({
        method: 'POST',
        url: '/v1/batch',
        headers: { 'content-type': 'text/plain', authorization: `Basic ${Buffer.from('wk:').toString('base64')}` },
        payload: JSON.stringify({ batch: ids.map((messageId) => ({ type: 'track', event: 'e', anonymousId: 'a', messageId })) }),
      });
    try {
      expect((await post(['before'])).statusCode).toBe(200);
      await proxy.cut();
      const refused = await post(['during-1', 'during-2']);
      expect(refused.statusCode).toBe(503);
      expect(refused.headers['retry-after']).toBe('5');
      expect(refused.json()).toMatchObject({
        ok: false,
        error: 'storage_unavailable',
        message: expect.stringMatching(/cannot reach its database.*retry later/),
      });
      const health = await app.inject({ method: 'GET', url: '/healthz' });
      expect([health.statusCode, health.json().cause]).toEqual([503, 'database unavailable']);
      expect(health.json().store).toBe('postgres');
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect([ready.statusCode, ready.json().reason]).toEqual([503, 'storage fault: database unavailable']);
      await expect(store.ping()).rejects.toBeInstanceOf(StorageFaultError);
      expect(store.fault?.reason).toBe('database unavailable');
      expect(store.fault?.path).not.toMatch(/@/); // the location, never credentials

      await proxy.restore();
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      expect(store.fault).toBeUndefined();
      const retried = await post(['during-1', 'during-2', 'before']);
      expect([retried.statusCode, retried.json().accepted, retried.json().duplicates]).toEqual([200, 2, 1]);
      expect(await stored()).toEqual({ events: 3, ids: 3 });
    } finally {
      await app.close();
    }
  });

  test('a connection lost in the middle of a transaction (after the ledger insert, before the events insert) stores nothing of it', async () => {
    await store.insert([row('warm')]);
    proxy.cutWhen('keel_events_insert'); // the prepared events insert, on its way to the server
    const batch = Array.from({ length: 50 }, (_, i) => row(`mid-${i}`));
    const err = await store.insert(batch).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageFaultError);
    expect((err as StorageFaultError).reason).toBe('database unavailable');
    expect((err as StorageFaultError).statusCode).toBe(503);
    await proxy.restore();
    // The server rolled the transaction back when the connection went: no ledger entry without its event.
    await expect.poll(stored, { timeout: 5000 }).toEqual({ events: 1, ids: 1 });
    expect(await store.insert(batch)).toEqual({ inserted: 50, duplicates: 0 });
    expect(await stored()).toEqual({ events: 51, ids: 51 });
  });

  test('paused (packets go nowhere): the insert fails within the commit timeout instead of hanging; restored: it goes through', async () => {
    await store.insert([row('warm')]);
    proxy.pause();
    const started = Date.now();
    const err = await store.insert([row('p1'), row('p2')]).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((err as StorageFaultError).reason).toBe('database unavailable');
    await expect(store.ping()).rejects.toMatchObject({ reason: 'database unavailable' });
    await proxy.restore();
    await expect
      .poll(
        () =>
          store.insert([row('p1'), row('p2')]).then(
            (r) => r.inserted + r.duplicates,
            () => -1,
          ),
        { timeout: 10_000, interval: 200 },
      )
      .toBe(2);
    await expect.poll(stored, { timeout: 5000 }).toEqual({ events: 3, ids: 3 });
  });

  test("an error a retry won't cure is not a storage fault: no Retry-After, the store stays ready", async () => {
    await store.insert([row('ok')]);
    await direct.query('DROP TABLE event_ids'); // a broken schema: a bug to fix, not a database to wait for
    const err = await store.insert([row('after-drop')]).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(StorageFaultError);
    expect((err as { code?: string }).code).toBe('42P01');
    expect(store.fault).toBeUndefined();
    await expect(store.ping()).resolves.toBeUndefined();
    expect(Number((await direct.query('SELECT COUNT(*) AS n FROM events')).rows[0].n)).toBe(1);
  });
});

test('NUL characters (which PostgreSQL text and jsonb refuse) are stored as U+FFFD, through the API with a 200, and the payload stays queryable', async () => {
  const store = openPostgresEventStore(await node(TEST_DATABASE_URL));
  const app = buildApp({ store, writeKeys: ['wk'], logger: false });
  try {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { 'content-type': 'text/plain', authorization: `Basic ${Buffer.from('wk:').toString('base64')}` },
      payload: JSON.stringify({
        batch: [{ type: 'track', event: 'a\u0000b', userId: 'u\u0000', messageId: 'm\u0000', properties: { x: 'p\u0000q', y: 'keep \\u0000 literal' } }],
      }),
    });
    expect([res.statusCode, res.json().accepted]).toEqual([200, 1]);
    const [r] = await store.list({ writeKey: 'wk' });
    expect([r!.event, r!.userId, r!.messageId]).toEqual(['a\uFFFDb', 'u\uFFFD', 'm\uFFFD']);
    const { rows } = await direct.query("SELECT payload::jsonb #>> '{properties,x}' AS x, payload::jsonb #>> '{properties,y}' AS y FROM events");
    expect(rows).toEqual([{ x: 'p\uFFFDq', y: 'keep \\u0000 literal' }]);
  } finally {
    await app.close();
    await store.close();
  }
});

describe('several nodes on one database', () => {
  test('an event and the group call that decides its tenant, sent to two nodes at once, end attributed; a batch retried on both is stored once', async () => {
    const a = openPostgresEventStore(await node(TEST_DATABASE_URL));
    const b = openPostgresEventStore(await node(TEST_DATABASE_URL));
    try {
      for (let round = 0; round < 10; round++) {
        const users = Array.from({ length: 10 }, (_, i) => `u${round}-${i}`);
        await Promise.all([
          // Filler makes node A's events insert slow: B's group calls are learned while A's events are not committed yet.
          a.insert([
            ...users.map((u) => row(`ev-${u}`, { userId: u, anonymousId: null, timestamp: '2026-03-02T00:00:00.000Z' })),
            ...Array.from({ length: 2000 }, (_, i) => row(`fill-${round}-${i}`, { anonymousId: `f${i}` })),
          ]),
          b.insert(
            users.map((u) =>
              row(`grp-${u}`, { type: 'group', event: null, userId: u, anonymousId: null, groupId: 'acme', timestamp: '2026-03-01T00:00:00.000Z' }),
            ),
          ),
        ]);
      }
      const { rows } = await direct.query("SELECT message_id, group_id FROM events WHERE message_id LIKE 'ev-%'");
      expect(rows).toHaveLength(100);
      expect(rows.filter((r) => r.group_id !== 'acme')).toEqual([]);

      const batch = Array.from({ length: 100 }, (_, i) => row(`both-${i}`));
      const [ra, rb] = await Promise.all([a.insert(batch), b.insert([...batch].reverse())]);
      expect(ra.inserted + rb.inserted).toBe(100);
      expect(ra.duplicates + rb.duplicates).toBe(100);
      expect(Number((await direct.query("SELECT COUNT(*) AS n FROM events WHERE message_id LIKE 'both-%'")).rows[0].n)).toBe(100);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('openPostgresStore', () => {
  test('nodes starting together migrate once; the event store and the Kysely stores share the database', async () => {
    const [a, b] = await Promise.all([
      openPostgresStore(TEST_DATABASE_URL, { databaseSchema: schema.schema }),
      openPostgresStore(TEST_DATABASE_URL, { databaseSchema: schema.schema }),
    ]);
    try {
      expect(Number((await direct.query('SELECT COUNT(*) AS n FROM kysely_migration')).rows[0].n)).toBe(MIGRATION_COUNT);
      expect(await a.insert([row('x')])).toEqual({ inserted: 1, duplicates: 0 });
      expect(await b.count({ writeKey: 'k' })).toBe(1);
      const v = await a.config.publish({ document: '{}', hash: 'h1', publishedAt: new Date().toISOString(), publishedBy: 'test', summary: 'first' });
      expect((await b.config.latest())?.version).toBe(v.version);
      expect((await b.config.audit()).map((e) => e.action)).toEqual(['config.published']);
      const incident = await b.status.upsertIncident({ title: 'ingest delayed' });
      expect(incident.title).toBe('ingest delayed');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a database that is not there is named at open, with the cause; one lost later makes every store answer a storage fault', async () => {
    const target = new URL(TEST_DATABASE_URL);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const via = new URL(TEST_DATABASE_URL);
    via.port = String(proxy.port);
    try {
      const store = await openPostgresStore(via.toString(), { databaseSchema: schema.schema, connectTimeoutMs: 1000 });
      await proxy.cut();
      await expect(store.config.latest()).rejects.toMatchObject({ reason: 'database unavailable', statusCode: 503 });
      await expect(store.config.latest()).rejects.toBeInstanceOf(StorageFaultError);
      expect(store.fault?.reason).toBe('database unavailable'); // the event store's fault state is the same
      await expect(openPostgresStore(via.toString(), { databaseSchema: schema.schema, connectTimeoutMs: 1000 })).rejects.toThrow(
        new RegExp(
          `cannot open the database postgres://127\\.0\\.0\\.1:${proxy.port}/test \\(schema ${schema.schema}\\): database unavailable \\(ECONNREFUSED\\)`,
        ),
      );
      await proxy.restore();
      expect(await store.config.latest()).toBeUndefined();
      await store.close();
    } finally {
      await proxy.close();
    }
  });
});

describe('two group commits in flight on one node', () => {
  const turn = () => new Promise((r) => setImmediate(r));
  /**
   * The store's backends waiting on a lock, as PostgreSQL sees them now. `direct` asks from inside
   * the transaction that holds the lock, where pg_stat_activity is a snapshot taken at its first
   * read: cleared each time, or a first poll that came too early would read 0 for good.
   */
  const waiting = async () => {
    await direct.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await direct.query(
      "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query LIKE '%event_ids%'",
    );
    return Number(rows[0].n);
  };

  test('while one commit waits on the database the next group is sent; with inFlight 1 it waits its turn', async () => {
    for (const inFlight of [2, 1]) {
      const k = await node(TEST_DATABASE_URL);
      // Both pooled connections open and idle before the lock: a connection still starting on a busy machine is not a commit in flight.
      for (const c of await Promise.all([k.pool!.connect(), k.pool!.connect()])) c.release();
      const store = openPostgresEventStore(k, { inFlight });
      try {
        await direct.query('BEGIN');
        await direct.query('LOCK TABLE event_ids IN EXCLUSIVE MODE'); // every ledger insert now waits
        const first = store.insert([row(`one-${inFlight}`, { groupId: 't' })]);
        await turn();
        const second = store.insert([row(`two-${inFlight}`, { groupId: 't' })]);
        await expect.poll(waiting, { timeout: 15_000 }).toBe(inFlight);
        await new Promise((r) => setTimeout(r, 200));
        expect(await waiting()).toBe(inFlight); // never more than inFlight
        await direct.query('COMMIT');
        expect(await Promise.all([first, second])).toEqual([
          { inserted: 1, duplicates: 0 },
          { inserted: 1, duplicates: 0 },
        ]);
      } finally {
        await direct.query('ROLLBACK').catch(() => undefined);
        await store.close();
      }
    }
  });

  test('overlapping batches in commits in flight together are stored once each, the counts exact', async () => {
    const store = openPostgresEventStore(await node(TEST_DATABASE_URL));
    try {
      const results = [];
      for (let i = 0; i < 30; i++) {
        // Batch i repeats 15 of batch i-1's ids, and one of its own; half claim a tenant (one statement), half don't (the transaction).
        const ids = Array.from({ length: 20 }, (_, j) => `m-${i * 5 + j}`);
        results.push(store.insert([...ids, ids[0]!].map((id) => row(id, i % 2 ? { groupId: 't' } : {}))));
        await turn();
      }
      const all = await Promise.all(results);
      const unique = 29 * 5 + 20;
      expect(all.reduce((n, r) => n + r.inserted, 0)).toBe(unique);
      expect(all.reduce((n, r) => n + r.inserted + r.duplicates, 0)).toBe(30 * 21);
      expect(await stored()).toEqual({ events: unique, ids: unique });
    } finally {
      await store.close();
    }
  });

  test('a group call and the events it decides, in two commits in flight together, end attributed', async () => {
    const store = openPostgresEventStore(await node(TEST_DATABASE_URL));
    try {
      for (let round = 0; round < 10; round++) {
        const users = Array.from({ length: 10 }, (_, i) => `u${round}-${i}`);
        const events = store.insert([
          ...users.map((u) => row(`ev-${u}`, { userId: u, anonymousId: null, timestamp: '2026-03-02T00:00:00.000Z' })),
          ...Array.from({ length: 2000 }, (_, i) => row(`fill-${round}-${i}`, { anonymousId: `f${i}` })),
        ]);
        await turn();
        const groups = store.insert(
          users.map((u) =>
            row(`grp-${u}`, { type: 'group', event: null, userId: u, anonymousId: null, groupId: 'acme', timestamp: '2026-03-01T00:00:00.000Z' }),
          ),
        );
        await Promise.all([events, groups]);
      }
      const { rows } = await direct.query("SELECT message_id, group_id FROM events WHERE message_id LIKE 'ev-%'");
      expect(rows).toHaveLength(100);
      expect(rows.filter((r) => r.group_id !== 'acme')).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

test('a group whose rows all name their tenant (one statement, no transaction) stores the first of each id, in arrival order, attributed by claim', async () => {
  const store = openPostgresEventStore(await node(TEST_DATABASE_URL));
  try {
    await store.insert([row('b', { groupId: 't1' })]);
    const r = await store.insert([
      row('c', { groupId: 't1' }),
      row('a', { groupId: 't2' }),
      row('b', { groupId: 't3' }),
      row('c', { groupId: 't4' }),
      row('z', { groupId: 't5', sender: { kind: 'server' } }),
    ]);
    expect(r).toEqual({ inserted: 3, duplicates: 2 });
    const { rows } = await direct.query('SELECT message_id, group_id, trust, attribution FROM events ORDER BY rowid');
    expect(rows).toEqual([
      { message_id: 'b', group_id: 't1', trust: 'unverified', attribution: 'claim' },
      { message_id: 'c', group_id: 't1', trust: 'unverified', attribution: 'claim' },
      { message_id: 'a', group_id: 't2', trust: 'unverified', attribution: 'claim' },
      { message_id: 'z', group_id: 't5', trust: 'verified', attribution: 'claim' },
    ]);
    expect(await stored()).toEqual({ events: 4, ids: 4 });
  } finally {
    await store.close();
  }
});
