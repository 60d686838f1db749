/**
 * The repository layer's database handle: one Kysely instance over SQLite (embedded, the default)
 * or PostgreSQL (`--database-url`). Every store and service writes its queries once, with Kysely,
 * and runs on both; where the dialects differ (JSON paths, partitions, the hot insert path) the
 * difference lives in a helper here or in the dialect's own event store, never in two copies of a
 * query. See docs/decisions/0003-one-repository-two-dialects.md.
 */
import Database from 'better-sqlite3';
import { type Compilable, type CompiledQuery, type Generated, Kysely, PostgresDialect, type RawBuilder, sql, SqliteDialect } from 'kysely';
import pg from 'pg';

export type DialectName = 'sqlite' | 'postgres';

/** Every table, as Kysely sees it. Times are ISO-8601 text (UTC) on both dialects; flags are 0/1. */
export interface Schema {
  events: EventsTable;
  config_versions: { version: Generated<number>; document: string; hash: string; published_at: string; published_by: string; summary: string };
  audit_log: { id: Generated<number>; at: string; actor: string; action: string; detail: string };
  progress: {
    tenant_id: string;
    scope: string;
    subject: string;
    kind: string;
    ref: string;
    state: string;
    updated_at: string;
    completed_at: string | null;
    data: string | null;
  };
  config_drafts: { id: string; document: string; created_at: string; created_by: string; expires_at: string };
  health_snapshots: { tenant_id: string; day: string; score: number; band: string; coverage: number; components: string; computed_at: string };
  lifecycle_transitions: {
    id: Generated<number>;
    tenant_id: string;
    from_state: string;
    to_state: string;
    at: string;
    config_version: number;
    evidence: string;
  };
  alerts: { id: Generated<number>; tenant_id: string; alert: string; fired_at: string; notify: string; detail: string };
  /** The last time each alert fired for each tenant: the one row nodes race for (alerts.ts). */
  alert_cooldowns: { tenant_id: string; alert: string; fired_at: string };
  incidents: { id: string; doc: string; updated_at: string };
  incident_updates: { id: Generated<number>; incident_id: string; at: string; kind: string; doc: string; tenants: string };
  identity_memberships: { subject: string; tenant_id: string; at: string; verified: number };
  identity_links: { subject: string; user_id: string; at: string; verified: number };
  keel_write_probe: { id: number; at: string };
  /** PostgreSQL only: the de-duplication ledger that holds across the events' partitions (decision 0004). */
  event_ids: { write_key: string; message_id: string; received_at: string };
  /** Background jobs that run once across nodes (who ran what, when, and where the next run starts: jobs.ts). */
  keel_jobs: { name: string; last_run_at: string; last_node: string; state: string | null };
}

export interface EventsTable {
  /** SQLite's implicit rowid; on PostgreSQL a bigserial of the same name: the insertion order tie-break. */
  rowid: Generated<number>;
  write_key: string;
  message_id: string;
  type: string;
  event: string | null;
  user_id: string | null;
  anonymous_id: string | null;
  group_id: string | null;
  timestamp: string;
  original_timestamp: string | null;
  sent_at: string | null;
  received_at: string;
  payload: string;
  trust: Generated<string>;
  attribution: Generated<string>;
}

export type Kdb = Kysely<Schema>;

