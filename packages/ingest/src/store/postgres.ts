/**
 * The PostgreSQL event store, for several stateless `keel serve` nodes sharing one database.
 *
 * Group commit as on SQLite: the inserts of one event-loop turn share one transaction on one
 * pooled client, and each request is answered only after COMMIT. In that transaction: the
 * (write key, message id) pairs go into the `event_ids` ledger (ON CONFLICT DO NOTHING: what comes
 * back is new, across nodes and partitions), only the new rows go into `events` in one multi-row
 * insert, and the identity tables are read and written through the same attribution logic as
 * SQLite's (identity.ts). A rollback, or a connection lost before COMMIT answered, acknowledges
 * nothing; a retried batch finds its ids in the ledger.
 *
 * Nodes share the identity tables, so nothing is cached across commits. Each commit locks the
 * identity subjects it reads (shared) and changes (exclusive) with transaction-scoped advisory
 * locks, hashed into a fixed number of buckets: an event and the group call that decides its
 * tenant, arriving at two nodes at once, are attributed as if one came after the other.
 */
import type pg from 'pg';
import { timelineQuery } from '../health/timeline.js';
import { statusService, type StatusService } from '../health/status.js';
import { type FaultState, faultState, guardFaults, pgFaultCause, pgFaultCode, type StorageFaultError } from './faults.js';
import {
  type Attributed,
  type AttributedRow,
  identityCore,
  type IdentityIO,
  identitySubjectsOf,
  type Link,
  type Membership,
  needsIdentity,
  ownAttribution,
  subjectsOf,
} from './identity.js';
import { type KeelDb, postgresKeelDb } from './db.js';
import { migrateToLatest } from './migrations.js';
import { configStore as configStoreOf, factsStore, progressStore } from './state.js';
import type { ConfigStore, FactsStore, ProgressStore } from './state-types.js';
import { claimOf, columnValuesOf, type EventStore, type InsertResult, type StoredEvent, storedRowOf } from './types.js';

export interface PostgresEventStoreOptions {
  /** Tenant attribution through the identity tables (default true); `false` stores each message's own claim. */
  attribution?: boolean;
  /** Group commits a node runs at once (default 2): while one waits on the database, the next group is sent. */
  inFlight?: number;
  /** Called with each group commit's duration in seconds. */
  onCommit?: (seconds: number) => void;
  /** A commit whose queries take longer than this counts as the database unreachable (its connection is dropped); default 15 s. */
  commitTimeoutMs?: number;
  /** The fault state to report into, shared with the other stores of the same database (`openPostgresStore`). */
  faults?: FaultState;
}

export interface PostgresEventStore extends EventStore {
  /** The database fault the store is in (unreachable, out of room), if any. */
  readonly fault: StorageFaultError | undefined;
  memberships: NonNullable<EventStore['memberships']>;
}

interface Pending {
  rows: readonly StoredEvent[];
  resolve(r: InsertResult): void;
  reject(e: unknown): void;
}

/** Advisory lock buckets: bounded, so a commit of thousands of users takes at most this many locks (PostgreSQL's lock table is shared and small). */
const LOCK_BUCKETS = 128;
/** The advisory lock class (the first key of the two-key form) that Keel's identity locks use. */
const LOCK_CLASS = 0x4b65656c; // 'Keel'
/** Transient conflicts (the transaction rolled back): the commit is run again this many times before it is refused. */
const CONFLICT_RETRIES = 3;

const COLUMNS =
  'write_key, message_id, type, event, user_id, anonymous_id, group_id, timestamp, original_timestamp, sent_at, received_at, payload, trust, attribution';
const INSERT_IDS = {
  name: 'keel_event_ids_insert',
  text: 'INSERT INTO event_ids (write_key, message_id, received_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING RETURNING write_key, message_id',
};
const UNNEST_ROWS = `unnest(${Array.from({ length: 14 }, (_, i) => `$${i + 1}::text[]`).join(', ')})`;
const INSERT_EVENTS = {
  name: 'keel_events_insert',
  text: `INSERT INTO events (${COLUMNS}) SELECT * FROM ${UNNEST_ROWS}`,
};
/**
 * A group none of whose rows needs the identity tables, in one statement (atomic on its own: no
 * BEGIN, no COMMIT, one round trip): the ledger takes the ids in the transaction's order (`rank`:
 * their place in the sorted ids, so the two paths lock ledger rows in one order) and returns the new ones; only those rows go into `events`, in arrival order.
 */
