/**
 * Health metrics of tenants, computed from their stored events, on SQLite or PostgreSQL (the
 * repository layer: JSON through the dialect's helpers, db.ts). Each metric is a number, or null
 * when the tenant has no data for it (the component's `missing` policy decides). The list and the
 * definition of each live in sdk-core (`METRICS`), shared with the config validator and the JSON Schema.
 *
 * One set of grouped queries computes every metric, either for one tenant (`group_id = ?`, by
 * the tenant/time index) or for every tenant at once (the sweep: a handful of scans instead of
 * tenants × metrics queries). Both paths run the same SQL, so they cannot disagree; each query is
 * built and compiled once per dialect and path (`reusable`), not once per call.
 */
import { METRIC_NAMES, type MetricName } from '@keel/sdk-core/engine';
import { type ExpressionBuilder, sql } from 'kysely';
import { compiledOnce, eachRow, type KeelDb, reusable, type Schema } from '../store/db.js';

export { METRIC_NAMES as METRICS, type MetricName };

const DAY = 86_400_000;

export interface TenantMetrics {
  values: Record<MetricName, number | null>;
  evidence: Partial<Record<MetricName, { event: string; at: string }[]>>;
}

interface Windows {
  now: string;
  s1: string;
  s7: string;
  s30: string;
  s90: string;
  week: string;
}

/** The windows every metric is computed over; `week` is the start of the 7 UTC calendar days ending today. */
function windows(now: number): Windows {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    now: iso(now),
    s1: iso(now - DAY),
    s7: iso(now - 7 * DAY),
    s30: iso(now - 30 * DAY),
    s90: iso(now - 90 * DAY),
    week: iso(Math.floor(now / DAY) * DAY - 6 * DAY),
  };
}

/** One tenant (`g`) or every attributed tenant (`g` absent: the sweep). */
const inScope = (g: string | undefined) => (eb: ExpressionBuilder<Schema, 'events'>) =>
  g === undefined ? eb('group_id', 'is not', null) : eb('group_id', '=', g);

// The grouped queries, written once for both dialects and both paths.
/** Each tenant's newest group call (its traits). */
const traitsQ = reusable((k, g: string | undefined) =>
  k.db
    .selectFrom((eb) =>
      eb
        .selectFrom('events')
        .where(inScope(g))
        .where('type', '=', 'group')
        .select(['group_id as g', 'payload', sql<number>`ROW_NUMBER() OVER (PARTITION BY group_id ORDER BY timestamp DESC, rowid DESC)`.as('rn')])
        .as('x'),
    )
    .select(['g', 'payload'])
    .where('rn', '=', 1),
) as (k: KeelDb, g: string | undefined) => Promise<{ g: string; payload: string }[]>;
/**
 * Every event of the last 90 days, read once: activity, features, errors, sessions, tickets, CSAT
 * and NPS are folded from these rows in JS (one read of each row instead of one per metric). `x`:
 * the feature used or the session action (text); `n`: a CSAT/NPS score (a JSON number, else null).
 */
