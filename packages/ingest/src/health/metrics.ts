/**
 * Health metrics of tenants, computed from their stored events (SQLite JSON1). Each metric is a
 * number, or null when the tenant has no data for it (the component's `missing` policy decides).
 * The list and the definition of each live in sdk-core (`METRICS`), shared with the config
 * validator and the JSON Schema.
 *
 * One set of grouped queries computes every metric, either for one tenant (`group_id = ?`, by
 * the tenant/time index) or for every tenant at once (the sweep: a handful of scans instead of
 * tenants × metrics queries). Both paths run the same SQL, so they cannot disagree.
 */
import { METRIC_NAMES, type MetricName } from '@keel/sdk-core/engine';
import type Database from 'better-sqlite3';

export { METRIC_NAMES as METRICS, type MetricName };

const DAY = 86_400_000;

export interface TenantMetrics {
  values: Record<MetricName, number | null>;
  evidence: Partial<Record<MetricName, { event: string; at: string }[]>>;
}

interface Windows { now: string; s1: string; s7: string; s30: string; s90: string; week: string }

/** The windows every metric is computed over; `week` is the start of the 7 UTC calendar days ending today. */
function windows(now: number): Windows {
  const iso = (ms: number) => new Date(ms).toISOString();
  return { now: iso(now), s1: iso(now - DAY), s7: iso(now - 7 * DAY), s30: iso(now - 30 * DAY), s90: iso(now - 90 * DAY), week: iso(Math.floor(now / DAY) * DAY - 6 * DAY) };
}

const UID = 'COALESCE(user_id, anonymous_id)';

function statements(db: Database.Database, f: string) {
  const p = (sql: string) => db.prepare(sql);
  return {
    traits: p(`SELECT g, payload FROM (SELECT group_id AS g, payload, ROW_NUMBER() OVER (PARTITION BY group_id ORDER BY timestamp DESC, rowid DESC) AS rn
        FROM events WHERE ${f} AND type = 'group') WHERE rn = 1`),
    active: p(`SELECT group_id AS g, COUNT(DISTINCT ${UID}) AS a30, COUNT(DISTINCT CASE WHEN timestamp >= @week THEN ${UID} END) AS wau
        FROM events WHERE ${f} AND timestamp >= @s30 AND timestamp <= @now GROUP BY group_id`),
    // The sum over the 7 calendar days of each day's distinct users: days without activity add 0.
    daily: p(`SELECT g, SUM(n) AS n FROM (SELECT group_id AS g, substr(timestamp, 1, 10) AS d, COUNT(DISTINCT ${UID}) AS n
        FROM events WHERE ${f} AND timestamp >= @week AND timestamp <= @now GROUP BY group_id, d) GROUP BY g`),
    features: p(`SELECT group_id AS g, COUNT(DISTINCT json_extract(payload, '$.properties.feature')) AS n
        FROM events WHERE ${f} AND event = 'feature.used' AND timestamp >= @s30 AND timestamp <= @now GROUP BY group_id`),
    counts: p(`SELECT g,
          SUM(event = 'error.raised' AND timestamp >= @s7) AS e7, SUM(event = 'error.raised' AND timestamp >= @s1) AS e1,
          SUM(event = 'ticket.created' AND timestamp >= @s30) AS t30,
          SUM(event = 'user.session' AND action = 'start' AND timestamp >= @s7) AS ss7, SUM(event = 'user.session' AND action = 'start' AND timestamp >= @s1) AS ss1,
          AVG(CASE WHEN event = 'csat.submitted' THEN sc END) AS csat,
          SUM(event = 'nps.submitted') AS npsN, SUM(event = 'nps.submitted' AND sc >= 9) AS promoters, SUM(event = 'nps.submitted' AND sc <= 6) AS detractors
        FROM (SELECT group_id AS g, event, timestamp,
                CASE WHEN event = 'user.session' THEN json_extract(payload, '$.properties.action') END AS action,
                CASE WHEN event IN ('csat.submitted', 'nps.submitted') THEN json_extract(payload, '$.properties.score') END AS sc
              FROM events WHERE ${f} AND event IN ('error.raised', 'ticket.created', 'user.session', 'csat.submitted', 'nps.submitted')
                AND timestamp >= @s90 AND timestamp <= @now)
        GROUP BY g`),
    // Sponsors: users the tenant's own identify calls (which carry context.groupId) mark role = sponsor.
    sponsors: p(`SELECT s.g AS g, COUNT(DISTINCT s.user_id) AS n, MAX(e.timestamp) AS t FROM
        (SELECT DISTINCT group_id AS g, user_id FROM events WHERE ${f} AND type = 'identify' AND user_id IS NOT NULL AND json_extract(payload, '$.traits.role') = 'sponsor') s
        LEFT JOIN events e ON e.group_id = s.g AND e.user_id = s.user_id AND e.timestamp <= @now GROUP BY s.g`),
    invoices: p(`SELECT g, COUNT(*) AS n, SUM(status = 'overdue') AS overdue FROM (
        SELECT group_id AS g, json_extract(payload, '$.properties.status') AS status,
               ROW_NUMBER() OVER (PARTITION BY group_id, COALESCE(json_extract(payload, '$.properties.invoice'), json_extract(payload, '$.properties.invoiceId'), message_id) ORDER BY timestamp DESC, rowid DESC) AS rn
        FROM events WHERE ${f} AND event = 'billing.invoice' AND timestamp <= @now) WHERE rn = 1 GROUP BY g`),
  };
}