const INSERT_NEW = {
  name: 'keel_events_insert_new',
  text: `WITH v AS (SELECT * FROM ${UNNEST_ROWS.slice(0, -1)}, $15::int[]) WITH ORDINALITY AS v(${COLUMNS}, rank, ord)),
  new AS (
    INSERT INTO event_ids (write_key, message_id, received_at) SELECT write_key, message_id, received_at FROM v ORDER BY rank
    ON CONFLICT DO NOTHING RETURNING write_key, message_id
  ),
  ins AS (INSERT INTO events (${COLUMNS}) SELECT ${COLUMNS.split(', ')
    .map((c) => `v.${c}`)
    .join(', ')} FROM v JOIN new USING (write_key, message_id) ORDER BY v.ord)
  SELECT write_key, message_id FROM new`,
};
// Buckets are locked in key order (the ordered subquery drives the lateral call), so two commits never wait on each other in a cycle.
const LOCK_SUBJECTS = `SELECT count(*) FROM (
    SELECT abs(hashtextextended(s, 0) % ${LOCK_BUCKETS})::int AS k, bool_or(x) AS x FROM unnest($1::text[], $2::bool[]) AS t(s, x) GROUP BY 1 ORDER BY 1
  ) l, LATERAL (SELECT CASE WHEN l.x THEN (SELECT 1 FROM pg_advisory_xact_lock(${LOCK_CLASS}, l.k)) ELSE (SELECT 1 FROM pg_advisory_xact_lock_shared(${LOCK_CLASS}, l.k)) END) z`;

type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * PostgreSQL's identity I/O on one client (a commit's transaction, or the pool for reads). Rows
 * met by reattribution remember their partition key, so setting a tenant is an index lookup in one
 * partition, not a scan of all of them.
 */
