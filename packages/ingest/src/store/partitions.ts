/**
 * Upkeep of the events table's time partitions (PostgreSQL) and retention (both dialects); see
 * docs/decisions/0004-postgres-events-partitions-and-dedup.md.
 *
 * PostgreSQL: `events` is range-partitioned by `received_at` (ISO-8601 text, UTC, the server's clock)
 * into monthly partitions `events_YYYY_MM`, with `events_default` catching rows of a month that has
 * no partition yet. Upkeep creates the current month and `ahead` months ahead (moving rows of those
 * months out of the default first), drops whole months older than the retention, and prunes the
 * de-duplication ledger (`event_ids`) of the events dropped. Every schema change runs in its own
 * short transaction under an advisory lock keyed on the schema, so nodes running upkeep at once
 * take turns and each finds the other's work done; a lock it can't get in time (a long read on the
 * table) skips that step until the next run instead of stalling ingest behind it.
 *
 * SQLite: there are no partitions; retention deletes old events in bounded batches, yielding to the
 * event loop between batches (better-sqlite3 is synchronous: one long statement would stall ingest).
 */
import { sql } from 'kysely';
import type { Kdb, KeelDb } from './db.js';

export interface UpkeepOptions {
  /** The clock (tests pass their own). */
  now: Date;
  /** PostgreSQL: months to create ahead of the current one (default 2). */
  ahead?: number;
  /** Keep events received this long (ms); undefined keeps everything. */
  retentionMs?: number;
  /** Rows per batch when deleting (SQLite events, PostgreSQL ledger rows); default 5,000. */
  batchSize?: number;
  /** Batches per run at most; the rest waits for the next run (default 1,000: 5 million rows). */
  maxBatches?: number;
  /** PostgreSQL: how long a step waits for a table lock before it is skipped until the next run (default 5 s). */
  lockTimeoutMs?: number;
}

export interface UpkeepResult {
  /** PostgreSQL: partitions created by this run. */
  created: string[];
  /** PostgreSQL: rows moved out of events_default into the partitions created. */
  moved: number;
  /**
   * PostgreSQL: rows still in events_default after this run. Normally 0: a row there has a
   * received_at that names no month, or upkeep is not keeping up (`keel_upkeep_default_partition_rows`).
   */
  leftInDefault: number;
  /** PostgreSQL: partitions dropped by retention (detached, then dropped). */
  dropped: string[];
  /** PostgreSQL: de-duplication ledger rows pruned (those of the events dropped). */
  ledgerPruned: number;
  /** SQLite: events deleted by retention. */
  deleted: number;
  /** Steps skipped because a lock wasn't granted in time (`create events_2027_01`, `drop events_2025_10`): retried next run. */
  skipped: string[];
  /** Deleting stopped at `maxBatches`: more is due (the next run continues). */
  truncated: boolean;
  /** Where retention cut: events received before this are gone (undefined without retention). */
  cutoff?: string;
}

export const DEFAULT_AHEAD = 2;
const DEFAULT_BATCH = 5000;
const DEFAULT_MAX_BATCHES = 1000;
const DEFAULT_LOCK_TIMEOUT_MS = 5000;
/** The advisory lock's first key ('keel' in ASCII); the second is the schema's hash, so deployments sharing a database don't wait on each other. */
const LOCK_CLASS = 0x6b65656c;
const MANAGED = /^events_(\d{4})_(\d{2})$/;

/** A UTC month: its partition's name and [from, to) bounds. */
export interface MonthRange {
  name: string;
  from: string;
  to: string;
}

