// The ingest ceilings: the best raw method for the same rows on the same store, measured in the
// same run as `keel serve` (docs/targets.md). Every ratio the bench prints for ingest divides by one
// of these, so they must not be flattered by a cheaper schema or handicapped by a slower setup
// than the server's own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSERT_ATTRIBUTED_SQL, openDatabase, openSqliteStore, openStore, startCheckpointer, toRows } from '../../packages/ingest/dist/index.js';
import { WRITE_KEY } from './ingest.mjs';
import { PG_URL, pgSchema, pgUnavailable } from './stores.mjs';

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

export { PG_URL };
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

/** Every `rows` line through one `COPY … FROM STDIN` on `client`, encoded while it streams (as a server would), 500 rows a write. */
async function copyRows(client, copyFrom, target, rows, line) {
  const stream = client.query(copyFrom(`COPY ${target} FROM STDIN`));
  const done = new Promise((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  const CHUNK = 500;
  for (let i = 0; i < rows.length; i += CHUNK) {
    let text = '';
    for (let j = i; j < Math.min(rows.length, i + CHUNK); j++) text += line(rows[j]);
    if (!stream.write(text)) await new Promise((r) => stream.once('drain', r));
  }
  stream.end();
  await done;
}

const ledgerLine = (r) => `${copyField(r.writeKey)}\t${copyField(r.messageId)}\t${copyField(r.receivedAt)}\n`;

/**
 * PostgreSQL: `COPY … FROM STDIN` (pg-copy-streams) of the same rows into Keel's own tables, in a
 * fresh schema migrated by the store itself (openStore once, then its partition upkeep, so the
 * current month's partition exists and the rows land in it as the server's do), dropped
 * afterwards. Like for like with what the store writes for each event: its (write key, message id)
 * into the de-duplication ledger `event_ids` (its primary key is what refuses a duplicate, as
 * SQLite's events primary key does) and the row into `events` (the partition, its indexes), both
 * COPYs in one transaction committed with the server's default synchronous_commit. Resolves
 * `{ skipped }` with the reason when PostgreSQL can't be reached or the client libraries are
 * missing: the rest of the bench runs without it.
 */
export async function pgCopyCeiling(rows, { url = PG_URL } = {}) {
  let pg, copyFrom;
  try {
    pg = (await import('pg')).default;
    copyFrom = (await import('pg-copy-streams')).from;
  } catch (e) {
    return { skipped: `the pg / pg-copy-streams client libraries are not installed (${e.message.split('\n')[0]})` };
  }
  const unavailable = await pgUnavailable(url);
  if (unavailable) return { skipped: unavailable };
  const s = await pgSchema('keel_bench_copy', url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    const store = await openStore({ databaseUrl: url, databaseSchema: s.schema });
    try {
      await store.upkeep({});
    } finally {
      await store.close();
    }
    await client.connect();
    const version = (await client.query('SHOW server_version')).rows[0].server_version;
    const t0 = performance.now();
    await client.query('BEGIN');
    await copyRows(client, copyFrom, `"${s.schema}".event_ids (write_key, message_id, received_at)`, rows, ledgerLine);
    await copyRows(client, copyFrom, `"${s.schema}".events (${SQL_COLUMNS})`, rows, copyLine);
    await client.query('COMMIT');
    const secs = (performance.now() - t0) / 1000;
    const stored = Number((await client.query(`SELECT COUNT(*) AS n FROM "${s.schema}".events`)).rows[0].n);
    if (stored !== rows.length) throw new Error(`COPY stored ${stored} of ${rows.length} rows`);
    const inDefault = Number((await client.query(`SELECT COUNT(*) AS n FROM "${s.schema}".events_default`)).rows[0].n);
    if (inDefault) throw new Error(`${inDefault} rows landed in events_default: the month's partition was missing`);
    return { rows: rows.length, rowsPerSec: rows.length / secs, version };
  } finally {
    await client.end().catch(() => undefined);
    await s.drop();
  }
}