export function postgresIdentityIO(raw: Queryable): IdentityIO & { flushWrites(): Promise<void> } {
  // Every read first writes the tenants reattribution has set so far: it must see them.
  const c: Queryable = {
    query: (async (text: string, values?: unknown[]) => {
      await flushWrites();
      return raw.query(text, values);
    }) as Queryable['query'],
  };
  const where = new Map<number, { writeKey: string; receivedAt: string }>();
  const cols =
    'rowid AS id, user_id AS "userId", anonymous_id AS "anonymousId", timestamp, trust, group_id AS "groupId", write_key AS "writeKey", received_at AS "receivedAt"';
  const rows = async (text: string, values: unknown[]) => {
    const r = await c.query<AttributedRow & { writeKey: string; receivedAt: string }>(text, values);
    return r.rows.map(({ writeKey, receivedAt, ...row }) => {
      where.set(row.id, { writeKey, receivedAt });
      return row;
    });
  };
  const updates = new Map<number, string | null>();
  async function flushWrites(): Promise<void> {
    if (updates.size === 0) return;
    const ids = [...updates.keys()];
    const tenants = ids.map((id) => updates.get(id)!);
    updates.clear();
    // Every id here was read by this IO, so its partition key is known: an index lookup per row.
    await raw.query(
      `UPDATE events e SET group_id = v.g FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS v(id, g, wk, ra)
        WHERE e.write_key = v.wk AND e.received_at = v.ra AND e.rowid = v.id`,
      [ids, tenants, ids.map((id) => where.get(id)!.writeKey), ids.map((id) => where.get(id)!.receivedAt)],
    );
  }
  const bySubject = <T>(subjects: readonly string[], list: (T & { subject: string })[], strip: (r: T & { subject: string }) => T) => {
    const out = new Map<string, T[]>(subjects.map((s) => [s, []]));
    for (const r of list) out.get(r.subject)?.push(strip(r));
    return out;
  };
  return {
    async membersOf(subjects) {
      if (subjects.length === 0) return new Map();
      const r = await c.query<{ subject: string; tenant: string; at: string; verified: number }>(
        'SELECT subject, tenant_id AS tenant, at, verified FROM identity_memberships WHERE subject = ANY($1::text[]) ORDER BY subject, at, tenant_id, verified',
        [subjects],
      );
      return bySubject<Membership>(
        subjects,
        r.rows.map((m) => ({ ...m, verified: m.verified === 1 })),
        ({ tenant, at, verified }) => ({ tenant, at, verified }),
      );
    },
    async linksOf(subjects) {
      if (subjects.length === 0) return new Map();
      const r = await c.query<{ subject: string; user: string; verified: number }>(
        'SELECT subject, user_id AS user, verified FROM identity_links WHERE subject = ANY($1::text[]) ORDER BY subject, user_id',
        [subjects],
      );
      return bySubject<Link>(
        subjects,
        r.rows.map((l) => ({ ...l, verified: l.verified === 1 })),
        ({ user, verified }) => ({ user, verified }),
      );
    },
    async aliasesOf(userId) {
      return (await c.query<{ subject: string }>('SELECT subject FROM identity_links WHERE user_id = $1', [userId])).rows.map((r) => r.subject);
    },
    async addMember(s, tenant, at, verified) {
      const r = await c.query('INSERT INTO identity_memberships (subject, tenant_id, at, verified) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
        s,
        tenant,
        at,
        verified ? 1 : 0,
      ]);
      return (r.rowCount ?? 0) > 0;
    },
    async addLink(s, userId, at, verified) {
      const r = await c.query('INSERT INTO identity_links (subject, user_id, at, verified) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
        s,
        userId,
        at,
        verified ? 1 : 0,
      ]);
      return (r.rowCount ?? 0) > 0;
    },
    async upgradeLink(s, userId) {
      const r = await c.query('UPDATE identity_links SET verified = 1 WHERE subject = $1 AND user_id = $2 AND verified = 0', [s, userId]);
      return (r.rowCount ?? 0) > 0;
    },
    pendingUser: (userId, since) =>
      rows(`SELECT ${cols} FROM events WHERE attribution = 'identity' AND group_id IS NULL AND user_id = $1 AND timestamp >= $2`, [userId, since]),
    pendingAnon: (anonymousId, since) =>
      rows(`SELECT ${cols} FROM events WHERE attribution = 'identity' AND group_id IS NULL AND anonymous_id = $1 AND timestamp >= $2`, [anonymousId, since]),
    ofTenant: (tenant, from) => rows(`SELECT ${cols} FROM events WHERE group_id = $1 AND timestamp >= $2 AND attribution = 'identity'`, [tenant, from]),
    // Tenants set by reattribution are written in one statement: before the next read (which must
    // see them) and when the commit is done with identity (`flushWrites`).
    setTenant(id, groupId) {
      updates.set(id, groupId);
    },
    flushWrites,
  };
}