export interface KeelDb {
  readonly dialect: DialectName;
  readonly db: Kdb;
  /** Dialect-specific SQL fragments (see `dialectSql`). */
  readonly sql: DialectSql;
  /** SQLite: the raw handle (the events hot path, pragmas, backups). Undefined on PostgreSQL. */
  readonly sqlite?: Database.Database;
  /** PostgreSQL: the pool (COPY, advisory locks). Undefined on SQLite. */
  readonly pool?: pg.Pool;
  /** PostgreSQL: the schema every table lives in. */
  readonly schema?: string;
  /**
   * Runs `fn` while no Kysely query or transaction is using the connection. On SQLite the raw
   * handle and Kysely share one connection: raw synchronous writes (the events' group commit) must
   * not land inside a Kysely transaction that is waiting between two of its queries. On PostgreSQL
   * (a pool) it just runs `fn`.
   */
  exclusive<T>(fn: () => T | Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface DialectSql {
  /** The text at `path` (keys) of a JSON text column: `json_extract(payload, '$.a.b')` / `payload::jsonb #>> '{a,b}'`. */
  jsonText(column: string, ...path: string[]): RawBuilder<string | null>;
  /** The same value as a number (null when absent or not a number). */
  jsonNumber(column: string, ...path: string[]): RawBuilder<number | null>;
  /** Whole days between two ISO day/time texts, `a - b`. */
  dayDiff(a: RawBuilder<unknown> | string, b: RawBuilder<unknown> | string): RawBuilder<number>;
  /** Whether the JSON array of strings in a text column holds `value` (a predicate). */
  jsonArrayHas(column: string, value: string): RawBuilder<boolean>;
}

const SAFE_KEY = /^[A-Za-z0-9_$-]+$/;
function checkedPath(path: readonly string[]): readonly string[] {
  // Paths are ours (metric and fact definitions), never a request's: refuse anything else loudly.
  for (const k of path) if (!SAFE_KEY.test(k)) throw new Error(`unsafe JSON path key ${JSON.stringify(k)}`);
  return path;
}
const ref = (c: RawBuilder<unknown> | string) => (typeof c === 'string' ? sql.ref(c) : c);

export function dialectSql(dialect: DialectName): DialectSql {
  if (dialect === 'sqlite') {
    const p = (path: readonly string[]) => sql.lit(`$.${checkedPath(path).join('.')}`);
    return {
      jsonText: (c, ...path) => sql<string | null>`json_extract(${sql.ref(c)}, ${p(path)})`,
      jsonNumber: (c, ...path) =>
        sql<number | null>`(CASE WHEN json_type(${sql.ref(c)}, ${p(path)}) IN ('integer', 'real') THEN json_extract(${sql.ref(c)}, ${p(path)}) END)`,
      dayDiff: (a, b) => sql<number>`(julianday(${ref(a)}) - julianday(${ref(b)}))`,
      jsonArrayHas: (c, v) => sql<boolean>`EXISTS (SELECT 1 FROM json_each(${sql.ref(c)}) WHERE value = ${v})`,
    };
  }
  const p = (path: readonly string[]) => sql.lit(`{${checkedPath(path).join(',')}}`);
  // A NUL escaped in JSON text (\u0000) is valid JSON that PostgreSQL refuses to read as JSON, and
  // one such row would fail the whole query (every tenant's sweep): such text reads as no value.
  // (A literal backslash before "u0000" also matches: that row's JSON reads as null too, never an error.)
  const readable = (c: string) => sql`strpos(${sql.ref(c)}, ${sql.lit('\\u0000')}) = 0`;
  return {
    jsonText: (c, ...path) => sql<string | null>`(CASE WHEN ${readable(c)} THEN ${sql.ref(c)}::jsonb #>> ${p(path)} END)`,
    jsonNumber: (c, ...path) =>
      // Nested CASE, not AND: PostgreSQL does not promise to evaluate AND's operands in order.
      sql<
        number | null
      >`(CASE WHEN ${readable(c)} THEN (CASE WHEN jsonb_typeof(${sql.ref(c)}::jsonb #> ${p(path)}) = 'number' THEN (${sql.ref(c)}::jsonb #>> ${p(path)})::double precision END) END)`,
    dayDiff: (a, b) => sql<number>`(EXTRACT(EPOCH FROM (${ref(a)})::timestamptz - (${ref(b)})::timestamptz) / 86400.0)`,
    jsonArrayHas: (c, v) => sql<boolean>`(${sql.ref(c)}::jsonb @> jsonb_build_array(${v}::text))`,
  };
}

/** A promise chain: one holder at a time. */
function mutex() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => T | Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** Kysely over an open better-sqlite3 handle (the caller has set its pragmas). */
export function sqliteKeelDb(handle: Database.Database): KeelDb {
  // Kysely's SQLite driver prepares every statement on every call; the sweep runs the same few
  // queries for every tenant, so statements are kept by their SQL text (a bounded cache).
  const prepared = new Map<string, Database.Statement>();
  const database = {
    close: () => handle.close(),
    prepare(text: string) {
      let st = prepared.get(text);
      if (!st) {
        if (prepared.size >= 512) prepared.clear();
        st = handle.prepare(text);
        prepared.set(text, st);
      }
      return st;
    },
  };
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database }) });
  const serial = mutex();
  return {
    dialect: 'sqlite',
    db,
    sql: dialectSql('sqlite'),
    sqlite: handle,
    // Kysely's SQLite driver hands its one connection to one query or transaction at a time; holding
    // it (connection().execute) keeps Kysely out while `fn` uses the raw handle.
    exclusive: (fn) => serial(() => db.connection().execute(async () => fn())),
    async close() {
      await db.destroy(); // closes the better-sqlite3 handle too
    },
  };
}

export interface PostgresOptions {
  /** postgres://user@host:port/db */
  url: string;
  /** The schema every table lives in (created if missing); default `public`. */
  schema?: string;
  /** Pool size; default 10. */
  max?: number;
  /** How long a new connection may take before the attempt fails; default 5000 ms. */
  connectTimeoutMs?: number;
}

// int8 (COUNT, bigserial) and numeric (AVG, SUM) arrive as numbers, as they do from SQLite. Keel's
// counts stay far below 2^53.
const PG_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (v: string) => (v === null ? null : Number(v));
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

