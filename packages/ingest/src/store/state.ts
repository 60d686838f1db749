/**
 * The state stores, once for both dialects (Kysely over a KeelDb): published config versions with
 * their drafts and audit log, checklist progress, and the facts the server computes per tenant
 * from its verified events. Several nodes may share one PostgreSQL database: every write that
 * reads before it writes is made safe against another node doing the same at the same time.
 */
import { type ExpressionBuilder, sql } from 'kysely';
import { type KeelDb, reusable, type Schema } from './db.js';
import {
  type AuditEntry,
  type ConfigDraft,
  type ConfigStore,
  type ConfigVersion,
  type FactsStore,
  mergeProgress,
  type ProgressEntry,
  type ProgressStore,
  type TenantFacts,
} from './state-types.js';

export function configStore(k: KeelDb): ConfigStore {
  const { db } = k;
  // Versions are immutable: the latest is re-read only when a newer one exists (any process or node may publish).
  let last: ConfigVersion | undefined;
  return {
    async latest() {
      const { v } = await db
        .selectFrom('config_versions')
        .select((eb) => eb.fn.max('version').as('v'))
        .executeTakeFirstOrThrow();
      if (v === null || v === undefined) return undefined;
      if (last?.version !== Number(v)) {
        last = await db
          .selectFrom('config_versions')
          .select(['version', 'document', 'hash', 'published_at as publishedAt', 'published_by as publishedBy', 'summary'])
          .orderBy('version', 'desc')
          .limit(1)
          .executeTakeFirst();
      }
      return last;
    },
    async saveDraft(d) {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('config_drafts').where('expires_at', '<=', new Date().toISOString()).execute();
        await trx
          .insertInto('config_drafts')
          .values({ id: d.id, document: d.document, created_at: d.createdAt, created_by: d.createdBy, expires_at: d.expiresAt })
          .execute();
        await trx
          .insertInto('audit_log')
          .values({ at: d.createdAt, actor: d.createdBy, action: 'config.draft_saved', detail: `draft ${d.id.slice(0, 8)}… for preview until ${d.expiresAt}` })
          .execute();
      });
    },
    async draft(id, now = Date.now()) {
      return db
        .selectFrom('config_drafts')
        .select(['id', 'document', 'created_at as createdAt', 'created_by as createdBy', 'expires_at as expiresAt'])
        .where('id', '=', id)
        .where('expires_at', '>', new Date(now).toISOString())
        .executeTakeFirst() as Promise<ConfigDraft | undefined>;
    },
    /**
     * The version is the one this insert was given (RETURNING): on PostgreSQL two nodes publishing
     * at once get distinct bigserial values, and each audit entry names its own.
     */
    async publish(v) {
      return db.transaction().execute(async (trx) => {
        const { version } = await trx
          .insertInto('config_versions')
          .values({ document: v.document, hash: v.hash, published_at: v.publishedAt, published_by: v.publishedBy, summary: v.summary })
          .returning('version')
          .executeTakeFirstOrThrow();
        await trx
          .insertInto('audit_log')
          .values({ at: v.publishedAt, actor: v.publishedBy, action: 'config.published', detail: `version ${version}: ${v.summary}` })
          .execute();
        return { version: Number(version), ...v };
      });
    },
    async versions(limit = 50) {
      return db
        .selectFrom('config_versions')
        .select(['version', 'hash', 'published_at as publishedAt', 'published_by as publishedBy', 'summary'])
        .orderBy('version', 'desc')
        .limit(limit)
        .execute();
    },
    async audit(limit = 100) {
      return db.selectFrom('audit_log').select(['id', 'at', 'actor', 'action', 'detail']).orderBy('id', 'desc').limit(limit).execute() as Promise<AuditEntry[]>;
    },
  };
}

type Row = Schema['progress'];
const toEntry = (r: Row): ProgressEntry => ({
  scope: r.scope as ProgressEntry['scope'],
  kind: r.kind as ProgressEntry['kind'],
  ref: r.ref,
  state: r.state as ProgressEntry['state'],
  updatedAt: r.updated_at,
  completedAt: r.completed_at,
  data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : null,
});