/** Where the database is, for logs and errors: host, port and database, never the password. */
export function locationOf(pool: pg.Pool): string {
  const o = pool.options as pg.PoolConfig;
  try {
    if (o.connectionString) {
      const u = new URL(o.connectionString);
      return `postgres://${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
    }
  } catch {
    // not a URL: fall back to the parts
  }
  return `postgres://${o.host ?? 'localhost'}:${o.port ?? 5432}/${o.database ?? ''}`;
}

// PostgreSQL's text holds no NUL character (SQLite's does) and its jsonb no \u0000 escape: both
// become U+FFFD, so a message carrying one is stored (and its payload stays queryable), not refused with a 500.
const NUL = /\u0000/g;
const JSON_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;
const clean = <T extends string | null>(v: T): T => (v !== null && v.includes('\u0000') ? (v.replace(NUL, '\uFFFD') as T) : v);
function pgSafe(r: StoredEvent): StoredEvent {
  const text = [r.writeKey, r.messageId, r.type, r.event, r.userId, r.anonymousId, r.groupId, r.timestamp, r.originalTimestamp, r.sentAt, r.receivedAt];
  if (!text.some((v) => v?.includes('\u0000')) && !r.payload.includes('\\u0000') && !r.payload.includes('\u0000')) return r;
  return {
    ...r,
    writeKey: clean(r.writeKey),
    messageId: clean(r.messageId),
    type: clean(r.type),
    event: clean(r.event),
    userId: clean(r.userId),
    anonymousId: clean(r.anonymousId),
    groupId: clean(r.groupId),
    timestamp: clean(r.timestamp),
    originalTimestamp: clean(r.originalTimestamp),
    sentAt: clean(r.sentAt),
    receivedAt: clean(r.receivedAt),
    payload: clean(r.payload).replace(JSON_NUL, '$1\\ufffd'),
  };
}

const keyOf = (r: StoredEvent) => `${r.writeKey}\u0000${r.messageId}`;
const byKey = (x: StoredEvent, y: StoredEvent) =>
  x.writeKey < y.writeKey ? -1 : x.writeKey > y.writeKey ? 1 : x.messageId < y.messageId ? -1 : x.messageId > y.messageId ? 1 : 0;
/**
 * A `text[]` parameter in PostgreSQL's binary array format (what `array_recv` reads): node-postgres
 * sends a Buffer parameter as binary, as is. Its text form (`{"…","…"}`) escapes every quote and
 * backslash of every value, and a JSON payload is mostly quotes: measured on the ingest bench,
 * that escaping and the long concatenated string it builds were a sixth of a node's CPU. Here each
 * value is its length and its UTF-8 bytes, written once into one buffer.
 */
export function binaryTextArray(values: readonly (string | null)[]): Buffer {
  // Worst case: 3 UTF-8 bytes per UTF-16 unit (a surrogate pair is 2 units for 4 bytes).
  let room = 20;
  for (const v of values) room += 4 + (v === null ? 0 : v.length * 3);
  const b = Buffer.allocUnsafe(room);
  b.writeInt32BE(1, 0); // one dimension
  b.writeInt32BE(values.includes(null) ? 1 : 0, 4); // has nulls
  b.writeInt32BE(TEXT_OID, 8);
  b.writeInt32BE(values.length, 12);
  b.writeInt32BE(1, 16); // lower bound
  let o = 20;
  for (const v of values) {
    if (v === null) {
      b.writeInt32BE(-1, o);
      o += 4;
      continue;
    }
    const n = b.write(v, o + 4, 'utf8');
    b.writeInt32BE(n, o);
    o += 4 + n;
  }
  return b.subarray(0, o);
}
/** An `int4[]` parameter in binary, as `binaryTextArray`. */
export function binaryIntArray(values: readonly number[]): Buffer {
  const b = Buffer.allocUnsafe(20 + 8 * values.length);
  b.writeInt32BE(1, 0);
  b.writeInt32BE(0, 4);
  b.writeInt32BE(INT4_OID, 8);
  b.writeInt32BE(values.length, 12);
  b.writeInt32BE(1, 16);
  let o = 20;
  for (const v of values) {
    b.writeInt32BE(4, o);
    b.writeInt32BE(v, o + 4);
    o += 8;
  }
  return b;
}
const TEXT_OID = 25;
const INT4_OID = 23;

/** The 14 column arrays of `COLUMNS` for these rows, attributed by `at` (called once per row, in order), as binary `text[]` parameters. */
function columnsOf(rows: Iterable<StoredEvent>, at: (r: StoredEvent) => Attributed): Buffer[] {
  const cols: (string | null)[][] = Array.from({ length: 14 }, () => []);
  for (const r of rows) {
    const v = columnValuesOf(r, at(r));
    for (let c = 0; c < 14; c++) cols[c]!.push(v[c]!);
  }
  return cols.map(binaryTextArray);
}

export function openPostgresEventStore(k: KeelDb, options: PostgresEventStoreOptions = {}): PostgresEventStore {
  const pool = k.pool;
  if (k.dialect !== 'postgres' || !pool) throw new Error('openPostgresEventStore needs a PostgreSQL KeelDb');
  const attributing = options.attribution ?? true;
  const commitTimeoutMs = options.commitTimeoutMs ?? 15_000;
  const faults = options.faults ?? faultState(locationOf(pool), pgFaultCause, pgFaultCode);

  let queue: Pending[] = [];
  let scheduled = false;
  const running = new Set<Promise<void>>();
  const maxInFlight = Math.max(1, options.inFlight ?? 2);
  let closed = false;

  /**
   * One attempt: the whole group in one transaction on one client. A database that stops
   * answering (a network partition) must not hold the requests forever: past `commitTimeoutMs`
   * the attempt fails and its connection is dropped, whatever the query in flight is doing.
   */
  function commitOnce(pending: readonly Pending[]): Promise<InsertResult[]> {
    let timer: NodeJS.Timeout | undefined;
    let expired: (() => void) | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired?.();
        reject(Object.assign(new Error(`the database did not answer within ${commitTimeoutMs} ms`), { code: 'KEEL_DB_TIMEOUT' }));
      }, commitTimeoutMs);
    });
    const work = transaction(pending, (onExpiry) => (expired = onExpiry));
    work.catch(() => undefined); // after a timeout, its own failure is no one's answer
    return Promise.race([work, timedOut]).finally(() => clearTimeout(timer));
  }

  async function transaction(pending: readonly Pending[], onExpiry: (drop: () => void) => void): Promise<InsertResult[]> {
    let dropped = false;
    onExpiry(() => (dropped = true));
    const client = await pool!.connect();
    // A connection lost between two queries is reported as an 'error' event (the pool listens only
    // while the client is idle): noted, so it can't crash the process; the next query then fails.
    const onError = () => undefined;
    client.on('error', onError);
    let released = false;
    const release = (err?: Error) => {
      if (released) return;
      released = true;
      client.removeListener('error', onError);
      client.release(err); // with an error, the client is closed instead of going back to the pool
    };
    if (dropped) {
      release(new Error('the database did not answer in time'));
      throw new Error('the database did not answer in time');
    }
    onExpiry(() => release(new Error('the database did not answer in time')));
    try {
      // The ledger decides what is new: one row per (write key, message id), the first of a group
      // where a batch repeats one. Sorted, so two commits insert overlapping ids in the same order.
      const first = new Map<string, StoredEvent>();
      for (const p of pending) for (const r of p.rows) if (!first.has(keyOf(r))) first.set(keyOf(r), r);
      const ids = [...first.values()].sort(byKey);
      const counted = (fresh: Set<string>) => {
        const counts = pending.map(() => 0);
        const rows: StoredEvent[] = [];
        pending.forEach((p, i) => {
          for (const r of p.rows) {
            if (!fresh.delete(keyOf(r))) continue; // stored before, or earlier in this group
            rows.push(r);
            counts[i]!++;
          }
        });
        return { rows, results: pending.map((p, i) => ({ inserted: counts[i]!, duplicates: p.rows.length - counts[i]! })) };
      };
      const freshOf = (created: { write_key: string; message_id: string }[]) => new Set(created.map((r) => `${r.write_key}\u0000${r.message_id}`));
      if (!attributing || !ids.some(needsIdentity)) {
        // Every row decides its own tenant: no identity reads, no locks, one statement.
        const rank = new Map(ids.map((r, i) => [r, i]));
        const cols = columnsOf(first.values(), (r) => (attributing ? ownAttribution(r)! : claimOf(r)));
        cols.push(binaryIntArray([...first.values()].map((r) => rank.get(r)!)));
        return counted(freshOf((await client.query<{ write_key: string; message_id: string }>({ ...INSERT_NEW, values: cols })).rows)).results;
      }
      await client.query('BEGIN');
      const created = await client.query<{ write_key: string; message_id: string }>({
        ...INSERT_IDS,
        values: [ids.map((r) => r.writeKey), ids.map((r) => r.messageId), ids.map((r) => r.receivedAt)],
      });
      const { rows, results } = counted(freshOf(created.rows));
      if (rows.length) {
        const io = postgresIdentityIO(client);
        const identity = identityCore(io, { defer: true, cacheSize: Infinity });
        // Only the subjects of rows that read or write the identity tables are locked and loaded.
        const subjects = new Map<string, boolean>();
        for (const r of rows) {
          if (!needsIdentity(r)) continue;
          for (const s of subjectsOf(r.userId, r.anonymousId)) if (!subjects.has(s)) subjects.set(s, false);
          for (const s of identitySubjectsOf(r)) subjects.set(s, true);
        }
        if (subjects.size) {
          await client.query(LOCK_SUBJECTS, [[...subjects.keys()], [...subjects.values()]]);
          await identity.prefetch(subjects.keys());
        }
        const attributed: Attributed[] = [];
        for (const r of rows) {
          // In order: a group call earlier in the group decides the tenant of the events after it.
          const at = await identity.attribute(r);
          if (r.type === 'group' || r.type === 'alias' || r.type === 'identify') await identity.learn(r, at);
          attributed.push(at);
        }
        let i = 0;
        await client.query({ ...INSERT_EVENTS, values: columnsOf(rows, () => attributed[i++]!) });
        // Reattribution after the insert: it sees this group's rows as well as the stored ones.
        await identity.flush();
        await io.flushWrites();
      }
      await client.query('COMMIT');
      return results;
    } catch (e) {
      // A client goes back to the pool only after a clean ROLLBACK; one whose connection failed is closed.
      const clean =
        !released &&
        (await client.query('ROLLBACK').then(
          () => true,
          () => false,
        ));
      release(clean ? undefined : (e as Error));
      throw e;
    } finally {
      release();
    }
  }

  async function commit(pending: readonly Pending[]): Promise<InsertResult[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await commitOnce(pending);
      } catch (e) {
        const { code, table } = e as { code?: string; table?: string };
        // A deadlock or serialization failure rolled the transaction back: run it again. So did a
        // row routed to the default partition while upkeep attached the partition of its month
        // (partitions.ts): run again, the row now routes to the new partition.
        const rerun = code === '40P01' || code === '40001' || (code === '23514' && table === 'events_default');
        if (rerun && attempt < CONFLICT_RETRIES) continue;
        throw e;
      }
    }
  }

  async function settle(pending: Pending[]): Promise<void> {
    try {
      const started = performance.now();
      const results = await commit(pending);
      options.onCommit?.((performance.now() - started) / 1000);
      faults.clear();
      pending.forEach((p, i) => p.resolve(results[i]!));
    } catch (e) {
      const err = faults.classify(e);
      for (const p of pending) p.reject(err);
    }
  }

  // Up to `inFlight` commits at once per node, each on its own pooled client: what arrives while
  // they run waits, and goes in the next group. Commits in flight together are ordered by the
  // database as two nodes' are (the ledger's primary key, the identity locks).
  function drain(): void {
    scheduled = false;
    if (running.size >= maxInFlight || queue.length === 0) return;
    const pending = queue;
    queue = [];
    const done: Promise<void> = settle(pending).finally(() => {
      running.delete(done);
      if (queue.length) schedule();
    });
    running.add(done);
  }
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(drain);
  }

  // Reads answer a lost database the way writes do: 503 and Retry-After, not a 500.
  const guarded = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw faults.classify(e);
    }
  };

  return {
    kind: 'postgres',
    insert(rows) {
      if (closed) return Promise.reject(new Error('the event store is closed'));
      if (rows.length === 0) return Promise.resolve({ inserted: 0, duplicates: 0 });
      return new Promise<InsertResult>((resolve, reject) => {
        queue.push({ rows: rows.map(pgSafe), resolve, reject });
        if (running.size < maxInFlight) schedule();
      });
    },
    list({ writeKey, limit = 100, afterRowId = 0 }) {
      return guarded(async () =>
        (
          await pool.query(`SELECT rowid AS "rowId", * FROM events WHERE write_key = $1 AND rowid > $2 ORDER BY rowid LIMIT $3`, [
            writeKey,
            afterRowId,
            Math.min(Math.max(limit, 1), 1000),
          ])
        ).rows.map(storedRowOf),
      );
    },
    count({ writeKey }) {
      return guarded(async () => (await pool.query<{ n: number }>('SELECT COUNT(*) AS n FROM events WHERE write_key = $1', [writeKey])).rows[0]!.n);
    },
    memberships(q) {
      // No cache: another node may have learned a membership since.
      return guarded(() => identityCore(postgresIdentityIO(pool)).memberships(q));
    },
    /**
     * Throws a StorageFaultError while the database can't be reached, or, after a write failed for
     * a reason a retry cures (out of room), until a probe write succeeds.
     */
    async ping() {
      await guarded(() => pool.query('SELECT 1'));
      if (!faults.current) return;
      if (faults.current.reason !== 'database unavailable') {
        await guarded(() =>
          pool.query('INSERT INTO keel_write_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at', [new Date().toISOString()]),
        );
      }
      faults.clear();
    },
    get fault() {
      return faults.current;
    },
    async close() {
      if (closed) return;
      closed = true;
      while (running.size || queue.length) {
        if (running.size) await Promise.race(running);
        else drain();
      }
      await k.close();
    },
  };
}

