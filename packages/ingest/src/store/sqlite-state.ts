import type Database from 'better-sqlite3';
import {
  type AuditEntry, type ConfigDraft, type ConfigStore, type ConfigVersion, type FactsStore, mergeProgress, type ProgressEntry,
  type ProgressStore, type TenantFacts,
} from './state-types.js';

export function sqliteConfigStore(db: Database.Database): ConfigStore {
  const latest = db.prepare('SELECT version, document, hash, published_at AS publishedAt, published_by AS publishedBy, summary FROM config_versions ORDER BY version DESC LIMIT 1');
  const insert = db.prepare('INSERT INTO config_versions (document, hash, published_at, published_by, summary) VALUES (?, ?, ?, ?, ?)');
  const audit = db.prepare('INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)');
  const versions = db.prepare('SELECT version, hash, published_at AS publishedAt, published_by AS publishedBy, summary FROM config_versions ORDER BY version DESC LIMIT ?');
  const auditList = db.prepare('SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT ?');
  const publish = db.transaction((v: Omit<ConfigVersion, 'version'>): ConfigVersion => {
    const { lastInsertRowid } = insert.run(v.document, v.hash, v.publishedAt, v.publishedBy, v.summary);
    const version = Number(lastInsertRowid);
    audit.run(v.publishedAt, v.publishedBy, 'config.published', `version ${version}: ${v.summary}`);
    return { version, ...v };
  });
  const draftInsert = db.prepare('INSERT INTO config_drafts (id, document, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?)');
  const draftGet = db.prepare('SELECT id, document, created_at AS createdAt, created_by AS createdBy, expires_at AS expiresAt FROM config_drafts WHERE id = ? AND expires_at > ?');
  const draftPrune = db.prepare('DELETE FROM config_drafts WHERE expires_at <= ?');
  // Versions are immutable: the latest is re-read only when a newer one exists (any process may publish).
  const head = db.prepare('SELECT MAX(version) AS v FROM config_versions');
  let last: ConfigVersion | undefined;
  return {
    async latest() {
      const v = (head.get() as { v: number | null }).v;
      if (v === null) return undefined;
      if (last?.version !== v) last = latest.get() as ConfigVersion | undefined;
      return last;
    },
    async saveDraft(d) {
      draftPrune.run(new Date().toISOString());
      draftInsert.run(d.id, d.document, d.createdAt, d.createdBy, d.expiresAt);
      audit.run(d.createdAt, d.createdBy, 'config.draft_saved', `draft ${d.id.slice(0, 8)}… for preview until ${d.expiresAt}`);
    },
    async draft(id, now = Date.now()) {
      return draftGet.get(id, new Date(now).toISOString()) as ConfigDraft | undefined;
    },
    async publish(v) {
      return publish(v);
    },
    async versions(limit = 50) {
      return versions.all(limit) as Omit<ConfigVersion, 'document'>[];
    },
    async audit(limit = 100) {
      return auditList.all(limit) as AuditEntry[];
    },
  };
}

interface Row { scope: string; kind: string; ref: string; state: string; updated_at: string; completed_at: string | null; data: string | null }
const toEntry = (r: Row): ProgressEntry => ({
  scope: r.scope as ProgressEntry['scope'], kind: r.kind as ProgressEntry['kind'], ref: r.ref, state: r.state as ProgressEntry['state'],
  updatedAt: r.updated_at, completedAt: r.completed_at, data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : null,
});

export function sqliteProgressStore(db: Database.Database): ProgressStore {
  // Tenant-wide entries are stored with subject '' so every user of the tenant shares them.
  const get = db.prepare("SELECT * FROM progress WHERE tenant_id = ? AND (subject = ? AND scope = 'user' OR subject = '' AND scope = 'tenant') ORDER BY scope, kind, ref");
  const one = db.prepare('SELECT * FROM progress WHERE tenant_id = ? AND scope = ? AND subject = ? AND kind = ? AND ref = ?');
  const upsert = db.prepare(`INSERT INTO progress (tenant_id, scope, subject, kind, ref, state, updated_at, completed_at, data)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (tenant_id, scope, subject, kind, ref) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, completed_at = excluded.completed_at, data = excluded.data`);
  const merge = db.transaction((tenantId: string, userId: string, entries: readonly ProgressEntry[]) => {
    for (const e of entries) {
      const subject = e.scope === 'tenant' ? '' : userId;
      const old = one.get(tenantId, e.scope, subject, e.kind, e.ref) as Row | undefined;
      const prev = old && toEntry(old);
      const m = mergeProgress(prev, e);
      // An attestation belongs to the observation that set the state: a later, lower one doesn't re-attest it.
      if (prev?.data?.attested && prev.state === m.state) m.data = { ...m.data, attested: prev.data.attested };
      upsert.run(tenantId, e.scope, subject, e.kind, e.ref, m.state, m.updatedAt, m.completedAt ?? null, m.data ? JSON.stringify(m.data) : null);
    }
  });
  return {
    async get(tenantId, userId) {
      return (get.all(tenantId, userId) as Row[]).map(toEntry);
    },
    async merge(tenantId, userId, entries) {
      merge(tenantId, userId, entries);
      return (get.all(tenantId, userId) as Row[]).map(toEntry);
    },
  };
}

const DAY = 86_400_000;

export function sqliteFactsStore(db: Database.Database): FactsStore {
  // Facts count verified events only (a server-side write key, or a user token proving user and tenant).
  const active = db.prepare(`SELECT COUNT(DISTINCT COALESCE(user_id, anonymous_id)) AS n FROM events WHERE group_id = ? AND timestamp >= ? AND type = 'track' AND trust = 'verified'`);
  const count = db.prepare(`SELECT COUNT(*) AS n FROM events WHERE group_id = ? AND timestamp >= ? AND trust = 'verified'`);
  const integrations = db.prepare(`SELECT COUNT(*) AS n FROM (
      SELECT json_extract(payload, '$.properties.integration') AS integration,
             json_extract(payload, '$.properties.state') AS state,
             ROW_NUMBER() OVER (PARTITION BY json_extract(payload, '$.properties.integration') ORDER BY timestamp DESC, rowid DESC) AS rn
      FROM events WHERE group_id = ? AND event = 'integration.state' AND trust = 'verified') WHERE rn = 1 AND state = 'connected' AND integration IS NOT NULL`);
  const datasets = db.prepare(`SELECT COUNT(*) AS n FROM events WHERE group_id = ? AND event = 'feature.used' AND trust = 'verified' AND json_extract(payload, '$.properties.feature') = 'dataset.ingest'`);
  const n = (stmt: Database.Statement, ...args: unknown[]) => (stmt.get(...args) as { n: number }).n;
  return {
    async tenantFacts(tenantId, now = Date.now()): Promise<TenantFacts> {
      const since = (days: number) => new Date(now - days * DAY).toISOString();
      return {
        active_users_7d: n(active, tenantId, since(7)),
        active_users_30d: n(active, tenantId, since(30)),
        integrations_connected: n(integrations, tenantId),
        datasets_ingested: n(datasets, tenantId),
        events_7d: n(count, tenantId, since(7)),
      };
    },
  };
}