export function progressStore(k: KeelDb): ProgressStore {
  const { db } = k;
  // Tenant-wide entries are stored with subject '' so every user of the tenant shares them.
  const get = (tenantId: string, userId: string) =>
    db
      .selectFrom('progress')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where((eb) => eb.or([eb.and([eb('subject', '=', userId), eb('scope', '=', 'user')]), eb.and([eb('subject', '=', ''), eb('scope', '=', 'tenant')])]))
      .orderBy('scope')
      .orderBy('kind')
      .orderBy('ref')
      .execute();
  return {
    async get(tenantId, userId) {
      return (await get(tenantId, userId)).map(toEntry);
    },
    /**
     * Per entry: a first observation is inserted as it is (ON CONFLICT DO NOTHING: a concurrent
     * first insert on another node waits for this one, then finds it); otherwise the stored entry
     * is read locked (FOR UPDATE on PostgreSQL; SQLite holds the write lock after the insert) and
     * merged, so two nodes merging at once never lose a step of the monotonic merge.
     */
    async merge(tenantId, userId, entries) {
      await db.transaction().execute(async (trx) => {
        for (const e of entries) {
          const subject = e.scope === 'tenant' ? '' : userId;
          const key = { tenant_id: tenantId, scope: e.scope, subject, kind: e.kind, ref: e.ref };
          const row = (m: ProgressEntry) => ({
            state: m.state,
            updated_at: m.updatedAt,
            completed_at: m.completedAt ?? null,
            data: m.data ? JSON.stringify(m.data) : null,
          });
          const fresh = await trx
            .insertInto('progress')
            .values({ ...key, ...row(mergeProgress(undefined, e)) })
            .onConflict((c) => c.columns(['tenant_id', 'scope', 'subject', 'kind', 'ref']).doNothing())
            .returning('ref')
            .executeTakeFirst();
          if (fresh) continue;
          const old = await trx
            .selectFrom('progress')
            .selectAll()
            .where('tenant_id', '=', tenantId)
            .where('scope', '=', e.scope)
            .where('subject', '=', subject)
            .where('kind', '=', e.kind)
            .where('ref', '=', e.ref)
            .$if(k.dialect === 'postgres', (q) => q.forUpdate())
            .executeTakeFirstOrThrow();
          const prev = toEntry(old);
          const m = mergeProgress(prev, e);
          // An attestation belongs to the observation that set the state: a later, lower one doesn't re-attest it.
          if (prev.data?.attested && prev.state === m.state) m.data = { ...m.data, attested: prev.data.attested };
          await trx
            .updateTable('progress')
            .set(row(m))
            .where('tenant_id', '=', tenantId)
            .where('scope', '=', e.scope)
            .where('subject', '=', subject)
            .where('kind', '=', e.kind)
            .where('ref', '=', e.ref)
            .execute();
        }
      });
      return (await get(tenantId, userId)).map(toEntry);
    },
  };
}

/**
 * The latest verified `integration.state` per integration of a tenant (the newest event, the
 * insertion order breaking ties): the facts count the connected ones, the status lists them.
 */
export function latestIntegrationStates(k: KeelDb, tenantId: string) {
  const integration = k.sql.jsonText('payload', 'properties', 'integration');
  const inner = k.db
    .selectFrom('events')
    .select([
      integration.as('integration'),
      k.sql.jsonText('payload', 'properties', 'state').as('state'),
      'timestamp as at',
      sql<number>`ROW_NUMBER() OVER (PARTITION BY ${integration} ORDER BY ${sql.ref('timestamp')} DESC, ${sql.ref('rowid')} DESC)`.as('rn'),
    ])
    .where('group_id', '=', tenantId)
    .where('event', '=', 'integration.state')
    .where('trust', '=', 'verified');
  return k.db.selectFrom(inner.as('latest')).where('rn', '=', 1).where('integration', 'is not', null);
}

const DAY = 86_400_000;

// Facts count verified events only (a server-side write key, or a user token proving user and tenant).
const verified = (eb: ExpressionBuilder<Schema, never>, tenantId: string) =>
  eb.selectFrom('events').where('group_id', '=', tenantId).where('trust', '=', 'verified');
/** Every fact in one statement, built and compiled once (the sweep asks once per tenant: building it cost more than running it). */
const factsOf = reusable((k, tenantId: string, since7: string, since30: string) =>
  k.db.selectNoFrom((eb) => {
    const active = (since: string) =>
      verified(eb, tenantId)
        .where('timestamp', '>=', since)
        .where('type', '=', 'track')
        .select((e) => e.fn.count<number>(e.fn.coalesce('user_id', 'anonymous_id')).distinct().as('n'));
    return [
      active(since7).as('active_users_7d'),
      active(since30).as('active_users_30d'),
      eb
        .selectFrom(latestIntegrationStates(k, tenantId).where('state', '=', 'connected').select('integration').as('c'))
        .select((e) => e.fn.countAll<number>().as('n'))
        .as('integrations_connected'),
      verified(eb, tenantId)
        .where('event', '=', 'feature.used')
        .where(k.sql.jsonText('payload', 'properties', 'feature'), '=', 'dataset.ingest')
        .select((e) => e.fn.countAll<number>().as('n'))
        .as('datasets_ingested'),
      verified(eb, tenantId)
        .where('timestamp', '>=', since7)
        .select((e) => e.fn.countAll<number>().as('n'))
        .as('events_7d'),
    ];
  }),
);

export function factsStore(k: KeelDb): FactsStore {
  return {
    /** Every fact in one statement (the sweep asks once per tenant). */
    async tenantFacts(tenantId, now = Date.now()): Promise<TenantFacts> {
      const since = (days: number) => new Date(now - days * DAY).toISOString();
      const r = (await factsOf(k, tenantId, since(7), since(30)))[0]!;
      return {
        active_users_7d: Number(r.active_users_7d ?? 0),
        active_users_30d: Number(r.active_users_30d ?? 0),
        integrations_connected: Number(r.integrations_connected ?? 0),
        datasets_ingested: Number(r.datasets_ingested ?? 0),
        events_7d: Number(r.events_7d ?? 0),
      };
    },
  };
}
