/**
 * What `<keel-status>` shows a tenant: the vendor's components (config `status`), the active
 * incidents that affect this tenant (posted with the admin key), and the tenant's own
 * integrations' health (its latest `integration.state` per integration).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { KeelDb } from '../store/db.js';
import { latestIntegrationStates } from '../store/state.js';
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

export function statusService(k: KeelDb, config: ConfigStore) {
  const { db } = k;
  const cache = configCache(config);
  const docOf = (input: Partial<Incident> & Pick<Incident, 'title'>, id: string, at: string, old: Incident | undefined): Incident => ({
    id,
    title: input.title,
    state: input.state ?? old?.state ?? 'investigating',
    impact: input.impact ?? old?.impact ?? 'degraded',
    components: input.components ?? old?.components ?? [],
    tenants: input.tenants ?? old?.tenants ?? [],
    message: input.message ?? old?.message ?? '',
    startedAt: old?.startedAt ?? at,
    updatedAt: at,
  });

  return {
    /**
     * Opens or updates an incident (same id = update). The incident and its history change in one
     * transaction, so the timeline sees every change; a new id is inserted as it is (a concurrent
     * open of the same id on another node waits, then updates it), an existing one is read locked
     * (FOR UPDATE on PostgreSQL) before it is updated, so no node's change is lost.
     */
    async upsertIncident(input: Partial<Incident> & Pick<Incident, 'title'>, now = Date.now()): Promise<Incident> {
      const id = input.id ?? `inc-${randomBytes(6).toString('hex')}`;
      const at = new Date(now).toISOString();
      return db.transaction().execute(async (trx) => {
        const history = (inc: Incident, kind: 'opened' | 'updated' | 'resolved') =>
          trx
            .insertInto('incident_updates')
            .values({ incident_id: id, at, kind, doc: JSON.stringify(inc), tenants: JSON.stringify(inc.tenants) })
            .execute();
        const opened = docOf(input, id, at, undefined);
        const fresh = await trx
          .insertInto('incidents')
          .values({ id, doc: JSON.stringify(opened), updated_at: at })
          .onConflict((c) => c.column('id').doNothing())
          .returning('id')
          .executeTakeFirst();
        if (fresh) {
          await history(opened, 'opened');
          return opened;
        }
        const prev = await trx
          .selectFrom('incidents')
          .select('doc')
          .where('id', '=', id)
          .$if(k.dialect === 'postgres', (q) => q.forUpdate())
          .executeTakeFirstOrThrow();
        const old = JSON.parse(prev.doc) as Incident;
        const inc = docOf(input, id, at, old);
        const kind = inc.state === 'resolved' && old.state !== 'resolved' ? 'resolved' : 'updated';
        await trx
          .updateTable('incidents')
          .set({ doc: JSON.stringify(inc), updated_at: at })
          .where('id', '=', id)
          .execute();
        await history(inc, kind);
        return inc;
      });
    },
    async forTenant(tenantId: string): Promise<{ status: TenantStatus; etag: string }> {
      const comps = (await cache.current())?.config.status?.components ?? [];
      const open = await db
        .selectFrom('incidents')
        .select('doc')
        .where(k.sql.jsonText('doc', 'state'), '!=', 'resolved')
        .orderBy('updated_at', 'desc')
        .execute();
      const incidents = open.map((r) => JSON.parse(r.doc) as Incident).filter((i) => !i.tenants.length || i.tenants.includes(tenantId));
      const impactOf = (id: string) => {
        const hits = incidents.filter((i) => i.components.includes(id));
        return hits.some((i) => i.impact === 'outage') ? 'outage' : hits.length ? 'degraded' : 'operational';
      };
      const ints = (await latestIntegrationStates(k, tenantId)
        .select(['integration', 'state', 'at'])
        .orderBy('integration')
        .execute()) as TenantStatus['integrations'];
      const components = comps.map((c) => ({ id: c.id, name: c.name, status: impactOf(c.id) as TenantStatus['components'][number]['status'] }));
      const bad = components.some((c) => c.status === 'outage')
        ? 'outage'
        : components.some((c) => c.status === 'degraded') || incidents.length || ints.some((i) => i.state !== 'connected')
          ? 'degraded'
          : 'operational';
      const status: TenantStatus = { components, incidents: incidents.map(({ tenants: _t, ...rest }) => rest), integrations: ints, overall: bad };
      // Unverified integration states never change the status; the answer says how many were left out.
      const { n: left } = await db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('group_id', '=', tenantId)
        .where('event', '=', 'integration.state')
        .where('trust', '!=', 'verified')
        .executeTakeFirstOrThrow();
      if (left) status.unverifiedLeftOut = left;
      const etag = `"s-${createHash('sha256').update(JSON.stringify(status)).digest('hex').slice(0, 16)}"`;
      return { status, etag };
    },
  };
}
export type StatusService = ReturnType<typeof statusService>;
