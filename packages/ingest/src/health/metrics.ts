/**
 * Health metrics of one tenant, computed from its stored events (SQLite JSON1). Each metric is a
 * number, or null when the tenant has no data for it (the component's `missing` policy decides).
 */
import type Database from 'better-sqlite3';

const DAY = 86_400_000;
export const METRICS = [
  'features_used_ratio_30d', 'active_users_over_seats', 'dau_over_wau', 'errors_per_session_7d', 'errors_per_session_1d',
  'tickets_per_active_user_30d', 'csat_90d', 'nps_90d', 'days_since_sponsor_active', 'invoices_overdue',
] as const;
export type MetricName = (typeof METRICS)[number];

export interface TenantMetrics {
  values: Record<MetricName, number | null>;
  evidence: Partial<Record<MetricName, { event: string; at: string }[]>>;
}

export function tenantMetricsQuery(db: Database.Database) {
  const one = <T>(sql: string) => {
    const st = db.prepare(sql);
    return (...args: unknown[]) => st.get(...args) as T;
  };
  const all = <T>(sql: string) => {
    const st = db.prepare(sql);
    return (...args: unknown[]) => st.all(...args) as T[];
  };
  const traits = one<{ payload: string } | undefined>(`SELECT payload FROM events WHERE group_id = ? AND type = 'group' ORDER BY timestamp DESC, rowid DESC LIMIT 1`);
  const active = one<{ n: number }>(`SELECT COUNT(DISTINCT COALESCE(user_id, anonymous_id)) AS n FROM events WHERE group_id = ? AND timestamp >= ? AND timestamp <= ?`);
  const features = one<{ n: number }>(`SELECT COUNT(DISTINCT json_extract(payload, '$.properties.feature')) AS n FROM events WHERE group_id = ? AND event = 'feature.used' AND timestamp >= ? AND timestamp <= ?`);
  const daily = one<{ n: number | null }>(`SELECT AVG(n) AS n FROM (SELECT substr(timestamp, 1, 10) AS d, COUNT(DISTINCT COALESCE(user_id, anonymous_id)) AS n FROM events WHERE group_id = ? AND timestamp >= ? AND timestamp <= ? GROUP BY d)`);
  const count = one<{ n: number }>(`SELECT COUNT(*) AS n FROM events WHERE group_id = ? AND event = ? AND timestamp >= ? AND timestamp <= ?`);
  const sessions = one<{ n: number }>(`SELECT COUNT(*) AS n FROM events WHERE group_id = ? AND event = 'user.session' AND json_extract(payload, '$.properties.action') = 'start' AND timestamp >= ? AND timestamp <= ?`);
  const csat = one<{ n: number | null }>(`SELECT AVG(json_extract(payload, '$.properties.score')) AS n FROM events WHERE group_id = ? AND event = 'csat.submitted' AND timestamp >= ? AND timestamp <= ?`);
  // NPS: % promoters (9–10) minus % detractors (0–6), -100..100.
  const nps = one<{ n: number | null }>(`SELECT CASE WHEN COUNT(*) = 0 THEN NULL ELSE
      100.0 * (SUM(CASE WHEN s >= 9 THEN 1 ELSE 0 END) - SUM(CASE WHEN s <= 6 THEN 1 ELSE 0 END)) / COUNT(*) END AS n
      FROM (SELECT json_extract(payload, '$.properties.score') AS s FROM events WHERE group_id = ? AND event = 'nps.submitted' AND timestamp >= ? AND timestamp <= ?)`);
  // Sponsors: users the tenant's own identify calls (which carry context.groupId) mark role = sponsor.
  const sponsorLast = one<{ t: string | null; n: number }>(`SELECT MAX(e.timestamp) AS t, COUNT(s.user_id) AS n FROM
      (SELECT DISTINCT user_id FROM events WHERE group_id = ? AND type = 'identify' AND user_id IS NOT NULL AND json_extract(payload, '$.traits.role') = 'sponsor') s
      LEFT JOIN events e ON e.group_id = ? AND e.user_id = s.user_id AND e.timestamp <= ?`);
  const invoices = all<{ status: string | null }>(`SELECT status FROM (
      SELECT json_extract(payload, '$.properties.status') AS status,
             ROW_NUMBER() OVER (PARTITION BY COALESCE(json_extract(payload, '$.properties.invoice'), json_extract(payload, '$.properties.invoiceId'), message_id) ORDER BY timestamp DESC, rowid DESC) AS rn
      FROM events WHERE group_id = ? AND event = 'billing.invoice' AND timestamp <= ?) WHERE rn = 1`);
  const recent = all<{ event: string; timestamp: string }>(`SELECT event, timestamp FROM events WHERE group_id = ? AND event = ? AND timestamp >= ? AND timestamp <= ? ORDER BY timestamp DESC LIMIT 3`);

  return (tenantId: string, now = Date.now()): TenantMetrics => {
    const iso = (ms: number) => new Date(ms).toISOString();
    const until = iso(now);
    const since = (days: number) => iso(now - days * DAY);
    const t = traits(tenantId);
    const tr = (t ? (JSON.parse(t.payload) as { traits?: Record<string, unknown> }).traits : undefined) ?? {};
    const planFeatures = Array.isArray(tr.plan_features) ? tr.plan_features.length : typeof tr.features_in_plan === 'number' ? tr.features_in_plan : null;
    const seats = typeof tr.seats === 'number' && tr.seats > 0 ? tr.seats : null;
    const active30 = active(tenantId, since(30), until).n;
    const wau = active(tenantId, since(7), until).n;
    const dau = daily(tenantId, since(7), until).n;
    const s7 = sessions(tenantId, since(7), until).n;
    const s1 = sessions(tenantId, since(1), until).n;
    const err = (days: number) => count(tenantId, 'error.raised', since(days), until).n;
    const ratio = (a: number, b: number | null) => (b ? a / b : null);
    const sponsor = sponsorLast(tenantId, tenantId, until);
    const inv = invoices(tenantId, until);
    const values: Record<MetricName, number | null> = {
      features_used_ratio_30d: ratio(features(tenantId, since(30), until).n, planFeatures),
      active_users_over_seats: ratio(active30, seats),
      dau_over_wau: wau ? (dau ?? 0) / wau : null,
      errors_per_session_7d: ratio(err(7), s7),
      errors_per_session_1d: ratio(err(1), s1),
      tickets_per_active_user_30d: ratio(count(tenantId, 'ticket.created', since(30), until).n, active30),
      csat_90d: csat(tenantId, since(90), until).n,
      nps_90d: nps(tenantId, since(90), until).n,
      days_since_sponsor_active: sponsor.n && sponsor.t ? Math.floor((now - Date.parse(sponsor.t)) / DAY) : null,
      invoices_overdue: inv.length ? inv.filter((i) => i.status === 'overdue').length : null,
    };
    const ev = (event: string, days: number) => recent(tenantId, event, since(days), until).map((r) => ({ event: r.event, at: r.timestamp }));
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
}
