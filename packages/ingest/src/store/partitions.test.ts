import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { insertRows } from '../test-support/rows.js';
import { TEST_DATABASE_URL, testPostgres, testSchema, type TestSchema } from '../test-support/pg.js';
import { type KeelDb, postgresKeelDb } from './db.js';
import { migrateToLatest } from './migrations.js';
import { monthRange, partitionUpkeep } from './partitions.js';
import { openDatabase } from './sqlite.js';

const DAY = 86_400_000;
const at = (iso: string) => new Date(iso);

async function partitions(k: KeelDb): Promise<Record<string, string>> {
  const { rows } = await sql<{ name: string; bound: string }>`
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'events'::regclass ORDER BY 1`.execute(k.db);
  return Object.fromEntries(rows.map((r) => [r.name, r.bound]));
}

/** Where each stored event is (its partition), by message id. */
async function located(k: KeelDb): Promise<Record<string, string>> {
  const { rows } = await sql<{ m: string; part: string }>`SELECT message_id AS m, tableoid::regclass::text AS part FROM events ORDER BY 1`.execute(k.db);
  return Object.fromEntries(rows.map((r) => [r.m, r.part]));
}

const ledger = async (k: KeelDb) => (await k.db.selectFrom('event_ids').select('message_id').orderBy('message_id').execute()).map((r) => r.message_id);

/** The event store's de-duplicating insert: the ledger first, then only the events it accepted, in one transaction. */
async function store(k: KeelDb, events: { m: string; receivedAt: string }[]): Promise<string[]> {
  return k.db.transaction().execute(async (trx) => {
    const fresh = await trx
      .insertInto('event_ids')
      .values(events.map((e) => ({ write_key: 'wk', message_id: e.m, received_at: e.receivedAt })))
      .onConflict((c) => c.doNothing())
      .returning('message_id')
      .execute();
    const ok = new Set(fresh.map((f) => f.message_id));
    const rows = events
      .filter((e) => ok.has(e.m))
      .map((e) => ({
        write_key: 'wk',
        message_id: e.m,
        type: 'track',
        event: 'e',
        user_id: 'u',
        anonymous_id: null,
        group_id: 'acme',
        timestamp: e.receivedAt,
        original_timestamp: null,
        sent_at: null,
        received_at: e.receivedAt,
        payload: '{}',
      }));
    if (rows.length) await trx.insertInto('events').values(rows).execute();
    return [...ok];
  });
}

test('monthRange: names and [from, to) bounds of UTC months, across a year end', () => {
  expect(monthRange(at('2026-12-02T14:00:00.000Z'))).toEqual({ name: 'events_2026_12', from: '2026-12-01T00:00:00.000Z', to: '2027-01-01T00:00:00.000Z' });
  expect(monthRange(at('2026-12-31T23:59:59.999Z'), 2)).toEqual({ name: 'events_2027_02', from: '2027-02-01T00:00:00.000Z', to: '2027-03-01T00:00:00.000Z' });
  expect(monthRange(at('2027-01-01T00:00:00.000Z'), -1).name).toBe('events_2026_12');
});

