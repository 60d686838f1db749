/**
 * The schema, once, for both dialects: Kysely's migrator and schema builder. Where the dialects
 * differ (auto-increment keys, partitioned events on PostgreSQL, SQLite's WITHOUT ROWID) the
 * migration says so in place.
 *
 * Text columns on PostgreSQL use the "C" collation, so ordering and range comparisons (ISO times,
 * ids) are byte order, as on SQLite, whatever the database's locale.
 *
 * SQLite files created before the migrator (a `keel_migrations` table of versions 1–9) are adopted:
 * their versions are recorded as the migrations of the same number, so nothing runs twice.
 */
import { type ColumnDefinitionBuilder, type CreateTableBuilder, type Kysely, type Migration, Migrator, sql } from 'kysely';
import type { DialectName, KeelDb } from './db.js';

type Any = Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Col = (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder;

function kit(dialect: DialectName) {
  const pg = dialect === 'postgres';
  const collate: Col = (c) => (pg ? c.modifyFront(sql`COLLATE "C"`) : c);
  return {
    pg,
    /** A text column (byte-ordered on PostgreSQL). */
    text:
      (notNull = true): Col =>
      (c) =>
        notNull ? collate(c).notNull() : collate(c),
    /** An auto-increment integer primary key. */
    id: <T extends string>(t: CreateTableBuilder<T, never>, name = 'id') =>
      pg ? t.addColumn(name, 'bigserial', (c) => c.primaryKey()) : t.addColumn(name, 'integer', (c) => c.primaryKey().autoIncrement()),
  };
}

function migrations(dialect: DialectName): Record<string, Migration> {
  const { pg, text, id } = kit(dialect);
  return {
    '0001_events': {
      async up(db: Any) {
        let t: CreateTableBuilder<'events', any> = db.schema.createTable('events'); // eslint-disable-line @typescript-eslint/no-explicit-any
        // PostgreSQL: partitioned by receive time (the server's clock, so a row never lacks a
        // partition); a bigserial named rowid keeps SQLite's insertion-order tie-break. The
        // (write key, message id) uniqueness across partitions lives in event_ids (decision 0004).
        if (pg) t = t.addColumn('rowid', 'bigserial', (c) => c.notNull());
        t = t
          .addColumn('write_key', 'text', text())
          .addColumn('message_id', 'text', text())
          .addColumn('type', 'text', text())
          .addColumn('event', 'text', text(false))
          .addColumn('user_id', 'text', text(false))
          .addColumn('anonymous_id', 'text', text(false))
          .addColumn('group_id', 'text', text(false))
          .addColumn('timestamp', 'text', text())
          .addColumn('original_timestamp', 'text', text(false))
          .addColumn('sent_at', 'text', text(false))
          .addColumn('received_at', 'text', text())
          .addColumn('payload', 'text', text());
        if (pg) {
          await t.modifyEnd(sql`PARTITION BY RANGE (received_at)`).execute();
          // Rows a missing partition would refuse land here instead (upkeep creates partitions ahead).
          await sql`CREATE TABLE events_default PARTITION OF events DEFAULT`.execute(db);
          await db.schema
            .createTable('event_ids')
            .addColumn('write_key', 'text', text())
            .addColumn('message_id', 'text', text())
            .addColumn('received_at', 'text', text())
            .addPrimaryKeyConstraint('event_ids_pk', ['write_key', 'message_id'])
            .execute();
          await db.schema.createIndex('event_ids_received').on('event_ids').column('received_at').execute();
          await db.schema.createIndex('events_key_rowid').on('events').columns(['write_key', 'rowid']).execute();
        } else {
          await t.addPrimaryKeyConstraint('events_pk', ['write_key', 'message_id']).execute();
        }
      },
    },
    '0002_config_audit_progress': {
      async up(db: Any) {
        await id(db.schema.createTable('config_versions'), 'version')
          .addColumn('document', 'text', text())
          .addColumn('hash', 'text', text())
          .addColumn('published_at', 'text', text())
          .addColumn('published_by', 'text', text())
          .addColumn('summary', 'text', text())
          .execute();
        await id(db.schema.createTable('audit_log'))
          .addColumn('at', 'text', text())
          .addColumn('actor', 'text', text())
          .addColumn('action', 'text', text())
          .addColumn('detail', 'text', text())
          .execute();
        await db.schema
          .createTable('progress')
          .addColumn('tenant_id', 'text', text())
          .addColumn('scope', 'text', text())
          .addColumn('subject', 'text', text())
          .addColumn('kind', 'text', text())
          .addColumn('ref', 'text', text())
          .addColumn('state', 'text', text())
          .addColumn('updated_at', 'text', text())
          .addColumn('completed_at', 'text', text(false))
          .addColumn('data', 'text', text(false))
          .addPrimaryKeyConstraint('progress_pk', ['tenant_id', 'scope', 'subject', 'kind', 'ref'])
          .execute();
        await db.schema.createIndex('events_tenant_time').on('events').columns(['group_id', 'timestamp']).execute();
      },
    },
    '0003_config_drafts': {
      async up(db: Any) {
        await db.schema
          .createTable('config_drafts')
          .addColumn('id', 'text', (c) => text()(c).primaryKey())
          .addColumn('document', 'text', text())
          .addColumn('created_at', 'text', text())
          .addColumn('created_by', 'text', text())
          .addColumn('expires_at', 'text', text())
          .execute();
      },
    },
    '0004_health_snapshots': {
      async up(db: Any) {
        await db.schema
          .createTable('health_snapshots')
          .addColumn('tenant_id', 'text', text())
          .addColumn('day', 'text', text())
          .addColumn('score', pg ? 'double precision' : 'real', (c) => c.notNull())
          .addColumn('band', 'text', text())
          .addColumn('coverage', pg ? 'double precision' : 'real', (c) => c.notNull())
          .addColumn('components', 'text', text())
          .addColumn('computed_at', 'text', text())
          .addPrimaryKeyConstraint('health_snapshots_pk', ['tenant_id', 'day'])
          .execute();
      },
    },
    '0005_lifecycle_transitions': {
      async up(db: Any) {
        await id(db.schema.createTable('lifecycle_transitions'))
          .addColumn('tenant_id', 'text', text())
          .addColumn('from_state', 'text', text())
          .addColumn('to_state', 'text', text())
          .addColumn('at', 'text', text())
          .addColumn('config_version', 'integer', (c) => c.notNull())
          .addColumn('evidence', 'text', text())
          .execute();
        await db.schema.createIndex('lifecycle_tenant').on('lifecycle_transitions').columns(['tenant_id', 'id']).execute();
      },
    },
    '0006_alerts': {
      async up(db: Any) {
        await id(db.schema.createTable('alerts'))
          .addColumn('tenant_id', 'text', text())
          .addColumn('alert', 'text', text())
          .addColumn('fired_at', 'text', text())
          .addColumn('notify', 'text', text())
          .addColumn('detail', 'text', text())
          .execute();
        await db.schema.createIndex('alerts_tenant').on('alerts').columns(['tenant_id', 'alert', 'id']).execute();
      },
    },
    '0007_incidents': {
      async up(db: Any) {
        await db.schema
          .createTable('incidents')
          .addColumn('id', 'text', (c) => text()(c).primaryKey())
          .addColumn('doc', 'text', text())
          .addColumn('updated_at', 'text', text())
          .execute();
      },
    },
    // Every incident change, for the timelines of the tenants it affects (tenants '[]' = everyone).
    '0008_incident_updates': {
      async up(db: Any) {
        await id(db.schema.createTable('incident_updates'))
          .addColumn('incident_id', 'text', text())
          .addColumn('at', 'text', text())
          .addColumn('kind', 'text', text())
          .addColumn('doc', 'text', text())
          .addColumn('tenants', 'text', text())
          .execute();
        await db.schema.createIndex('incident_updates_at').on('incident_updates').column('at').execute();
        // Incidents stored before updates were: each becomes its own 'opened' update.
        const j = (path: string) => (pg ? sql`(doc::jsonb #>> ${sql.lit(`{${path}}`)})` : sql`json_extract(doc, ${sql.lit(`$.${path}`)})`);
        const tenants = pg ? sql`COALESCE(doc::jsonb -> 'tenants', '[]'::jsonb)::text` : sql`json_extract(doc, '$.tenants')`;
        await sql`INSERT INTO incident_updates (incident_id, at, kind, doc, tenants) SELECT id, ${j('startedAt')}, 'opened', doc, ${tenants} FROM incidents`.execute(
          db,
        );
      },
    },
    // Identity and tenant attribution, trust per event (identity.ts).
    '0009_identity': {
      async up(db: Any) {
        await db.schema
          .alterTable('events')
          .addColumn('trust', 'text', (c) => text()(c).defaultTo('unverified'))
          .execute();
        await db.schema
          .alterTable('events')
          .addColumn('attribution', 'text', (c) => text()(c).defaultTo('claim'))
          .execute();
        const pending = (col: 'user_id' | 'anonymous_id', name: string) =>
          db.schema
            .createIndex(name)
            .on('events')
            .columns([col, 'timestamp'])
            .where(sql.ref('attribution'), '=', 'identity')
            .where(sql.ref('group_id'), 'is', null)
            .execute();
        await pending('user_id', 'events_pending_user');
        await pending('anonymous_id', 'events_pending_anon');
        const noRowid = (t: CreateTableBuilder<string, never>) => (pg ? t : t.modifyEnd(sql`WITHOUT ROWID`));
        await noRowid(
          db.schema
            .createTable('identity_memberships')
            .addColumn('subject', 'text', text())
            .addColumn('tenant_id', 'text', text())
            .addColumn('at', 'text', text())
            .addColumn('verified', 'integer', (c) => c.notNull())
            .addPrimaryKeyConstraint('identity_memberships_pk', ['subject', 'at', 'tenant_id', 'verified']),
        ).execute();
        await noRowid(
          db.schema
            .createTable('identity_links')
            .addColumn('subject', 'text', text())
            .addColumn('user_id', 'text', text())
            .addColumn('at', 'text', text())
            .addColumn('verified', 'integer', (c) => c.notNull())
            .addPrimaryKeyConstraint('identity_links_pk', ['subject', 'user_id']),
        ).execute();
        await db.schema.createIndex('identity_links_user').on('identity_links').column('user_id').execute();
      },
    },
    // Background work that runs once across nodes (PostgreSQL: a row lock per job; SQLite: one process).
    '0010_jobs': {
      async up(db: Any) {
        await db.schema
          .createTable('keel_jobs')
          .addColumn('name', 'text', (c) => text()(c).primaryKey())
          .addColumn('last_run_at', 'text', text())
          .addColumn('last_node', 'text', text())
          .execute();
        await db.schema
          .createTable('keel_write_probe')
          .ifNotExists()
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('at', 'text', text())
          .execute();
      },
    },
    // One row per tenant and alert, its last firing: nodes claim a firing with one conditional
    // upsert on it (alerts.ts), so an alert is delivered once per cooldown however many evaluate.
    '0011_state_alert_cooldowns': {
      async up(db: Any) {
        await db.schema
          .createTable('alert_cooldowns')
          .addColumn('tenant_id', 'text', text())
          .addColumn('alert', 'text', text())
          .addColumn('fired_at', 'text', text())
          .addPrimaryKeyConstraint('alert_cooldowns_pk', ['tenant_id', 'alert'])
          .execute();
        await db
          .insertInto('alert_cooldowns')
          .columns(['tenant_id', 'alert', 'fired_at'])
          .expression(
            db
              .selectFrom('alerts')
              .select(['tenant_id', 'alert', db.fn.max('fired_at').as('fired_at')])
              .groupBy(['tenant_id', 'alert']),
          )
          .execute();
      },
    },
    // A job keeps its state (the evaluator's cursor) in its row, read and written under the row's
    // lock (jobs.ts); PostgreSQL reads events by rowid for that cursor (SQLite's rowid is the table's key).
    '0012_job_state': {
      async up(db: Any) {
        await db.schema.alterTable('keel_jobs').addColumn('state', 'text', text(false)).execute();
        if (pg) await db.schema.createIndex('events_rowid').on('events').column('rowid').execute();
      },
    },
    // Rows an older version stored before ingest held messages to its input limits (64 levels,
    // limits.ts) can be too deep for SQLite's JSON functions (1,000 levels): one such row made
    // every read of its tenant fail. They move, whole, to events_quarantine, out of every read
    // path, with the reason; an operator can inspect or delete them there. PostgreSQL stores
    // came after the limits, so there the table stays empty.
    '0013_events_quarantine': {
      async up(db: Any) {
        // Each step can run again: SQLite migrations are not one transaction (DDL in Kysely's
        // SQLite migrator isn't wrapped), so a crash part-way must leave a state a restart finishes.
        await db.schema
          .createTable('events_quarantine')
          .ifNotExists()
          .addColumn('write_key', 'text', text())
          .addColumn('message_id', 'text', text())
          .addColumn('group_id', 'text', text(false))
          .addColumn('received_at', 'text', text())
          .addColumn('payload', 'text', text())
          .addColumn('reason', 'text', text())
          .addColumn('quarantined_at', 'text', text())
          .execute();
        if (pg) return;
        // One scan of the payloads; json_valid is false exactly when json_extract would fail.
        await sql`DROP TABLE IF EXISTS unreadable`.execute(db);
        await sql`CREATE TEMP TABLE unreadable AS SELECT rowid AS r FROM events WHERE NOT json_valid(payload)`.execute(db);
        await sql`INSERT INTO events_quarantine (write_key, message_id, group_id, received_at, payload, reason, quarantined_at)
          SELECT write_key, message_id, group_id, received_at, payload, 'SQLite cannot read this payload as JSON (nested too deep, or malformed)', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
          FROM events WHERE rowid IN (SELECT r FROM unreadable)
          AND NOT EXISTS (SELECT 1 FROM events_quarantine q WHERE q.write_key = events.write_key AND q.message_id = events.message_id)`.execute(db);
        await sql`DELETE FROM events WHERE rowid IN (SELECT r FROM unreadable)`.execute(db);
        await sql`DROP TABLE unreadable`.execute(db);
      },
    },
  };
}

/** The number of migrations: tests and `keel` report it. */
export const MIGRATION_COUNT = Object.keys(migrations('sqlite')).length;

/** Records a pre-migrator SQLite file's versions as applied migrations (once). */
async function adoptLegacy(k: KeelDb, names: readonly string[]): Promise<void> {
  const h = k.sqlite;
  if (!h) return;
  const legacy = h.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'keel_migrations'").get();
  const adopted = h.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'").get();
  if (!legacy || adopted) return;
  const done = (h.prepare('SELECT MAX(version) AS v FROM keel_migrations').get() as { v: number | null }).v ?? 0;
  h.transaction(() => {
    // The same table Kysely's migrator creates (name, timestamp), filled with what already ran.
    h.exec('CREATE TABLE kysely_migration (name varchar(255) NOT NULL PRIMARY KEY, timestamp varchar(255) NOT NULL)');
    const ins = h.prepare('INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)');
    const at = new Date().toISOString();
    for (const n of names.slice(0, done)) ins.run(n, at);
  })();
}

/**
 * Brings the database to the latest schema. On PostgreSQL each migration runs in its own
 * transaction and the migrator takes a lock, so several nodes starting together migrate once. On
 * SQLite Kysely runs migrations outside a transaction (its adapter has no transactional DDL), so
 * a migration that moves data is written to be run again after a crash part-way.
 */
export async function migrateToLatest(k: KeelDb): Promise<void> {
  const all = migrations(k.dialect);
  await adoptLegacy(k, Object.keys(all));
  // The migrator's own tables live in Keel's schema: without naming it, Kysely takes another
  // schema's kysely_migration_lock (another Keel, a test run) for this one's and fails.
  const migrator = new Migrator({ db: k.db, provider: { getMigrations: async () => all }, ...(k.schema ? { migrationTableSchema: k.schema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? String(error)}`);
  }
}
