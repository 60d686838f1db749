import { mkdirSync, statfsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { healthService, type HealthService } from '../health/service.js';
import { outcomeService, type OutcomeService } from '../health/outcomes.js';
import { lifecycleService, type LifecycleService } from '../health/lifecycle.js';
import { alertService, type AlertOptions, type AlertService } from '../health/alerts.js';
import { type Evaluator, type EvaluatorOptions, startEvaluator } from '../health/evaluator.js';
import { timelineQuery } from '../health/timeline.js';
import { statusService, type StatusService } from '../health/status.js';
import { startCheckpointer } from './checkpointer.js';
import { faultCause, faultState, guardFaults, MIN_FREE_BYTES, probeDirectory, StorageFaultError } from './faults.js';
import { identityResolver } from './identity.js';
import { type KeelDb, sqliteKeelDb } from './db.js';
import { migrateToLatest } from './migrations.js';
import { configStore as configStoreOf, factsStore, progressStore } from './state.js';
import type { ConfigStore, FactsStore, ProgressStore } from './state-types.js';
import { claimOf, columnValuesOf, type EventStore, type InsertResult, type StoredEvent, storedRowOf } from './types.js';

export type Durability = 'normal' | 'full';

export interface SqliteStoreOptions {
  /**
   * `normal` (default): WAL with synchronous=NORMAL. A committed batch survives a crash or
   * kill of the process; a power loss can drop the last few commits.
   * `full`: synchronous=FULL, fsync on every commit; survives power loss too, slower.
   * See docs/decisions/0001-sqlite-durability.md.
   */
  durability?: Durability;
  /** Where fired alerts are delivered (signed webhooks). */
  alerts?: AlertOptions;
  /** File name inside the data directory; default `keel.db`. */
  fileName?: string;
  /**
   * Tenant attribution through the identity table (default true). `false` stores each message's
   * own claim only, with no identity lookups: the baseline `pnpm bench` compares against.
   */
  attribution?: boolean;
  /** Called with each group commit's duration in seconds (the /metrics store commit histogram). */
  onCommit?: (seconds: number) => void;
}

/** Opens (creating if needed) the SQLite database with the pragmas every Keel store uses, migrated to the latest schema. */
export async function openDatabase(path: string, durability: Durability = 'normal'): Promise<KeelDb & { sqlite: Database.Database }> {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    // 64 MB of page cache: the primary-key index of random message ids stays in memory.
    db.pragma('cache_size = -65536');
    const k = sqliteKeelDb(db);
    await migrateToLatest(k);
    return k as KeelDb & { sqlite: Database.Database };
  } catch (e) {
    db.close(); // a half-opened database must not hold the file (or its mount) open
    throw e;
  }
}

export const INSERT_EVENT_SQL = `INSERT OR IGNORE INTO events
  (write_key, message_id, type, event, user_id, anonymous_id, group_id, timestamp, original_timestamp, sent_at, received_at, payload)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** The row with its attributed tenant, trust and how the tenant was decided (identity.ts). */
export const INSERT_ATTRIBUTED_SQL = `INSERT OR IGNORE INTO events
  (write_key, message_id, type, event, user_id, anonymous_id, group_id, timestamp, original_timestamp, sent_at, received_at, payload, trust, attribution)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

interface Pending {
  rows: readonly StoredEvent[];
  resolve(r: InsertResult): void;
  reject(e: unknown): void;
}

/**
 * The embedded store: one SQLite file in `dataDir`. Inserts from concurrent requests are
 * grouped into one transaction per event-loop turn (group commit): one commit per turn instead
 * of one per request, and each request is answered only after its rows are committed.
 */
export interface SqliteStore extends EventStore {
  readonly path: string;
  /** The repository layer's handle on this file (upkeep, tests). */
  readonly db: KeelDb;
  readonly config: ConfigStore;
  readonly progress: ProgressStore;
  readonly facts: FactsStore;
  readonly health: HealthService;
  readonly lifecycle: LifecycleService;
  readonly alerts: AlertService;
  readonly outcomes: OutcomeService;
  timeline: ReturnType<typeof timelineQuery>;
  readonly status: StatusService;
  /** The storage fault the store is in (a full disk, a read-only file system), if any. */
  readonly fault: StorageFaultError | undefined;
  memberships: NonNullable<EventStore['memberships']>;
  /** Re-evaluates tenants with new events every interval, and every tenant every sweep (health, lifecycle, alerts). */
  startEvaluator(opts?: EvaluatorOptions): Evaluator;
}