/** The partition holding times in the month `offset` months after `at`'s (UTC). */
export function monthRange(at: Date, offset = 0): MonthRange {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth() + offset;
  const start = new Date(Date.UTC(y, m, 1));
  const end = new Date(Date.UTC(y, m + 1, 1));
  const name = `events_${String(start.getUTCFullYear()).padStart(4, '0')}_${String(start.getUTCMonth() + 1).padStart(2, '0')}`;
  return { name, from: start.toISOString(), to: end.toISOString() };
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function isLockTimeout(e: unknown): boolean {
  return (e as { code?: string })?.code === '55P03'; // lock_not_available (lock_timeout)
}

export async function partitionUpkeep(k: KeelDb, opts: UpkeepOptions): Promise<UpkeepResult> {
  const ahead = opts.ahead ?? DEFAULT_AHEAD;
  if (!Number.isInteger(ahead) || ahead < 0 || ahead > 36)
    throw new Error(`partition upkeep: ahead must be a whole number of months from 0 to 36, found ${ahead}`);
  const r: UpkeepResult = { created: [], moved: 0, leftInDefault: 0, dropped: [], ledgerPruned: 0, deleted: 0, skipped: [], truncated: false };
  let cutoff: Date | undefined;
  if (opts.retentionMs !== undefined) {
    cutoff = new Date(opts.now.getTime() - opts.retentionMs);
    if (!(opts.retentionMs > 0) || Number.isNaN(cutoff.getTime()))
      throw new Error(`partition upkeep: retention must be a positive duration, found ${opts.retentionMs}`);
    r.cutoff = cutoff.toISOString();
  }
  const batch = opts.batchSize ?? DEFAULT_BATCH;
  const maxBatches = opts.maxBatches ?? DEFAULT_MAX_BATCHES;
  if (k.dialect === 'sqlite') {
    if (cutoff) await sqliteRetention(k, cutoff.toISOString(), batch, maxBatches, r);
    return r;
  }
  await postgresUpkeep(k, opts.now, ahead, cutoff, batch, maxBatches, opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, r);
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events_default`.execute(k.db);
  r.leftInDefault = rows[0]?.n ?? 0;
  return r;
}

/**
 * Walks the table in rowid order (insertion order, which is receipt order: received_at is the
 * server's clock) a window of `batch` rows at a time, deleting the window's rows received before
 * the cutoff, and stops at the first window holding a row to keep: every row after it is newer. Each window is
 * a rowid range (read on the table's own b-tree, no index on received_at needed) and one DELETE, so
 * no statement holds the write lock or the event loop for long. A row stored while the clock was
 * stepped back can sit just past the stop; the next run, with a later cutoff, reaches it.
 */
async function sqliteRetention(k: KeelDb, cutoff: string, batch: number, maxBatches: number, r: UpkeepResult): Promise<void> {
  let after = -1;
  for (let i = 0; ; i++) {
    if (i >= maxBatches) {
      r.truncated = true;
      return;
    }
    const w = await k.db
      .selectFrom((eb) => eb.selectFrom('events').select(['rowid', 'received_at']).where('rowid', '>', after).orderBy('rowid').limit(batch).as('w'))
      .select((eb) => [eb.fn.max('w.rowid').as('hi'), eb.fn.min('w.received_at').as('lo'), eb.fn.countAll<number>().as('n')])
      .executeTakeFirstOrThrow();
    if (!w.n || w.hi === null || w.lo === null || w.lo >= cutoff) return;
    const d = await k.db.deleteFrom('events').where('rowid', '>', after).where('rowid', '<=', w.hi).where('received_at', '<', cutoff).executeTakeFirst();
    r.deleted += Number(d.numDeletedRows);
    if (Number(d.numDeletedRows) < w.n) return; // the window reached rows to keep: the rest are newer
    after = w.hi;
    await yieldToLoop(); // let the group commit and requests in between batches
  }
}

interface Partition {
  name: string;
  /** Range bounds; undefined for the default partition. */
  from?: string;
  to?: string;
}

async function listPartitions(k: KeelDb): Promise<Partition[]> {
  const { rows } = await sql<{ name: string; bound: string }>`
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass`.execute(k.db);
  return rows.map(({ name, bound }) => {
    const m = /FROM \('([^']*)'\) TO \('([^']*)'\)/.exec(bound);
    return m ? { name, from: m[1], to: m[2] } : { name };
  });
}

async function postgresUpkeep(
  k: KeelDb,
  now: Date,
  ahead: number,
  cutoff: Date | undefined,
  batch: number,
  maxBatches: number,
  lockTimeoutMs: number,
  r: UpkeepResult,
): Promise<void> {
  // Which months: the current one and `ahead` after it, and any month rows already sit in the default
  // for (upkeep didn't run for a while): those are moved out too, and retention then drops them if old.
  const months = new Map<string, MonthRange>();
  for (let i = 0; i <= ahead; i++) {
    const m = monthRange(now, i);
    months.set(m.name, m);
  }
  const { rows: stray } = await sql<{ month: string }>`
    SELECT DISTINCT left(received_at, 7) AS month FROM events_default WHERE received_at ~ '^[0-9]{4}-(0[1-9]|1[0-2])-'`.execute(k.db);
  for (const { month } of stray) {
    const m = monthRange(new Date(`${month}-01T00:00:00.000Z`));
    months.set(m.name, m);
  }
  for (const m of [...months.values()].sort((a, b) => a.from.localeCompare(b.from))) {
    try {
      const moved = await createPartition(k, m, lockTimeoutMs);
      if (moved !== null) {
        r.created.push(m.name);
        r.moved += moved;
      }
    } catch (e) {
      if (!isLockTimeout(e)) throw e;
      r.skipped.push(`create ${m.name}`);
    }
  }
  if (!cutoff) return;
  const cut = cutoff.toISOString();
  for (const p of await listPartitions(k)) {
    if (!MANAGED.test(p.name) || p.to === undefined || p.to > cut) continue;
    try {
      if (await dropPartition(k, p.name, lockTimeoutMs)) r.dropped.push(p.name);
    } catch (e) {
      if (!isLockTimeout(e)) throw e;
      r.skipped.push(`drop ${p.name}`);
    }
  }
  // The ledger keeps a row per stored event, with the event's received_at. Rows below the oldest
  // event still held (the lowest partition bound, or an older row left in the default) are those of
  // dropped events; the ledger is pruned up to there, not up to the cutoff itself, or the kept part
  // of the cutoff's month would lose its de-duplication.
  const kept = (await listPartitions(k)).filter((p) => p.from !== undefined).map((p) => p.from!);
  const {
    rows: [dflt],
  } = await sql<{ oldest: string | null }>`SELECT min(received_at) AS oldest FROM events_default`.execute(k.db);
  const floor = [monthRange(cutoff).from, ...kept, ...(dflt?.oldest != null ? [dflt.oldest] : [])].sort()[0]!;
  for (let i = 0; ; i++) {
    if (i >= maxBatches) {
      r.truncated = true;
      return;
    }
    // Each batch its own statement and transaction. Nodes pruning at once may delete each other's
    // candidates, so a batch ends the loop only when it saw fewer candidates than it asked for.
    const { rows } = await sql<{ seen: number; n: number }>`
      WITH c AS (SELECT ctid FROM event_ids WHERE received_at < ${floor} LIMIT ${batch}),
        gone AS (DELETE FROM event_ids WHERE ctid = ANY(ARRAY(SELECT ctid FROM c)) AND received_at < ${floor} RETURNING 1)
      SELECT (SELECT count(*) FROM c)::int AS seen, (SELECT count(*) FROM gone)::int AS n`.execute(k.db);
    r.ledgerPruned += rows[0]?.n ?? 0;
    if ((rows[0]?.seen ?? 0) < batch) return;
    await yieldToLoop();
  }
}

/** Takes upkeep's advisory lock for the rest of the transaction, then bounds how long its table locks may wait. */
async function lockUpkeep(trx: Kdb, lockTimeoutMs: number) {
  await sql`SELECT pg_advisory_xact_lock(${LOCK_CLASS}::int, hashtext(current_schema()))`.execute(trx);
  await sql`SELECT set_config('lock_timeout', ${`${Math.max(1, Math.round(lockTimeoutMs))}ms`}, true)`.execute(trx);
}

/**
 * Whether the table exists now. Read from pg_class with this statement's snapshot, not through
 * to_regclass: the relation cache isn't refreshed by taking an advisory lock, so it can still hold
 * a table another node dropped (or miss one it created) while this one waited for the lock.
 */
async function tableExists(trx: Kdb, name: string): Promise<boolean> {
  const { rows } = await sql<{ e: boolean }>`
    SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = ${name} AND n.nspname = current_schema()) AS e`.execute(
    trx,
  );
  return rows[0]?.e === true;
}

/**
 * Creates one month's partition, unless it exists: the table is made detached, the default's rows of
 * its range moved into it, then it is attached, all in one transaction. (A partition can't be created
 * while the default holds rows of its range, and attaching takes a lock on the parent that lets
 * inserts through, where CREATE TABLE … PARTITION OF would block them.) The default is locked first,
 * so no row of the range can land in it between the move and the attach. Returns the rows moved, or
 * null when the partition was there already.
 */
async function createPartition(k: KeelDb, m: MonthRange, lockTimeoutMs: number): Promise<number | null> {
  return k.db.transaction().execute(async (trx) => {
    await lockUpkeep(trx, lockTimeoutMs);
    if (await tableExists(trx, m.name)) return null;
    const t = sql.id(m.name);
    const from = sql.lit(m.from);
    const to = sql.lit(m.to);
    await sql`LOCK TABLE events_default IN ACCESS EXCLUSIVE MODE`.execute(trx);
    await sql`CREATE TABLE ${t} (LIKE events INCLUDING DEFAULTS)`.execute(trx);
    // The same condition as the partition's bound: ATTACH then trusts it instead of scanning the table.
    await sql`ALTER TABLE ${t} ADD CONSTRAINT ${sql.id(`${m.name}_bounds`)} CHECK (received_at >= ${from} AND received_at < ${to})`.execute(trx);
    const { rows } = await sql<{ n: number }>`
      WITH moved AS (DELETE FROM events_default WHERE received_at >= ${m.from} AND received_at < ${m.to} RETURNING *),
        ins AS (INSERT INTO ${t} SELECT * FROM moved RETURNING 1)
      SELECT count(*)::int AS n FROM ins`.execute(trx);
    await sql`ALTER TABLE events ATTACH PARTITION ${t} FOR VALUES FROM (${from}) TO (${to})`.execute(trx);
    await sql`ALTER TABLE ${t} DROP CONSTRAINT ${sql.id(`${m.name}_bounds`)}`.execute(trx);
    return rows[0]?.n ?? 0;
  });
}

/** Detaches and drops one partition (if still there). Detaching locks the parent exclusively, briefly: the lock timeout bounds the wait. */
async function dropPartition(k: KeelDb, name: string, lockTimeoutMs: number): Promise<boolean> {
  return k.db.transaction().execute(async (trx) => {
    await lockUpkeep(trx, lockTimeoutMs);
    if (!(await tableExists(trx, name))) return false;
    await sql`ALTER TABLE events DETACH PARTITION ${sql.id(name)}`.execute(trx);
    await sql`DROP TABLE ${sql.id(name)}`.execute(trx);
    return true;
  });
}
