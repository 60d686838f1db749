import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, test, vi } from 'vitest';
import { MIGRATION_COUNT } from './migrations.js';
import { openSqliteStore } from './sqlite.js';
import type { StoredEvent } from './types.js';

const row = (messageId: string, writeKey = 'k'): StoredEvent => ({
  writeKey,
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
});
const dir = () => mkdtempSync(join(tmpdir(), 'keel-store-'));

test('concurrent inserts are committed together and each caller gets its own counts', async () => {
  const store = await openSqliteStore(dir());
  const results = await Promise.all([store.insert([row('a'), row('b')]), store.insert([row('b'), row('c')]), store.insert([row('a'), row('a')])]);
  expect(results).toEqual([
    { inserted: 2, duplicates: 0 },
    { inserted: 1, duplicates: 1 },
    { inserted: 0, duplicates: 2 },
  ]);
  expect(await store.count({ writeKey: 'k' })).toBe(3);
  await store.close();
});

test('reopening keeps the rows and does not re-run migrations; WAL and the chosen durability are set', async () => {
  const d = dir();
  const s1 = await openSqliteStore(d);
  await s1.insert([row('x')]);
  await s1.close();
  const s2 = await openSqliteStore(d, { durability: 'full' });
  expect((await s2.list({ writeKey: 'k' })).map((r) => r.messageId)).toEqual(['x']);
  await s2.close();
  const db = new Database(join(d, 'keel.db'));
  expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  expect(db.prepare('SELECT COUNT(*) AS n FROM kysely_migration').get()).toEqual({ n: MIGRATION_COUNT });
  db.close();
});

test('a file made before the migrator is adopted: its 9 migrations are not re-run, the new ones are, and its rows stay readable', async () => {
  const d = dir();
  const legacy = new Database(join(d, 'keel.db'));
  legacy.exec(readFileSync(new URL('./fixtures/legacy-v9.sql', import.meta.url), 'utf8'));
  legacy
    .prepare(
      `INSERT INTO events (write_key, message_id, type, event, user_id, anonymous_id, group_id, timestamp, original_timestamp, sent_at, received_at, payload)
    VALUES ('k', 'old', 'track', 'e', NULL, 'a', NULL, '2026-01-01T00:00:00.000Z', NULL, NULL, '2026-01-01T00:00:00.000Z', '{}')`,
    )
    .run();
  legacy.close();
  const store = await openSqliteStore(d);
  await store.insert([row('new')]);
  expect((await store.list({ writeKey: 'k' })).map((r) => r.messageId)).toEqual(['old', 'new']);
  await store.close();
  const db = new Database(join(d, 'keel.db'));
  const names = (db.prepare('SELECT name FROM kysely_migration ORDER BY name').all() as { name: string }[]).map((r) => r.name);
  expect(names).toHaveLength(MIGRATION_COUNT);
  expect(names.slice(0, 9).every((n, i) => n.startsWith(String(i + 1).padStart(4, '0')))).toBe(true);
  expect(db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'keel_jobs'").get()).toEqual({ n: 1 });
  db.close();
});

test('list pages by row id and never crosses write keys', async () => {
  const store = await openSqliteStore(dir());
  await store.insert([row('1'), row('2'), row('3'), row('o', 'other')]);
  const first = await store.list({ writeKey: 'k', limit: 2 });
  expect(first.map((r) => r.messageId)).toEqual(['1', '2']);
  const next = await store.list({ writeKey: 'k', afterRowId: first[1]!.rowId });
  expect(next.map((r) => r.messageId)).toEqual(['3']);
  await store.close();
  await expect(store.insert([row('z')])).rejects.toThrow('closed');
});

test('a data directory that cannot be created is named in the error', async () => {
  const file = join(dir(), 'a-file');
  writeFileSync(file, '');
  await expect(openSqliteStore(join(file, 'data'))).rejects.toThrow(`cannot create the data directory ${join(file, 'data')}`);
});

test('checkpoints run on a worker thread: the database file takes the WAL pages while the store is open; close leaves no WAL', async () => {
  const d = dir();
  const store = await openSqliteStore(d);
  const file = join(d, 'keel.db');
  const before = statSync(file).size;
  const payload = JSON.stringify({ properties: { note: 'x'.repeat(900) } });
  // ~3 MB: under SQLite's automatic checkpoint (1,000 pages), and the committing connection has
  // that turned off: only the worker's checkpoints can move these pages into the database file.
  await store.insert(Array.from({ length: 3000 }, (_, i) => ({ ...row(`m${i}`), payload })));
  await vi.waitFor(() => expect(statSync(file).size).toBeGreaterThan(before + 2_000_000), { timeout: 5000, interval: 50 });
  expect(await store.count({ writeKey: 'k' })).toBe(3000);
  await store.close();
  expect(existsSync(`${file}-wal`)).toBe(false);
  const db = new Database(file);
  expect(db.prepare('SELECT COUNT(*) AS n FROM events').get()).toEqual({ n: 3000 });
  db.close();
});