export async function openSqliteStore(dataDir: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const dir = resolve(dataDir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    // Recursive mkdir says ENOENT when the parent is read-only: ask the file system instead.
    const cause = probeDirectory(dir);
    throw new Error(
      `cannot create the data directory ${dir}: ${cause ?? (e as Error).message}${cause ? ` (${(e as NodeJS.ErrnoException).code ?? 'error'})` : ''}`,
    );
  }
  const path = join(dir, options.fileName ?? 'keel.db');
  let k: KeelDb & { sqlite: Database.Database };
  try {
    k = await openDatabase(path, options.durability);
  } catch (e) {
    const cause = faultCause(e, dir);
    throw new Error(`cannot open the database ${path}: ${cause ? `${cause} (${(e as { code?: string }).code})` : (e as Error).message}`);
  }
  const db = k.sqlite;
  const faults = faultState(path);
  // Checkpoints run on a worker thread (see checkpointer.ts), or, if none starts, automatically.
  db.pragma('wal_autocheckpoint = 0');
  const checkpointer = startCheckpointer(path);
  if (!checkpointer) db.pragma('wal_autocheckpoint = 1000');
  const insert = db.prepare(INSERT_ATTRIBUTED_SQL);
  const identity = identityResolver(db);
  const attributing = options.attribution ?? true;
  const configStore = configStoreOf(k);
  const health = healthService(k, configStore);
  const facts = factsStore(k);
  const lifecycle = lifecycleService(k, configStore, health, facts);
  const alerts = alertService(k, configStore, health, lifecycle, options.alerts);
  const outcomes = outcomeService(k, configStore);
  const listStmt = db.prepare('SELECT rowid AS rowId, * FROM events WHERE write_key = ? AND rowid > ? ORDER BY rowid LIMIT ?');
  const countStmt = db.prepare('SELECT COUNT(*) AS n FROM events WHERE write_key = ?');

  let queue: Pending[] = [];
  let scheduled = false;
  let closed = false;

  /**
   * One transaction for the whole group. Attribution is async (its logic is shared with the
   * PostgreSQL store), but SQLite's statements answer synchronously: rows whose answer is cached
   * are attributed synchronously, the other awaits only yield to microtasks, and Kysely stays off
   * the connection until COMMIT (`k.exclusive`, db.ts).
   */
  async function commit(pending: Pending[]): Promise<InsertResult[]> {
    db.exec('BEGIN');
    try {
      const results: InsertResult[] = [];
      for (const p of pending) {
        let inserted = 0;
        for (const r of p.rows) {
          // The common case (a claim, or a cached user) takes no await: no microtask per row.
          const at = attributing ? (identity.attributeCached(r) ?? (await identity.attribute(r))) : claimOf(r);
          const n = insert.run(columnValuesOf(r, at)).changes;
          if (n && attributing && (r.type === 'group' || r.type === 'alias' || r.type === 'identify')) await identity.learn(r, at);
          inserted += n;
        }
        results.push({ inserted, duplicates: p.rows.length - inserted });
      }
      db.exec('COMMIT');
      return results;
    } catch (e) {
      // A failed COMMIT (busy, full) can leave the transaction open: nothing of it may stay.
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    }
  }

  // Commits run while Kysely (the other stores and services) is off the shared connection (db.ts).
  function drain(): Promise<void> {
    scheduled = false;
    const pending = queue;
    queue = [];
    if (pending.length === 0) return Promise.resolve();
    return k.exclusive(() => settle(pending));
  }

  async function settle(pending: Pending[]): Promise<void> {
    try {
      const started = performance.now();
      const results = await commit(pending);
      options.onCommit?.((performance.now() - started) / 1000);
      faults.clear();
      pending.forEach((p, i) => p.resolve(results[i]!));
    } catch (e) {
      // Nothing of this group was committed (the transaction rolled back): none is acknowledged.
      identity.reset(); // cached identity lookups may be ahead of the rolled-back transaction
      const err = faults.classify(e);
      for (const p of pending) p.reject(err);
    }
  }

  return {
    kind: 'sqlite',
    path,
    db: k,
    // A full disk or a read-only file met by any store answers 503 + Retry-After (faults.ts).
    config: guardFaults(configStore, faults),
    progress: guardFaults(progressStore(k), faults),
    facts: guardFaults(facts, faults),
    health: guardFaults(health, faults),
    lifecycle: guardFaults(lifecycle, faults),
    alerts: guardFaults(alerts, faults),
    outcomes: guardFaults(outcomes, faults),
    timeline: guardFaults(timelineQuery(k, configStore), faults),
    status: guardFaults(statusService(k, configStore), faults),
    startEvaluator: (opts) => startEvaluator(k, { health, lifecycle, alerts }, opts),
    insert(rows) {
      if (closed) return Promise.reject(new Error('the event store is closed'));
      if (rows.length === 0) return Promise.resolve({ inserted: 0, duplicates: 0 });
      return new Promise<InsertResult>((resolve, reject) => {
        queue.push({ rows, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(() => void drain());
        }
      });
    },
    // Reads take the connection too: between two awaits of a group commit its rows are not committed yet.
    list({ writeKey, limit = 100, afterRowId = 0 }) {
      return k.exclusive(() => (listStmt.all(writeKey, afterRowId, Math.min(Math.max(limit, 1), 1000)) as Record<string, unknown>[]).map(storedRowOf));
    },
    memberships(q) {
      return k.exclusive(() => identity.memberships(q));
    },
    count({ writeKey }) {
      return k.exclusive(() => (countStmt.get(writeKey) as { n: number }).n);
    },
    /**
     * Throws a StorageFaultError while the store can't write: after a write failed, until a probe
     * write succeeds with room to spare; or when the disk has (almost) no free space left.
     */
    async ping() {
      db.prepare('SELECT 1').get();
      let free = Infinity;
      try {
        const s = statfsSync(dir);
        free = s.bavail * s.bsize;
      } catch {
        // no statfs: rely on the probe
      }
      if (free < MIN_FREE_BYTES) throw faults.classify(Object.assign(new Error('no free space'), { code: 'ENOSPC' }));
      if (!faults.current) return;
      // The probe write takes the connection: it must not land inside a group commit's transaction.
      await k.exclusive(() => {
        try {
          db.exec('CREATE TABLE IF NOT EXISTS keel_write_probe (id INTEGER PRIMARY KEY, at TEXT NOT NULL)');
          db.prepare('INSERT OR REPLACE INTO keel_write_probe (id, at) VALUES (1, ?)').run(new Date().toISOString());
        } catch (e) {
          throw faults.classify(e);
        }
      });
      faults.clear();
    },
    get fault() {
      return faults.current;
    },
    async close() {
      if (closed) return;
      closed = true;
      await drain();
      await checkpointer?.stop();
      await k.close(); // the last connection: SQLite checkpoints what is left and removes the WAL
    },
  };
}