export async function postgresKeelDb(opts: PostgresOptions): Promise<KeelDb> {
  const schema = opts.schema ?? 'public';
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max ?? 10,
    types: PG_TYPES as pg.CustomTypesConfig,
    options: `-c search_path=${quoteIdent(schema)}`,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
  });
  // A client that loses its server (a restart, a dropped connection) must not crash the process:
  // idle, the pool hears it; checked out (Kysely between two queries of a transaction), the client
  // itself must have a listener. Its next query fails, and that failure is what callers see.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  if (schema !== 'public') await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  return {
    dialect: 'postgres',
    db,
    sql: dialectSql('postgres'),
    pool,
    schema,
    exclusive: async (fn) => fn(),
    async close() {
      await db.destroy(); // ends the pool
    },
  };
}

type Arg = string | readonly string[] | undefined;
const MARK = /^\u0000keel-arg-(\d+)-(-?\d+)\u0000$/;
/**
 * A query written once with Kysely, built and compiled once per dialect and shape (which arguments
 * are absent, how long each list is), then run with each call's arguments as its parameters: on
 * SQLite, building and compiling a query costs about as much as running a small one, and the sweep
 * runs a few per tenant. Every argument (a string, a list of strings, or undefined) must reach the
 * query as parameters, unchanged: `build` sees placeholders, never the values (a query that does
 * not pass one through is refused).
 */
export function reusable<A extends Arg[], R>(build: (k: KeelDb, ...args: A) => Compilable<R>) {
  const compiled = compiledOnce(build);
  return async (k: KeelDb, ...args: A): Promise<R[]> => (await k.db.executeQuery<R>(compiled(k, ...args))).rows;
}

/** `reusable`'s compiled query with this call's parameters, not run: for a caller that runs it its own way (db.ts `eachRow`). */
export function compiledOnce<A extends Arg[], R>(build: (k: KeelDb, ...args: A) => Compilable<R>) {
  const shapes = new Map<string, { c: CompiledQuery<R>; slots: ([number, number] | undefined)[] }>();
  return (k: KeelDb, ...args: A): CompiledQuery<R> => {
    const key = k.dialect + ':' + args.map((a) => (a === undefined ? 'u' : typeof a === 'string' ? 's' : a.length)).join(',');
    let s = shapes.get(key);
    if (!s) {
      const mark = (i: number, j: number) => `\u0000keel-arg-${i}-${j}\u0000`;
      const marks = args.map((a, i) => (a === undefined ? undefined : typeof a === 'string' ? mark(i, -1) : a.map((_, j) => mark(i, j)))) as A;
      const c = build(k, ...marks).compile();
      const slots = c.parameters.map((p) => {
        const m = typeof p === 'string' ? MARK.exec(p) : null;
        return m ? ([Number(m[1]), Number(m[2])] as [number, number]) : undefined;
      });
      const used = new Set(slots.filter((x) => x).map((x) => `${x![0]},${x![1]}`)).size;
      const expected = args.reduce((n, a) => n + (a === undefined ? 0 : typeof a === 'string' ? 1 : a.length), 0);
      if (used !== expected) throw new Error(`a reusable query must pass every argument as a parameter (${used} of ${expected} found): ${c.sql}`);
      s = { c, slots };
      if (shapes.size < 64) shapes.set(key, s);
    }
    const parameters = s.c.parameters.map((p, n) => {
      const at = s.slots[n];
      if (!at) return p;
      const a = args[at[0]]!;
      return at[1] < 0 ? a : (a as readonly string[])[at[1]];
    });
    return { ...s.c, parameters };
  };
}

const arrayStatements = new WeakMap<Database.Database, Map<string, Database.Statement>>();
/**
 * Runs a compiled select, handing `each` every row as an array of its columns in select order: for
 * the few reads of hundreds of thousands of rows (the sweep's metrics), where building an object
 * per row costs as much as reading it. SQLite steps the statement while Kysely is off the shared
 * connection (`exclusive`); PostgreSQL asks the pool for array rows.
 */
export async function eachRow(k: KeelDb, q: CompiledQuery, each: (row: unknown[]) => void): Promise<void> {
  const h = k.sqlite;
  if (!h) {
    const r = await k.pool!.query({ text: q.sql, values: q.parameters as unknown[], rowMode: 'array' });
    for (const row of r.rows as unknown[][]) each(row);
    return;
  }
  await k.exclusive(() => {
    let cache = arrayStatements.get(h);
    if (!cache) arrayStatements.set(h, (cache = new Map()));
    // Its own statement (not the one Kysely's cache shares): raw mode is a statement's setting.
    let st = cache.get(q.sql);
    if (!st) {
      if (cache.size >= 64) cache.clear();
      cache.set(q.sql, (st = h.prepare(q.sql).raw(true)));
    }
    for (const row of st.iterate(...(q.parameters as unknown[])) as IterableIterator<unknown[]>) each(row);
  });
}

export { Database, pg };