describe('partition upkeep on PostgreSQL', () => {
  let k: KeelDb;
  beforeAll(async () => {
    k = await testPostgres();
  });
  afterAll(async () => {
    await k?.close();
  });
  afterEach(async () => {
    // Each test starts from the migrated schema: only the default partition, no rows.
    for (const name of Object.keys(await partitions(k))) if (name !== 'events_default') await sql`DROP TABLE ${sql.id(name)}`.execute(k.db);
    await sql`DELETE FROM events`.execute(k.db);
    await sql`DELETE FROM event_ids`.execute(k.db);
  });

  test('creates the current month and `ahead` months ahead, once', async () => {
    const r = await partitionUpkeep(k, { now: at('2026-12-02T14:00:00.000Z') });
    expect(r).toMatchObject({ created: ['events_2026_12', 'events_2027_01', 'events_2027_02'], moved: 0, dropped: [], skipped: [] });
    expect(await partitions(k)).toEqual({
      events_default: 'DEFAULT',
      events_2026_12: "FOR VALUES FROM ('2026-12-01T00:00:00.000Z') TO ('2027-01-01T00:00:00.000Z')",
      events_2027_01: "FOR VALUES FROM ('2027-01-01T00:00:00.000Z') TO ('2027-02-01T00:00:00.000Z')",
      events_2027_02: "FOR VALUES FROM ('2027-02-01T00:00:00.000Z') TO ('2027-03-01T00:00:00.000Z')",
    });
    expect((await partitionUpkeep(k, { now: at('2026-12-20T00:00:00.000Z') })).created).toEqual([]);
    expect((await partitionUpkeep(k, { now: at('2027-01-03T00:00:00.000Z'), ahead: 3 })).created).toEqual(['events_2027_03', 'events_2027_04']);
    // New events are routed to their month; the partitions carry the parent's indexes and defaults.
    await store(k, [
      { m: 'dec', receivedAt: '2026-12-31T23:59:59.999Z' },
      { m: 'jan', receivedAt: '2027-01-01T00:00:00.000Z' },
    ]);
    expect(await located(k)).toEqual({ dec: 'events_2026_12', jan: 'events_2027_01' });
    const idx = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'events_2027_01'`.execute(k.db);
    const parentIdx = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'events'`.execute(
      k.db,
    );
    expect(idx.rows[0]!.n).toBe(parentIdx.rows[0]!.n);
    expect(parentIdx.rows[0]!.n).toBeGreaterThanOrEqual(4);
    const trust = await k.db.selectFrom('events').select(['trust', 'attribution']).where('message_id', '=', 'jan').executeTakeFirstOrThrow();
    expect(trust).toEqual({ trust: 'unverified', attribution: 'claim' });
  });

  test('an event of a month with no partition lands in the default and is moved when upkeep creates the month', async () => {
    await partitionUpkeep(k, { now: at('2026-12-02T00:00:00.000Z'), ahead: 0 });
    await store(k, [
      { m: 'early', receivedAt: '2027-01-01T00:00:00.000Z' },
      { m: 'late', receivedAt: '2027-01-31T23:59:59.999Z' },
      { m: 'feb', receivedAt: '2027-02-03T00:00:00.000Z' },
    ]);
    await sql`INSERT INTO events (write_key, message_id, type, timestamp, received_at, payload) VALUES ('wk', 'odd', 'track', 'x', 'not a time', '{}')`.execute(
      k.db,
    );
    expect(await located(k)).toEqual({ early: 'events_default', late: 'events_default', feb: 'events_default', odd: 'events_default' });
    const before = await k.db.selectFrom('events').select(['message_id', 'rowid', 'payload']).orderBy('rowid').execute();
    const r = await partitionUpkeep(k, { now: at('2027-01-15T00:00:00.000Z'), ahead: 0 });
    // January is the current month; February has rows in the default already, so it is made too.
    expect(r).toMatchObject({ created: ['events_2027_01', 'events_2027_02'], moved: 3, leftInDefault: 1, skipped: [] }); // 'odd' names no month
    expect(await located(k)).toEqual({ early: 'events_2027_01', late: 'events_2027_01', feb: 'events_2027_02', odd: 'events_default' });
    // Moved, not copied: the same rows (rowid and all), once.
    expect(await k.db.selectFrom('events').select(['message_id', 'rowid', 'payload']).orderBy('rowid').execute()).toEqual(before);
    expect((await partitionUpkeep(k, { now: at('2027-01-15T00:00:00.000Z'), ahead: 0 })).moved).toBe(0);
  });

  test('retention drops whole months at or past the cutoff and their ledger rows, keeping newer rows and their de-duplication', async () => {
    await partitionUpkeep(k, { now: at('2026-12-01T00:00:00.000Z'), ahead: 2 });
    const events = [
      ...Array.from({ length: 5 }, (_, i) => ({ m: `dec${i}`, receivedAt: `2026-12-1${i}T00:00:00.000Z` })),
      { m: 'jan05', receivedAt: '2027-01-05T00:00:00.000Z' },
      { m: 'jan20', receivedAt: '2027-01-20T00:00:00.000Z' },
      { m: 'feb', receivedAt: '2027-02-10T00:00:00.000Z' },
    ];
    await store(k, events);
    // Cutoff 2027-01-16: December ends before it and goes; January straddles it and stays, whole.
    const now = at('2027-02-15T00:00:00.000Z');
    const r = await partitionUpkeep(k, { now, ahead: 0, retentionMs: 30 * DAY, batchSize: 2 });
    expect(r).toMatchObject({ cutoff: '2027-01-16T00:00:00.000Z', dropped: ['events_2026_12'], ledgerPruned: 5, created: [], skipped: [], truncated: false });
    expect(Object.keys(await partitions(k))).toEqual(['events_2027_01', 'events_2027_02', 'events_default']);
    expect(await located(k)).toEqual({ feb: 'events_2027_02', jan05: 'events_2027_01', jan20: 'events_2027_01' });
    expect(await ledger(k)).toEqual(['feb', 'jan05', 'jan20']);
    // jan05 is older than the cutoff but still stored: its retry is still refused.
    expect(await store(k, [{ m: 'jan05', receivedAt: '2027-02-15T00:00:00.000Z' }])).toEqual([]);
    // A retry of a dropped event is stored again: the ledger forgot it with its partition (decision 0004).
    expect(await store(k, [{ m: 'dec0', receivedAt: '2027-02-15T00:00:00.000Z' }])).toEqual(['dec0']);
    const again = await partitionUpkeep(k, { now, ahead: 0, retentionMs: 30 * DAY });
    expect(again).toMatchObject({ dropped: [], ledgerPruned: 0 });
  });

  test('a drop that cannot get its lock in time is skipped, its ledger rows kept, and done on the next run', async () => {
    await partitionUpkeep(k, { now: at('2026-12-01T00:00:00.000Z'), ahead: 2 });
    await store(k, [
      { m: 'dec', receivedAt: '2026-12-10T00:00:00.000Z' },
      { m: 'jan', receivedAt: '2027-01-10T00:00:00.000Z' },
    ]);
    const reader = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await reader.connect();
    const schema = (await sql<{ s: string }>`SELECT current_schema() AS s`.execute(k.db)).rows[0]!.s;
    try {
      // A long read of the events holds a lock that detaching must wait for.
      await reader.query(`SET search_path = "${schema}"`);
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM events');
      const r = await partitionUpkeep(k, { now: at('2027-02-15T00:00:00.000Z'), ahead: 0, retentionMs: 30 * DAY, lockTimeoutMs: 200 });
      expect(r).toMatchObject({ dropped: [], skipped: ['drop events_2026_12'], ledgerPruned: 0 });
      expect(await ledger(k)).toEqual(['dec', 'jan']);
    } finally {
      await reader.query('ROLLBACK');
      await reader.end();
    }
    const r = await partitionUpkeep(k, { now: at('2027-02-15T00:00:00.000Z'), ahead: 0, retentionMs: 30 * DAY });
    expect(r).toMatchObject({ dropped: ['events_2026_12'], skipped: [], ledgerPruned: 1 });
    expect(await ledger(k)).toEqual(['jan']);
  });

  test('the (write key, messageId) ledger refuses a duplicate across two partitions', async () => {
    await partitionUpkeep(k, { now: at('2026-12-01T00:00:00.000Z'), ahead: 1 });
    expect(await store(k, [{ m: 'm1', receivedAt: '2026-12-31T23:00:00.000Z' }])).toEqual(['m1']);
    // The retry arrives next month: another partition, which alone could not see the first copy.
    expect(
      await store(k, [
        { m: 'm1', receivedAt: '2027-01-01T01:00:00.000Z' },
        { m: 'm2', receivedAt: '2027-01-01T01:00:00.000Z' },
      ]),
    ).toEqual(['m2']);
    expect(await located(k)).toEqual({ m1: 'events_2026_12', m2: 'events_2027_01' });
    await expect(k.db.insertInto('event_ids').values({ write_key: 'wk', message_id: 'm1', received_at: '2027-01-02T00:00:00.000Z' }).execute()).rejects.toThrow(
      /duplicate key value violates unique constraint "event_ids_pk"/,
    );
    // Another write key's m1 is another message.
    await k.db.insertInto('event_ids').values({ write_key: 'other', message_id: 'm1', received_at: '2027-01-02T00:00:00.000Z' }).execute();
  });
});

