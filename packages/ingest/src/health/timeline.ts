/**
 * The tenant's timeline: what matters, newest first, from events, transitions, alerts, the
 * incidents that affect it (opened, updated, resolved), expansion events and config changes.
 */
import type { KeelDb } from '../store/db.js';
import type { ConfigStore } from '../store/state-types.js';
import { configCache } from './config-cache.js';

export interface TimelineItem {
  at: string;
  kind: 'event' | 'expansion' | 'incident' | 'lifecycle' | 'alert' | 'config';
  title: string;
  detail: Record<string, unknown>;
}

/** Events shown as they are, unless the config's `timeline.events` says otherwise. */
export const TIMELINE_EVENTS = [
  'deployment.published',
  'incident.opened',
  'incident.resolved',
  'config.changed',
  'integration.state',
  'ticket.created',
  'ticket.resolved',
  'billing.invoice',
] as const;
/** Expansion events (plan and seat changes), unless the config's `timeline.expansion` says otherwise. */
export const EXPANSION_EVENTS = ['plan.changed', 'seats.changed'] as const;

export type Timeline = (tenantId: string, page?: { before?: string; limit?: number }) => Promise<{ items: TimelineItem[]; next: string | null }>;

export function timelineQuery(k: KeelDb, config: ConfigStore): Timeline {
  const { db } = k;
  const cache = configCache(config);
  const events = (tenantId: string, names: string[], until: string, n: number) =>
    db
      .selectFrom('events')
      .select(['timestamp as at', 'event', 'payload'])
      .where('group_id', '=', tenantId)
      .where('event', 'in', names)
      .where('timestamp', '<', until)
      .orderBy('timestamp', 'desc')
      .limit(n)
      .execute();
  const transitions = (tenantId: string, until: string, n: number) =>
    db
      .selectFrom('lifecycle_transitions')
      .select(['at', 'from_state as from', 'to_state as to', 'config_version as version'])
      .where('tenant_id', '=', tenantId)
      .where('at', '<', until)
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(n)
      .execute();
  const alerts = (tenantId: string, until: string, n: number) =>
    db
      .selectFrom('alerts')
      .select(['fired_at as at', 'alert', 'notify', 'detail'])
      .where('tenant_id', '=', tenantId)
      .where('fired_at', '<', until)
      .orderBy('fired_at', 'desc')
      .limit(n)
      .execute();
  const configs = (until: string, n: number) =>
    db
      .selectFrom('config_versions')
      .select(['published_at as at', 'version', 'published_by as actor', 'summary'])
      .where('published_at', '<', until)
      .orderBy('published_at', 'desc')
      .limit(n)
      .execute();
  // An incident for everyone has tenants '[]'.
  const incidents = (tenantId: string, until: string, n: number) =>
    db
      .selectFrom('incident_updates')
      .select(['at', 'kind', 'doc'])
      .where('at', '<', until)
      .where((eb) => eb.or([eb('tenants', '=', '[]'), k.sql.jsonArrayHas('tenants', tenantId)]))
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(n)
      .execute();

  /** One page: items strictly before `before` (default: now), at most `limit`; `next` continues. */
  return async (tenantId, { before, limit = 50 } = {}) => {
    const until = before ?? '9999-12-31T23:59:59.999Z';
    const n = Math.min(Math.max(1, limit), 200);
    const t = (await cache.current())?.config.timeline;
    const expansion = new Set<string>(t?.expansion ?? EXPANSION_EVENTS);
    const names = [...new Set<string>([...(t?.events ?? TIMELINE_EVENTS), ...expansion])];
    const [ev, incs, tr, al, cf] = await Promise.all([
      events(tenantId, names, until, n),
      incidents(tenantId, until, n),
      transitions(tenantId, until, n),
      alerts(tenantId, until, n),
      configs(until, n),
    ]);
    const items: TimelineItem[] = [
      ...ev
        .map(({ at, event, payload }) => ({ at, event: event!, payload }))
        .map((r) => {
          const props = (JSON.parse(r.payload) as { properties?: Record<string, unknown> }).properties ?? {};
          return expansion.has(r.event)
            ? { at: r.at, kind: 'expansion' as const, title: `expansion: ${r.event}`, detail: { event: r.event, ...props } }
            : { at: r.at, kind: 'event' as const, title: r.event, detail: props };
        }),
      ...incs.map((r) => {
        const { tenants: _t, ...inc } = JSON.parse(r.doc) as Record<string, unknown>;
        return { at: r.at, kind: 'incident' as const, title: `incident ${r.kind}: ${String(inc.title)}`, detail: { change: r.kind, ...inc } };
      }),
      ...tr.map((r) => ({
        at: r.at,
        kind: 'lifecycle' as const,
        title: `lifecycle: ${r.from} → ${r.to}`,
        detail: { from: r.from, to: r.to, configVersion: r.version },
      })),
      ...al.map((r) => ({
        at: r.at,
        kind: 'alert' as const,
        title: `alert: ${r.alert}`,
        detail: { alert: r.alert, notify: JSON.parse(r.notify), ...JSON.parse(r.detail) },
      })),
      ...cf.map((r) => ({
        at: r.at,
        kind: 'config' as const,
        title: `config version ${r.version}`,
        detail: { version: r.version, actor: r.actor, summary: r.summary },
      })),
    ]
      .sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0))
      .slice(0, n);
    return { items, next: items.length === n ? items[items.length - 1]!.at : null };
  };
}
