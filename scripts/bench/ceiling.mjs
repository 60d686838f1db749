// The ingest ceilings: the best raw method for the same rows on the same store, measured in the
// same run as `keel serve` (PERFORMANCE.md). Every ratio the bench prints for ingest divides by one
// of these, so they must not be flattered by a cheaper schema or handicapped by a slower setup
// than the server's own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSERT_ATTRIBUTED_SQL, openDatabase, openSqliteStore, startCheckpointer, toRows } from '../../packages/ingest/dist/index.js';
import { WRITE_KEY } from './ingest.mjs';

/**
 * The rows `keel serve` stores for these batches (same validation, same payload JSON), with the
 * trust and attribution it decides for them: anonymous senders naming their tenant in
 * `context.groupId` (unverified, by claim).
 */
export function rowsOf(batches) {
  const now = Date.now();
  const rows = batches.flatMap((b) => toRows(b.batch, WRITE_KEY, { sentAt: b.sentAt }, now).rows);
  for (const r of rows) {
    r.trust = 'unverified';
    r.attribution = r.groupId ? 'claim' : 'identity';
  }
  const payloadBytes = rows.reduce((n, r) => n + Buffer.byteLength(r.payload), 0) / rows.length;
  return { rows, payloadBytes };
}

/**
 * SQLite: the schema of a real store (a `keel serve` data directory opened and closed in a temp
 * dir: every migration, the composite primary key, the tenant/time index and the partial
 * identity indexes), the store's own pragmas (WAL, synchronous=NORMAL, its page cache), a prepared
 * `INSERT OR IGNORE`, 500 rows a transaction, and checkpoints off the commit path exactly as
 * `keel serve` runs them (`wal_autocheckpoint=0`, the store's checkpointer thread with a connection
 * of its own). Nothing else: no HTTP, no JSON, no validation.
 */
export async function sqliteCeiling(rows, { perTransaction = 500 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-ceiling-'));
  try {
    const store = await openSqliteStore(dir);
    const path = store.path;
    await store.close();
    const db = (await openDatabase(path)).sqlite;
    db.pragma('wal_autocheckpoint = 0');
    const checkpointer = startCheckpointer(path);
    if (!checkpointer) throw new Error('the checkpointer thread did not start: the ceiling would checkpoint inline');
    const insert = db.prepare(INSERT_ATTRIBUTED_SQL);
    const tx = db.transaction((from, to) => {
      for (let i = from; i < to; i++) {
        const r = rows[i];
        insert.run(
          r.writeKey,
          r.messageId,
          r.type,
          r.event,
          r.userId,
          r.anonymousId,
          r.groupId,
          r.timestamp,
          r.originalTimestamp,
          r.sentAt,
          r.receivedAt,
          r.payload,
          r.trust,
          r.attribution,
        );
      }
    });
    const t0 = performance.now();
    for (let i = 0; i < rows.length; i += perTransaction) tx(i, Math.min(rows.length, i + perTransaction));
    const secs = (performance.now() - t0) / 1000;
    const stored = db.prepare('SELECT COUNT(*) AS n FROM events').get().n;
    await checkpointer.stop();
    db.close();
    if (stored !== rows.length) throw new Error(`the ceiling stored ${stored} of ${rows.length} rows`);
    return { rows: rows.length, rowsPerSec: rows.length / secs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const PG_URL = process.env.KEEL_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * The events table in PostgreSQL: the SQLite table's columns, primary key and tenant/time index.
 * Text columns as in SQLite (the PostgreSQL store may choose timestamptz or jsonb; when it lands,
 * the ceiling should create the store's own table instead, so the ratio stays like for like).
 */
const PG_EVENTS_DDL = (schema) => `
  CREATE TABLE "${schema}".events (
    write_key TEXT NOT NULL, message_id TEXT NOT NULL, type TEXT NOT NULL, event TEXT, user_id TEXT, anonymous_id TEXT, group_id TEXT,
    timestamp TEXT NOT NULL, original_timestamp TEXT, sent_at TEXT, received_at TEXT NOT NULL, payload TEXT NOT NULL,
    trust TEXT NOT NULL DEFAULT 'unverified', attribution TEXT NOT NULL DEFAULT 'claim',
    PRIMARY KEY (write_key, message_id)
  );
  CREATE INDEX events_tenant_time ON "${schema}".events (group_id, timestamp);`;

const COLUMNS = [
  'writeKey',
  'messageId',
  'type',
  'event',
  'userId',
  'anonymousId',
  'groupId',
  'timestamp',
  'originalTimestamp',
  'sentAt',
  'receivedAt',
  'payload',
  'trust',
  'attribution',
];
const SQL_COLUMNS =
  'write_key, message_id, type, event, user_id, anonymous_id, group_id, timestamp, original_timestamp, sent_at, received_at, payload, trust, attribution';

/** COPY's text format: tab-separated, `\N` for NULL, backslash escapes for backslash, tab, CR, LF. */
const copyField = (v) => (v == null ? '\\N' : String(v).replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')));
const copyLine = (r) => `${COLUMNS.map((c) => copyField(r[c])).join('\t')}\n`;

/**
 * PostgreSQL: `COPY … FROM STDIN` (pg-copy-streams) of the same rows into that table, in a fresh
 * schema of its own, dropped afterwards. The rows are encoded while they stream (as a server
 * would), in one COPY (its own transaction, committed with the server's default
 * synchronous_commit). Resolves `{ skipped }` with the reason when PostgreSQL can't be reached
 * or the client libraries are missing: the rest of the bench runs without it.
 */
export async function pgCopyCeiling(rows, { url = PG_URL } = {}) {
  let pg, copyFrom;
  try {
    pg = (await import('pg')).default;
    copyFrom = (await import('pg-copy-streams')).from;
  } catch (e) {
    return { skipped: `the pg / pg-copy-streams client libraries are not installed (${e.message.split('\n')[0]})` };
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (e) {
    return { skipped: `PostgreSQL is not reachable at ${url.replace(/\/\/[^@]*@/, '//')} (${e.message || e.code || e})` };
  }
  const schema = `keel_bench_${process.pid}_${Date.now().toString(36)}`;
  try {
    const version = (await client.query('SHOW server_version')).rows[0].server_version;
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(PG_EVENTS_DDL(schema));
    const t0 = performance.now();
    const stream = client.query(copyFrom(`COPY "${schema}".events (${SQL_COLUMNS}) FROM STDIN`));
    const done = new Promise((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', reject);
    });
    const CHUNK = 500;
    for (let i = 0; i < rows.length; i += CHUNK) {
      let text = '';
      for (let j = i; j < Math.min(rows.length, i + CHUNK); j++) text += copyLine(rows[j]);
      if (!stream.write(text)) await new Promise((r) => stream.once('drain', r));
    }
    stream.end();
    await done;
    const secs = (performance.now() - t0) / 1000;
    const stored = Number((await client.query(`SELECT COUNT(*) AS n FROM "${schema}".events`)).rows[0].n);
    if (stored !== rows.length) throw new Error(`COPY stored ${stored} of ${rows.length} rows`);
    return { rows: rows.length, rowsPerSec: rows.length / secs, version };
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