describe('two nodes running upkeep at once on PostgreSQL', () => {
  let s: TestSchema;
  let a: KeelDb;
  let b: KeelDb;
  beforeAll(async () => {
    s = await testSchema();
    a = await postgresKeelDb({ url: s.url, schema: s.schema, max: 2 });
    b = await postgresKeelDb({ url: s.url, schema: s.schema, max: 2 });
    await Promise.all([migrateToLatest(a), migrateToLatest(b)]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await s?.drop();
  });

  test('each partition is created, filled and dropped once, and no run fails', async () => {
    await insertRows(
      a,
      Array.from({ length: 50 }, (_, i) => ({
        type: 'track' as const,
        event: 'e',
        messageId: `m${i}`,
        receivedAt: `2026-1${i % 3}-0${1 + (i % 9)}T00:00:00.000Z`,
      })),
    );
    for (let round = 0; round < 3; round++) {
      const now = at('2026-12-05T00:00:00.000Z');
      const runs = await Promise.all([a, b, a, b].map((k) => partitionUpkeep(k, { now, ahead: 2 })));
      const created = runs.flatMap((r) => r.created).sort();
      expect(created).toEqual(round === 0 ? ['events_2026_10', 'events_2026_11', 'events_2026_12', 'events_2027_01', 'events_2027_02'] : []);
      expect(runs.reduce((n, r) => n + r.moved, 0)).toBe(round === 0 ? 50 : 0);
      expect(runs.flatMap((r) => r.skipped)).toEqual([]);
    }
    const { rows } = await sql<{
      part: string;
      n: number;
    }>`SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM events GROUP BY 1 ORDER BY 1`.execute(a.db);
    expect(rows).toEqual([
      { part: 'events_2026_10', n: 17 },
      { part: 'events_2026_11', n: 17 },
      { part: 'events_2026_12', n: 16 },
    ]);
    // Retention on all of them at once: October and November go (cutoff 2026-12-01T00), each once.
    const runs = await Promise.all(
      [a, b, a, b].map((k) => partitionUpkeep(k, { now: at('2027-01-01T00:00:00.000Z'), ahead: 0, retentionMs: 31 * DAY, batchSize: 3 })),
    );
    expect(runs.flatMap((r) => r.dropped).sort()).toEqual(['events_2026_10', 'events_2026_11']);
    expect(runs.reduce((n, r) => n + r.ledgerPruned, 0)).toBe(34);
    expect(
      await a.db
        .selectFrom('event_ids')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
    ).toEqual({ n: 16 });
    expect(
      await a.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
    ).toEqual({ n: 16 });
  });
});

describe('retention on SQLite', () => {
  let k: KeelDb;
  beforeAll(async () => {
    k = await openDatabase(join(mkdtempSync(join(tmpdir(), 'keel-ret-')), 'keel.db'));
  });
  afterAll(async () => {
    await k?.close();
  });

  test('deletes events received before the cutoff in bounded batches, keeping the rest', async () => {
    const old = Array.from({ length: 10 }, (_, i) => ({
      type: 'track' as const,
      event: 'e',
      messageId: `old${i}`,
      receivedAt: `2026-01-0${1 + (i % 9)}T00:00:00.000Z`,
    }));
    const recent = Array.from({ length: 4 }, (_, i) => ({
      type: 'track' as const,
      event: 'e',
      messageId: `new${i}`,
      receivedAt: `2026-03-0${1 + i}T00:00:00.000Z`,
    }));
    await insertRows(k, old);
    await insertRows(k, recent);
    const now = at('2026-03-10T00:00:00.000Z');
    expect(await partitionUpkeep(k, { now })).toMatchObject({ deleted: 0, created: [], dropped: [] }); // no retention: nothing goes
    // Batches of 3, at most 2 a run: 6 go, and the run says more is due.
    const first = await partitionUpkeep(k, { now, retentionMs: 30 * DAY, batchSize: 3, maxBatches: 2 });
    expect(first).toMatchObject({ deleted: 6, truncated: true, cutoff: '2026-02-08T00:00:00.000Z' });
    const second = await partitionUpkeep(k, { now, retentionMs: 30 * DAY, batchSize: 3, maxBatches: 2 });
    expect(second).toMatchObject({ deleted: 4, truncated: false });
    const left = (await k.db.selectFrom('events').select('message_id').orderBy('message_id').execute()).map((r) => r.message_id);
    expect(left).toEqual(['new0', 'new1', 'new2', 'new3']);
    expect((await partitionUpkeep(k, { now, retentionMs: 30 * DAY })).deleted).toBe(0);
    // A retry of a deleted message is a new event again (the primary key forgot it with the row).
    await insertRows(k, [{ type: 'track', event: 'e', messageId: 'old0', receivedAt: now.toISOString() }]);
    expect((await k.db.selectFrom('events').select('message_id').where('message_id', '=', 'old0').execute()).length).toBe(1);
  });

  test('refuses a nonsensical retention or lookahead', async () => {
    await expect(partitionUpkeep(k, { now: new Date(), retentionMs: 0 })).rejects.toThrow(/retention must be a positive duration/);
    await expect(partitionUpkeep(k, { now: new Date(), ahead: -1 })).rejects.toThrow(/ahead must be a whole number/);
  });
});
