/**
 * The tenant's timeline: what matters, newest first, from events, transitions, alerts, the
 * incidents that affect it (opened, updated, resolved), expansion events and config changes.
 */
import type Database from 'better-sqlite3';
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
  'deployment.published', 'incident.opened', 'incident.resolved', 'config.changed', 'integration.state',
  'ticket.created', 'ticket.resolved', 'billing.invoice',
] as const;
/** Expansion events (plan and seat changes), unless the config's `timeline.expansion` says otherwise. */
export const EXPANSION_EVENTS = ['plan.changed', 'seats.changed'] as const;

export type Timeline = (tenantId: string, page?: { before?: string; limit?: number }) => Promise<{ items: TimelineItem[]; next: string | null }>;

export function timelineQuery(db: Database.Database, config: ConfigStore): Timeline {
  const cache = configCache(config);
  const eventStatements = new Map<number, Database.Statement>();
  const eventsOf = (n: number) => {
    let st = eventStatements.get(n);
    if (!st) {
      st = db.prepare(`SELECT timestamp AS at, event, payload FROM events WHERE group_id = ? AND event IN (${Array.from({ length: n }, () => '?').join(', ')}) AND timestamp < ? ORDER BY timestamp DESC LIMIT ?`);
      eventStatements.set(n, st);
    }
    return st;
  };
  const transitions = db.prepare('SELECT at, from_state AS "from", to_state AS "to", config_version AS version FROM lifecycle_transitions WHERE tenant_id = ? AND at < ? ORDER BY at DESC, id DESC LIMIT ?');
  const alerts = db.prepare('SELECT fired_at AS at, alert, notify, detail FROM alerts WHERE tenant_id = ? AND fired_at < ? ORDER BY fired_at DESC LIMIT ?');
  const configs = db.prepare('SELECT published_at AS at, version, published_by AS actor, summary FROM config_versions WHERE published_at < ? ORDER BY published_at DESC LIMIT ?');
  const incidents = db.prepare(`SELECT at, kind, doc FROM incident_updates u WHERE at < ?
    AND (tenants = '[]' OR EXISTS (SELECT 1 FROM json_each(u.tenants) WHERE value = ?)) ORDER BY at DESC, id DESC LIMIT ?`);

  /** One page: items strictly before `before` (default: now), at most `limit`; `next` continues. */
  return async (tenantId, { before, limit = 50 } = {}) => {
    const until = before ?? '9999-12-31T23:59:59.999Z';
    const n = Math.min(Math.max(1, limit), 200);
    const t = (await cache.current())?.config.timeline;
    const expansion = new Set<string>(t?.expansion ?? EXPANSION_EVENTS);
    const names = [...new Set<string>([...(t?.events ?? TIMELINE_EVENTS), ...expansion])];
    const items: TimelineItem[] = [
      ...(eventsOf(names.length).all(tenantId, ...names, until, n) as { at: string; event: string; payload: string }[]).map((r) => {
        const props = (JSON.parse(r.payload) as { properties?: Record<string, unknown> }).properties ?? {};
        return expansion.has(r.event)
          ? { at: r.at, kind: 'expansion' as const, title: `expansion: ${r.event}`, detail: { event: r.event, ...props } }
          : { at: r.at, kind: 'event' as const, title: r.event, detail: props };
      }),
      ...(incidents.all(until, tenantId, n) as { at: string; kind: string; doc: string }[]).map((r) => {
        const { tenants: _t, ...inc } = JSON.parse(r.doc) as Record<string, unknown>;
        return { at: r.at, kind: 'incident' as const, title: `incident ${r.kind}: ${String(inc.title)}`, detail: { change: r.kind, ...inc } };
      }),
      ...(transitions.all(tenantId, until, n) as { at: string; from: string; to: string; version: number }[]).map((r) => ({
        at: r.at, kind: 'lifecycle' as const, title: `lifecycle: ${r.from} → ${r.to}`, detail: { from: r.from, to: r.to, configVersion: r.version },
      })),
      ...(alerts.all(tenantId, until, n) as { at: string; alert: string; notify: string; detail: string }[]).map((r) => ({
        at: r.at, kind: 'alert' as const, title: `alert: ${r.alert}`, detail: { alert: r.alert, notify: JSON.parse(r.notify), ...JSON.parse(r.detail) },
      })),
      ...(configs.all(until, n) as { at: string; version: number; actor: string; summary: string }[]).map((r) => ({
        at: r.at, kind: 'config' as const, title: `config version ${r.version}`, detail: { version: r.version, actor: r.actor, summary: r.summary },
      })),
    ].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, n);
    return { items, next: items.length === n ? items[items.length - 1]!.at : null };
  };
}