export interface PostgresStoreOptions extends Omit<PostgresEventStoreOptions, 'faults'> {
  /** The schema every table lives in (created if missing); default `public`. */
  schema?: string;
  /** Pool size per node; default 10. */
  max?: number;
  connectTimeoutMs?: number;
}

/**
 * Everything of Keel on PostgreSQL that is written once for both dialects, over one migrated
 * database: the event store and the Kysely stores. A lost database met by any of them answers
 * 503 + Retry-After (one fault state). Health, lifecycle and alerts (which need a HealthService,
 * composed on the same KeelDb) are added by open.ts.
 */
export interface PostgresRepository extends PostgresEventStore {
  readonly db: KeelDb;
  /** The one fault state of this database: the services composed on top (open.ts) report into it too. */
  readonly faults: FaultState;
  readonly config: ConfigStore;
  readonly progress: ProgressStore;
  readonly facts: FactsStore;
  timeline: ReturnType<typeof timelineQuery>;
  readonly status: StatusService;
}

/** The base of open.ts's `openPostgresStore` (which adds health, lifecycle, alerts, the evaluator and upkeep). */
export async function openPostgresRepository(url: string, options: PostgresStoreOptions = {}): Promise<PostgresRepository> {
  const { schema, max, connectTimeoutMs, ...eventOptions } = options;
  let k: KeelDb | undefined;
  try {
    k = await postgresKeelDb({ url, schema, max, connectTimeoutMs });
    await migrateToLatest(k); // the migrator's lock: nodes starting together migrate once
  } catch (e) {
    await k?.close().catch(() => undefined);
    const cause = pgFaultCause(e) ?? pgFaultCause((e as { cause?: unknown }).cause);
    const where = (() => {
      try {
        const u = new URL(url);
        return `postgres://${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
      } catch {
        return 'the PostgreSQL database';
      }
    })();
    throw new Error(
      `cannot open the database ${where}${schema ? ` (schema ${schema})` : ''}: ${cause ? `${cause} (${pgFaultCode(e)})` : (e as Error).message}`,
    );
  }
  const faults = faultState(locationOf(k.pool!), pgFaultCause, pgFaultCode);
  const events = openPostgresEventStore(k, { ...eventOptions, faults });
  const config = configStoreOf(k);
  return {
    kind: 'postgres',
    insert: (rows) => events.insert(rows),
    list: (q) => events.list(q),
    count: (q) => events.count(q),
    memberships: (q) => events.memberships(q),
    ping: () => events.ping(),
    close: () => events.close(), // closes the pool too
    get fault() {
      return events.fault;
    },
    db: k,
    faults,
    config: guardFaults(config, faults),
    progress: guardFaults(progressStore(k), faults),
    facts: guardFaults(factsStore(k), faults),
    timeline: guardFaults(timelineQuery(k, config), faults),
    status: guardFaults(statusService(k, config), faults),
  };
}