const recentQ = compiledOnce((k, g: string | undefined, s90: string, now: string) =>
  k.db
    .selectFrom('events')
    .where(inScope(g))
    .where('timestamp', '>=', s90)
    .where('timestamp', '<=', now)
    .select((eb) => [
      'group_id as g',
      eb.fn.coalesce('user_id', 'anonymous_id').as('u'),
      'event',
      'timestamp as ts',
      eb
        .case()
        .when('event', '=', 'feature.used')
        .then(k.sql.jsonText('payload', 'properties', 'feature'))
        .when('event', '=', 'user.session')
        .then(k.sql.jsonText('payload', 'properties', 'action'))
        .end()
        .as('x'),
      eb
        .case()
        .when('event', 'in', ['csat.submitted', 'nps.submitted'])
        .then(k.sql.jsonNumber('payload', 'properties', 'score'))
        .end()
        .as('n'),
    ]),
);
/** A `recentQ` row, as `eachRow` hands it: the columns in select order. */
type RecentRow = [g: string, u: string | null, event: string | null, ts: string, x: unknown, n: number | null];
/** Sponsors: users the tenant's own identify calls (which carry context.groupId) mark role = sponsor; their newest event. */
const sponsorsQ = reusable((k, g: string | undefined, now: string) =>
  k.db
    .selectFrom((eb) =>
      eb
        .selectFrom('events')
        .where(inScope(g))
        .where('type', '=', 'identify')
        .where('user_id', 'is not', null)
        .where(k.sql.jsonText('payload', 'traits', 'role'), '=', 'sponsor')
        .select(['group_id as g', 'user_id'])
        .distinct()
        .as('s'),
    )
    .leftJoin('events as e', (j) => j.onRef('e.group_id', '=', 's.g').onRef('e.user_id', '=', 's.user_id').on('e.timestamp', '<=', now))
    .select((eb) => ['s.g as g', eb.fn.count<number>('s.user_id').distinct().as('n'), eb.fn.max('e.timestamp').as('t')])
    .groupBy('s.g'),
) as (k: KeelDb, g: string | undefined, now: string) => Promise<{ g: string; n: number; t: string | null }[]>;
/** Invoices: each invoice's newest billing.invoice event (by invoice id, else the message), how many are overdue. */
const invoicesQ = reusable((k, g: string | undefined, now: string) =>
  k.db
    .selectFrom((eb) =>
      eb
        .selectFrom('events')
        .where(inScope(g))
        .where('event', '=', 'billing.invoice')
        .where('timestamp', '<=', now)
        .select([
          'group_id as g',
          k.sql.jsonText('payload', 'properties', 'status').as('status'),
          sql<number>`ROW_NUMBER() OVER (PARTITION BY group_id, COALESCE(${k.sql.jsonText('payload', 'properties', 'invoice')}, ${k.sql.jsonText('payload', 'properties', 'invoiceId')}, message_id) ORDER BY timestamp DESC, rowid DESC)`.as(
            'rn',
          ),
        ])
        .as('x'),
    )
    .where('rn', '=', 1)
    .select((eb) => ['g', eb.fn.countAll<number>().as('n'), eb.fn.sum<number>(eb.case().when('status', '=', 'overdue').then(1).else(0).end()).as('overdue')])
    .groupBy('g'),
) as (k: KeelDb, g: string | undefined, now: string) => Promise<{ g: string; n: number; overdue: number | null }[]>;
const tenantsQ = reusable((k) => k.db.selectFrom('events').select('group_id as g').distinct().where('group_id', 'is not', null)) as (
  k: KeelDb,
) => Promise<{ g: string }[]>;
/** The newest three events of a name in a window: a metric's evidence. */
const evidenceQ = reusable((k, g: string, event: string, since: string, until: string) =>
  k.db
    .selectFrom('events')
    .select(['event', 'timestamp'])
    .where('group_id', '=', g)
    .where('event', '=', event)
    .where('timestamp', '>=', since)
    .where('timestamp', '<=', until)
    .orderBy('timestamp', 'desc')
    .limit(3),
) as (k: KeelDb, g: string, event: string, since: string, until: string) => Promise<{ event: string; timestamp: string }[]>;

/** What the 90-day rows add up to for one tenant. */
interface Fold {
  users30: Set<string>;
  usersWeek: Set<string>;
  userDays: Set<string>;
  features: Set<unknown>;
  e7: number;
  e1: number;
  t30: number;
  ss7: number;
  ss1: number;
  csatSum: number;
  csatN: number;
  npsN: number;
  promoters: number;
  detractors: number;
}
const fold = (): Fold => ({
  users30: new Set(),
  usersWeek: new Set(),
  userDays: new Set(),
  features: new Set(),
  e7: 0,
  e1: 0,
  t30: 0,
  ss7: 0,
  ss1: 0,
  csatSum: 0,
  csatN: 0,
  npsN: 0,
  promoters: 0,
  detractors: 0,
});

/** Folds the 90-day rows of every tenant the query reads, row by row (arrays: 264k objects would cost as much as the read). */
async function foldRecent(k: KeelDb, tenant: string | undefined, w: Windows): Promise<Map<string, Fold>> {
  const out = new Map<string, Fold>();
  await eachRow(k, recentQ(k, tenant, w.s90, w.now), (row) => {
    const [g, u, event, ts, x, n] = row as RecentRow;
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
      case 'feature.used':
        if (in30 && x !== null) a.features.add(x);
        break;
      case 'error.raised':
        a.e7 += +in7;
        a.e1 += +in1;
        break;
      case 'ticket.created':
        a.t30 += +in30;
        break;
      case 'user.session':
        if (x === 'start') {
          a.ss7 += +in7;
          a.ss1 += +in1;
        }
        break;
      case 'csat.submitted':
        if (typeof n === 'number') {
          a.csatSum += n;
          a.csatN++;
        }
        break;
      case 'nps.submitted':
        a.npsN++;
        if (typeof n === 'number') {
          a.promoters += +(n >= 9);
          a.detractors += +(n <= 6);
        }
        break;
      default:
    }
  });
  return out;
}

