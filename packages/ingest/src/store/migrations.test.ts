import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testPostgres } from '../test-support/pg.js';
import type { KeelDb } from './db.js';
import { MIGRATION_COUNT, migrateToLatest } from './migrations.js';
import { openDatabase } from './sqlite.js';

// The same migrations, on both dialects: every table exists, and the dialect-specific bits hold.
const dialects: [string, () => Promise<KeelDb>][] = [
  ['sqlite', () => openDatabase(join(mkdtempSync(join(tmpdir(), 'keel-mig-')), 'keel.db'))],
  ['postgres', testPostgres],
];

describe.each(dialects)('migrations on %s', (name, open) => {
  let k: KeelDb;
  beforeAll(async () => {
    k = await open();
  });
  afterAll(async () => {
    await k?.close();
  });

  test('every table is there, and migrating again is a no-op', async () => {
    const tables = (await k.db.introspection.getTables()).map((t) => t.name);
    for (const t of [
      'events',
      'config_versions',
      'audit_log',
      'progress',
      'config_drafts',
      'health_snapshots',
      'lifecycle_transitions',
      'alerts',
      'incidents',
      'incident_updates',
      'identity_memberships',
      'identity_links',
      'events_quarantine',
      'keel_jobs',
    ])
      expect(tables).toContain(t);
    await migrateToLatest(k);
    const n = await k.db
      .selectFrom('kysely_migration' as never)
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirstOrThrow();
    expect(n).toEqual({ n: MIGRATION_COUNT });
  });

  test('a duplicate (write key, message id) is ignored, and rowid orders inserts', async () => {
    const row = (id: string) => ({
      write_key: 'k',
      message_id: id,
      type: 'track',
      event: 'e',
      user_id: null,
      anonymous_id: 'a',
      group_id: 'acme',
      timestamp: '2026-01-01T00:00:00.000Z',
      original_timestamp: null,
      sent_at: null,
      received_at: new Date().toISOString(),
      payload: '{"a":{"b":2}}',
    });
    if (name === 'sqlite') {
      await k.db
        .insertInto('events')
        .values([row('m1'), row('m2')])
        .onConflict((c) => c.doNothing())
        .execute();
      await k.db
        .insertInto('events')
        .values([row('m1')])
        .onConflict((c) => c.doNothing())
        .execute();
    } else {
      // PostgreSQL: uniqueness across partitions is event_ids' job (decision 0004).
      for (const ids of [['m1', 'm2'], ['m1']]) {
        const fresh = await k.db
          .insertInto('event_ids')
          .values(ids.map((m) => ({ write_key: 'k', message_id: m, received_at: new Date().toISOString() })))
          .onConflict((c) => c.doNothing())
          .returning('message_id')
          .execute();
        if (fresh.length)
          await k.db
            .insertInto('events')
            .values(fresh.map((f) => row(f.message_id)))
            .execute();
      }
    }
    const rows = await k.db
      .selectFrom('events')
      .select(['message_id', 'rowid', 'trust', 'attribution', k.sql.jsonNumber('payload', 'a', 'b').as('b')])
      .orderBy('rowid')
      .execute();
    expect(rows.map((r) => [r.message_id, r.trust, r.attribution, r.b])).toEqual([
      ['m1', 'unverified', 'claim', 2],
      ['m2', 'unverified', 'claim', 2],
    ]);
    expect(rows[0]!.rowid).toBeLessThan(rows[1]!.rowid);
  });

  test('text orders bytewise on both (ISO times, ids with mixed case and punctuation)', async () => {
    const ids = ['a-b', 'aB', 'a_b', 'Ab', '2026-12-01T00:00:00.000Z', '2026-12-01'];
    await k.db
      .insertInto('incidents')
      .values(ids.map((id) => ({ id, doc: '{}', updated_at: id })))
      .execute();
    const got = (await k.db.selectFrom('incidents').select('id').orderBy('id').execute()).map((r) => r.id);
    expect(got).toEqual([...ids].sort());
  });
});
