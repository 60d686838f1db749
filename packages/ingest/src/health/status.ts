/**
 * What `<keel-status>` shows a tenant: the vendor's components (config `status`), the active
 * incidents that affect this tenant (posted with the admin key), and the tenant's own
 * integrations' health (its latest `integration.state` per integration).
 */
import { createHash, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { ConfigStore } from '../store/state-types.js';
import { configCache } from './config-cache.js';

export const INCIDENT_STATES = ['investigating', 'identified', 'monitoring', 'resolved'] as const;
export const IMPACTS = ['degraded', 'outage'] as const;

export interface Incident {
  id: string;
  title: string;
  state: (typeof INCIDENT_STATES)[number];
  impact: (typeof IMPACTS)[number];
  /** Status component ids it affects. */
  components: string[];
  /** Tenants it affects; empty = everyone. */
  tenants: string[];
  message: string;
  startedAt: string;
  updatedAt: string;
}

export interface TenantStatus {
  components: { id: string; name: unknown; status: 'operational' | 'degraded' | 'outage' }[];
  incidents: Omit<Incident, 'tenants'>[];
  integrations: { integration: string; state: string; at: string }[];
  /** Unverified `integration.state` events (no server key or user token proved them), not counted. */
  unverifiedLeftOut?: number;
  /** operational when every component and integration is fine and no incident is open. */
  overall: 'operational' | 'degraded' | 'outage';
}

export function statusService(db: Database.Database, config: ConfigStore) {
  const cache = configCache(config);
  const upsert = db.prepare(`INSERT INTO incidents (id, doc, updated_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`);
  const get = db.prepare('SELECT doc FROM incidents WHERE id = ?');
  const history = db.prepare('INSERT INTO incident_updates (incident_id, at, kind, doc, tenants) VALUES (?, ?, ?, ?, ?)');
  // The incident and its history in one transaction: the timeline sees every change.
  const record = db.transaction((id: string, doc: string, at: string, kind: 'opened' | 'updated' | 'resolved') => {
    upsert.run(id, doc, at);
    history.run(id, at, kind, doc, JSON.stringify((JSON.parse(doc) as Incident).tenants));
  });
  const open = db.prepare(`SELECT doc FROM incidents WHERE json_extract(doc, '$.state') != 'resolved' ORDER BY updated_at DESC`);
  const integrations = db.prepare(`SELECT integration, state, at FROM (
      SELECT json_extract(payload, '$.properties.integration') AS integration, json_extract(payload, '$.properties.state') AS state, timestamp AS at,
             ROW_NUMBER() OVER (PARTITION BY json_extract(payload, '$.properties.integration') ORDER BY timestamp DESC, rowid DESC) AS rn
      FROM events WHERE group_id = ? AND event = 'integration.state' AND trust = 'verified') WHERE rn = 1 AND integration IS NOT NULL ORDER BY integration`);
  // Unverified integration states never change the status; the answer says how many were left out.
  const unverified = db.prepare(`SELECT COUNT(*) AS n FROM events WHERE group_id = ? AND event = 'integration.state' AND trust != 'verified'`);

  return {
    /** Opens or updates an incident (same id = update). */
    upsertIncident(input: Partial<Incident> & Pick<Incident, 'title'>, now = Date.now()): Incident {
      const id = input.id ?? `inc-${randomBytes(6).toString('hex')}`;
      const prev = get.get(id) as { doc: string } | undefined;
      const old = prev ? (JSON.parse(prev.doc) as Incident) : undefined;
      const at = new Date(now).toISOString();
      const inc: Incident = {
        id, title: input.title, state: input.state ?? old?.state ?? 'investigating', impact: input.impact ?? old?.impact ?? 'degraded',
        components: input.components ?? old?.components ?? [], tenants: input.tenants ?? old?.tenants ?? [], message: input.message ?? old?.message ?? '',
        startedAt: old?.startedAt ?? at, updatedAt: at,
      };
      const kind = !old ? 'opened' : inc.state === 'resolved' && old.state !== 'resolved' ? 'resolved' : 'updated';
      record(id, JSON.stringify(inc), at, kind);
      return inc;
    },
    async forTenant(tenantId: string): Promise<{ status: TenantStatus; etag: string }> {
      const comps = (await cache.current())?.config.status?.components ?? [];
      const incidents = (open.all() as { doc: string }[]).map((r) => JSON.parse(r.doc) as Incident).filter((i) => !i.tenants.length || i.tenants.includes(tenantId));
      const impactOf = (id: string) => {
        const hits = incidents.filter((i) => i.components.includes(id));
        return hits.some((i) => i.impact === 'outage') ? 'outage' : hits.length ? 'degraded' : 'operational';
      };
      const ints = integrations.all(tenantId) as TenantStatus['integrations'];
      const components = comps.map((c) => ({ id: c.id, name: c.name, status: impactOf(c.id) as TenantStatus['components'][number]['status'] }));
      const bad = components.some((c) => c.status === 'outage') ? 'outage'
        : components.some((c) => c.status === 'degraded') || incidents.length || ints.some((i) => i.state !== 'connected') ? 'degraded' : 'operational';
      const status: TenantStatus = { components, incidents: incidents.map(({ tenants: _t, ...rest }) => rest), integrations: ints, overall: bad };
      const left = (unverified.get(tenantId) as { n: number }).n;
      if (left) status.unverifiedLeftOut = left;
      const etag = `"s-${createHash('sha256').update(JSON.stringify(status)).digest('hex').slice(0, 16)}"`;
      return { status, etag };
    },
  };
}
export type StatusService = ReturnType<typeof statusService>;
