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

function statements(db: Database.Database, f: string) {
  const p = (sql: string) => db.prepare(sql);
  return {
    traits: p(`SELECT g, payload FROM (SELECT group_id AS g, payload, ROW_NUMBER() OVER (PARTITION BY group_id ORDER BY timestamp DESC, rowid DESC) AS rn
        FROM events WHERE ${f} AND type = 'group') WHERE rn = 1`),
    // Every event of the last 90 days, read once: activity, features, errors, sessions, tickets,
    // CSAT and NPS are folded from these rows in JS (one read of each row instead of one per metric).
    recent: p(`SELECT group_id AS g, COALESCE(user_id, anonymous_id) AS u, event, timestamp AS ts,
          CASE WHEN event = 'feature.used' THEN json_extract(payload, '$.properties.feature')
               WHEN event = 'user.session' THEN json_extract(payload, '$.properties.action')
               WHEN event IN ('csat.submitted', 'nps.submitted') THEN json_extract(payload, '$.properties.score') END AS x
        FROM events WHERE ${f} AND timestamp >= @s90 AND timestamp <= @now`).raw(),
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

/** What the 90-day rows add up to for one tenant. */
interface Fold {
  users30: Set<string>; usersWeek: Set<string>; userDays: Set<string>; features: Set<unknown>;
  e7: number; e1: number; t30: number; ss7: number; ss1: number; csatSum: number; csatN: number; npsN: number; promoters: number; detractors: number;
}
const fold = (): Fold => ({
  users30: new Set(), usersWeek: new Set(), userDays: new Set(), features: new Set(),
  e7: 0, e1: 0, t30: 0, ss7: 0, ss1: 0, csatSum: 0, csatN: 0, npsN: 0, promoters: 0, detractors: 0,
});

function foldRecent(rows: Iterable<unknown>, w: Windows): Map<string, Fold> {
  const out = new Map<string, Fold>();
  for (const row of rows) {
    const [g, u, event, ts, x] = row as [string, string | null, string | null, string, unknown];
    let a = out.get(g);
    if (!a) out.set(g, (a = fold()));
    const in30 = ts >= w.s30;
    const in7 = ts >= w.s7;
    const in1 = ts >= w.s1;
    if (u !== null) {
      if (in30) a.users30.add(u);
      if (ts >= w.week) {
        a.usersWeek.add(u);
        a.userDays.add(`${ts.slice(0, 10)}\0${u}`);
      }
    }
    switch (event) {
      case 'feature.used': if (in30 && x !== null) a.features.add(x); break;
      case 'error.raised': a.e7 += +in7; a.e1 += +in1; break;
      case 'ticket.created': a.t30 += +in30; break;
      case 'user.session': if (x === 'start') { a.ss7 += +in7; a.ss1 += +in1; } break;
      case 'csat.submitted': if (typeof x === 'number') { a.csatSum += x; a.csatN++; } break;
      case 'nps.submitted':
        a.npsN++;
        if (typeof x === 'number') { a.promoters += +(x >= 9); a.detractors += +(x <= 6); }
        break;
      default:
    }
  }
  return out;
}

/** Metric values for every tenant the rows name (tenants with no row in a query get its "no data" value). */
function compute(st: ReturnType<typeof statements>, params: Windows & { g?: string }, tenants: Iterable<string>, now: number): Map<string, TenantMetrics['values']> {
  const by = (rows: unknown[]) => new Map((rows as Row[]).map((r) => [r.g, r]));
  const traits = by(st.traits.all(params));
  const recent = foldRecent(st.recent.iterate(params), params);
  const none = fold();
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
    const c = recent.get(g) ?? none;
    const s = sponsors.get(g);
    const inv = invoices.get(g);
    const active30 = c.users30.size;
    const wau = c.usersWeek.size;
    out.set(g, {
      features_used_ratio_30d: ratio(c.features.size, planFeatures),
      active_users_over_seats: ratio(active30, seats),
      // Σ over the 7 days of each day's distinct users = distinct (day, user) pairs; quiet days add 0.
      dau_over_wau: wau ? c.userDays.size / 7 / wau : null,
      errors_per_session_7d: ratio(c.e7, c.ss7),
      errors_per_session_1d: ratio(c.e1, c.ss1),
      tickets_per_active_user_30d: ratio(c.t30, active30),
      csat_90d: c.csatN ? c.csatSum / c.csatN : null,
      nps_90d: c.npsN ? (100 * (c.promoters - c.detractors)) / c.npsN : null,
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