type Row = Record<string, unknown> & { g: string };

/** Metric values for every tenant the rows name (tenants with no row in a query get its "no data" value). */
function compute(st: ReturnType<typeof statements>, params: Windows & { g?: string }, tenants: Iterable<string>, now: number): Map<string, TenantMetrics['values']> {
  const by = (rows: unknown[]) => new Map((rows as Row[]).map((r) => [r.g, r]));
  const traits = by(st.traits.all(params));
  const active = by(st.active.all(params));
  const daily = by(st.daily.all(params));
  const features = by(st.features.all(params));
  const counts = by(st.counts.all(params));
  const sponsors = by(st.sponsors.all(params));
  const invoices = by(st.invoices.all(params));
  const ratio = (a: number, b: number | null) => (b ? a / b : null);
  const num = (r: Row | undefined, k: string) => (r?.[k] as number | null | undefined) ?? 0;
  const out = new Map<string, TenantMetrics['values']>();
  for (const g of tenants) {
    const t = traits.get(g);
    const tr = (t ? (JSON.parse(t.payload as string) as { traits?: Record<string, unknown> }).traits : undefined) ?? {};
    const planFeatures = Array.isArray(tr.plan_features) ? tr.plan_features.length : typeof tr.features_in_plan === 'number' ? tr.features_in_plan : null;
    const seats = typeof tr.seats === 'number' && tr.seats > 0 ? tr.seats : null;
    const a = active.get(g);
    const c = counts.get(g);
    const s = sponsors.get(g);
    const inv = invoices.get(g);
    const active30 = num(a, 'a30');
    const wau = num(a, 'wau');
    const npsN = num(c, 'npsN');
    out.set(g, {
      features_used_ratio_30d: ratio(num(features.get(g), 'n'), planFeatures),
      active_users_over_seats: ratio(active30, seats),
      dau_over_wau: wau ? num(daily.get(g), 'n') / 7 / wau : null,
      errors_per_session_7d: ratio(num(c, 'e7'), num(c, 'ss7')),
      errors_per_session_1d: ratio(num(c, 'e1'), num(c, 'ss1')),
      tickets_per_active_user_30d: ratio(num(c, 't30'), active30),
      csat_90d: (c?.csat as number | null | undefined) ?? null,
      nps_90d: npsN ? (100 * (num(c, 'promoters') - num(c, 'detractors'))) / npsN : null,
      days_since_sponsor_active: s && num(s, 'n') && s.t ? Math.floor((now - Date.parse(s.t as string)) / DAY) : null,
      invoices_overdue: inv && num(inv, 'n') ? num(inv, 'overdue') : null,
    });
  }
  return out;
}

export interface MetricsQuery {
  /** One tenant's metrics now, with the recent events behind them (the explanation). */
  (tenantId: string, now?: number): TenantMetrics;
  /** Every known tenant's metric values (no evidence): one grouped query per metric family. */
  all(now?: number): Map<string, TenantMetrics['values']>;
}

export function tenantMetricsQuery(db: Database.Database): MetricsQuery {
  const one = statements(db, 'group_id = @g');
  const every = statements(db, 'group_id IS NOT NULL');
  const tenants = db.prepare('SELECT DISTINCT group_id AS g FROM events WHERE group_id IS NOT NULL');
  const recent = db.prepare(`SELECT event, timestamp FROM events WHERE group_id = ? AND event = ? AND timestamp >= ? AND timestamp <= ? ORDER BY timestamp DESC LIMIT 3`);

  const forTenant = (tenantId: string, now = Date.now()): TenantMetrics => {
    const w = windows(now);
    const values = compute(one, { ...w, g: tenantId }, [tenantId], now).get(tenantId)!;
    const since = (days: number) => new Date(now - days * DAY).toISOString();
    const ev = (event: string, days: number) => (recent.all(tenantId, event, since(days), w.now) as { event: string; timestamp: string }[]).map((r) => ({ event: r.event, at: r.timestamp }));
    const evidence: TenantMetrics['evidence'] = {
      errors_per_session_7d: ev('error.raised', 7),
      errors_per_session_1d: ev('error.raised', 1),
      tickets_per_active_user_30d: ev('ticket.created', 30),
      csat_90d: ev('csat.submitted', 90),
      nps_90d: ev('nps.submitted', 90),
      invoices_overdue: ev('billing.invoice', 365),
      features_used_ratio_30d: ev('feature.used', 30),
    };
    return { values, evidence };
  };
  return Object.assign(forTenant, {
    all(now = Date.now()) {
      return compute(every, windows(now), (tenants.all() as { g: string }[]).map((r) => r.g), now);
    },
  });
}
