/** The tenant's timeline: what matters, newest first, from events, transitions, alerts and config changes. */
import type Database from 'better-sqlite3';

export interface TimelineItem {
  at: string;
  kind: 'event' | 'lifecycle' | 'alert' | 'config';
  title: string;
  detail: Record<string, unknown>;
}

export const TIMELINE_EVENTS = [
  'deployment.published', 'incident.opened', 'incident.resolved', 'config.changed', 'integration.state',
  'ticket.created', 'ticket.resolved', 'billing.invoice',
] as const;

export function timelineQuery(db: Database.Database) {
  const marks = TIMELINE_EVENTS.map(() => '?').join(', ');
  const events = db.prepare(`SELECT timestamp AS at, event, payload FROM events WHERE group_id = ? AND event IN (${marks}) AND timestamp < ? ORDER BY timestamp DESC LIMIT ?`);
  const transitions = db.prepare('SELECT at, from_state AS "from", to_state AS "to", config_version AS version FROM lifecycle_transitions WHERE tenant_id = ? AND at < ? ORDER BY at DESC, id DESC LIMIT ?');
  const alerts = db.prepare('SELECT fired_at AS at, alert, notify, detail FROM alerts WHERE tenant_id = ? AND fired_at < ? ORDER BY fired_at DESC LIMIT ?');
  const configs = db.prepare('SELECT published_at AS at, version, published_by AS actor, summary FROM config_versions WHERE published_at < ? ORDER BY published_at DESC LIMIT ?');

  /** One page: items strictly before `before` (default: now), at most `limit`; `next` continues. */
  return (tenantId: string, { before, limit = 50 }: { before?: string; limit?: number } = {}) => {
    const until = before ?? '9999-12-31T23:59:59.999Z';
    const n = Math.min(Math.max(1, limit), 200);
    const items: TimelineItem[] = [
      ...(events.all(tenantId, ...TIMELINE_EVENTS, until, n) as { at: string; event: string; payload: string }[]).map((r) => {
        const props = (JSON.parse(r.payload) as { properties?: Record<string, unknown> }).properties ?? {};
        return { at: r.at, kind: 'event' as const, title: r.event, detail: props };
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