/** Metric values for every tenant named (tenants with no row in a query get its "no data" value). `g`: one tenant, else all. */
async function compute(
  k: KeelDb,
  g: string | undefined,
  w: Windows,
  tenants: () => Promise<Iterable<string>>,
  now: number,
): Promise<Map<string, TenantMetrics['values']>> {
  const by = <R extends { g: string }>(rows: R[]) => new Map(rows.map((r) => [r.g, r]));
  // Independent reads, issued together (a pool runs them at once; SQLite's one connection in turn).
  const [traitRows, recent, sponsorRows, invoiceRows, names] = await Promise.all([
    traitsQ(k, g),
    foldRecent(k, g, w),
    sponsorsQ(k, g, w.now),
    invoicesQ(k, g, w.now),
    tenants(),
  ]);
  const traits = by(traitRows);
  const none = fold();
  const sponsors = by(sponsorRows);
  const invoices = by(invoiceRows);
  const ratio = (a: number, b: number | null) => (b ? a / b : null);
  const out = new Map<string, TenantMetrics['values']>();
  for (const t of names) {
    const tp = traits.get(t);
    const tr = (tp ? (JSON.parse(tp.payload) as { traits?: Record<string, unknown> }).traits : undefined) ?? {};
    const planFeatures = Array.isArray(tr.plan_features) ? tr.plan_features.length : typeof tr.features_in_plan === 'number' ? tr.features_in_plan : null;
    const seats = typeof tr.seats === 'number' && tr.seats > 0 ? tr.seats : null;
    const c = recent.get(t) ?? none;
    const s = sponsors.get(t);
    const inv = invoices.get(t);
    const active30 = c.users30.size;
    const wau = c.usersWeek.size;
    out.set(t, {
      features_used_ratio_30d: ratio(c.features.size, planFeatures),
      active_users_over_seats: ratio(active30, seats),
      // Σ over the 7 days of each day's distinct users = distinct (day, user) pairs; quiet days add 0.
      dau_over_wau: wau ? c.userDays.size / 7 / wau : null,
      errors_per_session_7d: ratio(c.e7, c.ss7),
      errors_per_session_1d: ratio(c.e1, c.ss1),
      tickets_per_active_user_30d: ratio(c.t30, active30),
      csat_90d: c.csatN ? c.csatSum / c.csatN : null,
      nps_90d: c.npsN ? (100 * (c.promoters - c.detractors)) / c.npsN : null,
      days_since_sponsor_active: s && Number(s.n) && s.t ? Math.floor((now - Date.parse(s.t)) / DAY) : null,
      invoices_overdue: inv && Number(inv.n) ? Number(inv.overdue ?? 0) : null,
    });
  }
  return out;
}

export interface MetricsQuery {
  /** One tenant's metrics now, with the recent events behind them (the explanation). */
  (tenantId: string, now?: number): Promise<TenantMetrics>;
  /** Every known tenant's metric values (no evidence): one grouped query per metric family. */
  all(now?: number): Promise<Map<string, TenantMetrics['values']>>;
}

/** Each metric's evidence: the newest events of the name behind it, over its window (days). */
const EVIDENCE: readonly [MetricName, string, number][] = [
  ['errors_per_session_7d', 'error.raised', 7],
  ['errors_per_session_1d', 'error.raised', 1],
  ['tickets_per_active_user_30d', 'ticket.created', 30],
  ['csat_90d', 'csat.submitted', 90],
  ['nps_90d', 'nps.submitted', 90],
  ['invoices_overdue', 'billing.invoice', 365],
  ['features_used_ratio_30d', 'feature.used', 30],
];

export function tenantMetricsQuery(k: KeelDb): MetricsQuery {
  const forTenant = async (tenantId: string, now = Date.now()): Promise<TenantMetrics> => {
    const w = windows(now);
    const since = (days: number) => new Date(now - days * DAY).toISOString();
    const [values, ...found] = await Promise.all([
      compute(k, tenantId, w, async () => [tenantId], now).then((m) => m.get(tenantId)!),
      ...EVIDENCE.map(([, event, days]) => evidenceQ(k, tenantId, event, since(days), w.now)),
    ]);
    const evidence: TenantMetrics['evidence'] = {};
    EVIDENCE.forEach(([metric], i) => (evidence[metric] = found[i]!.map((r) => ({ event: r.event, at: r.timestamp }))));
    return { values, evidence };
  };
  return Object.assign(forTenant, {
    all: (now = Date.now()) => compute(k, undefined, windows(now), async () => (await tenantsQ(k)).map((r) => r.g), now),
  });
}
