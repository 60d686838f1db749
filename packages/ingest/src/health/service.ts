/**
 * One health pass per tenant (`tenantHealth`): metrics and score computed once, then shared by
 * the health endpoint, the lifecycle (proofs that read metrics or the health band) and alerts.
 * Reading a report never writes: the daily snapshots behind the trend are written by the sweep
 * (`snapshot`), so a GET is free of side effects.
 */
import type { HealthReport } from '@keel/sdk-core/engine';
import { type KeelDb, reusable } from '../store/db.js';
import type { ConfigStore } from '../store/state-types.js';
import { configCache, type CurrentConfig } from './config-cache.js';
import { type MetricsQuery, type TenantMetrics, tenantMetricsQuery } from './metrics.js';
import { scoreHealth } from './score.js';

export type { HealthReport };

/**
 * A health pass's report: the endpoint's `HealthReport` without the daily history, which only
 * `report()` reads (the sweep, lifecycle and alerts use the score and the week-over-week change).
 */
export type PassReport = Omit<HealthReport, 'trend'> & { trend: Pick<HealthReport['trend'], 'wow'> };

/** A tenant's health at one instant: what every consumer of metrics and score reads. */
export interface TenantHealth {
  tenantId: string;
  now: number;
  /** The published config this pass used; undefined before the first publish. */
  config: CurrentConfig | undefined;
  metrics: TenantMetrics;
  /** The scored report; undefined when the published config has no health model. */
  report: PassReport | undefined;
}

export interface HealthService {
  /**
   * The tenant's one health pass now. `values`: its metric values when the caller already has them
   * (the sweep computes every tenant's in grouped queries); the report then has no event evidence.
   */
  tenantHealth(tenantId: string, now?: number, values?: TenantMetrics['values'], config?: CurrentConfig): Promise<TenantHealth>;
  /** The published config every pass of a sweep shares (read once per sweep, not per tenant). */
  currentConfig(): Promise<CurrentConfig | undefined>;
  /**
   * Computes the tenant's health now from its events and the published model, with its history;
   * undefined without one. Read-only. `config`: the published config the caller already read (so
   * what it says of the report comes from the same version).
   */
  report(tenantId: string, now?: number, config?: CurrentConfig): Promise<HealthReport | undefined>;
  /** Every known tenant's metric values now (grouped queries), for the sweep and cohort rules. */
  allMetrics(now?: number): Promise<Map<string, TenantMetrics['values']>>;
  /** Stores each pass's score as its tenant's snapshot of the day (one transaction). */
  snapshot(passes: readonly TenantHealth[]): Promise<void>;
}

const DAY = 86_400_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** Rows per snapshot upsert statement: 7 parameters each, far below either dialect's limit. */
const CHUNK = 500;

type Snap = { day: string; score: number };
// The queries, written once for both dialects (see `reusable`).
const historyQ = reusable((k, tenantId: string, from: string, to: string) =>
  k.db
    .selectFrom('health_snapshots')
    .select(['day', 'score', 'band'])
    .where('tenant_id', '=', tenantId)
    .where('day', '>=', from)
    .where('day', '<=', to)
    .orderBy('day'),
) as (k: KeelDb, t: string, from: string, to: string) => Promise<HealthReport['trend']['history']>;
// Week-over-week: the snapshots 6–8 days old (at most three per tenant), the nearest to 7 days picked in JS.
const weekAgoQ = reusable((k, tenantId: string, from: string, to: string) =>
  k.db.selectFrom('health_snapshots').select(['day', 'score']).where('tenant_id', '=', tenantId).where('day', '>=', from).where('day', '<=', to),
) as (k: KeelDb, t: string, from: string, to: string) => Promise<Snap[]>;
// The sweep reads every tenant's in one query (once per day range), not one per tenant.
const weekAgoAllQ = reusable((k, from: string, to: string) =>
  k.db.selectFrom('health_snapshots').select(['tenant_id as t', 'day', 'score']).where('day', '>=', from).where('day', '<=', to),
) as (k: KeelDb, from: string, to: string) => Promise<(Snap & { t: string })[]>;

/** The snapshot nearest to `target` (an ISO day); of two as near, the older. */
const nearest = <S extends Snap>(a: S | undefined, b: S, target: number): S => {
  if (!a) return b;
  const d = (s: S) => Math.abs(Date.parse(s.day) - target);
  return d(b) < d(a) || (d(b) === d(a) && b.day < a.day) ? b : a;
};

export function healthService(k: KeelDb, config: ConfigStore): HealthService {
  const metricsOf: MetricsQuery = tenantMetricsQuery(k);
  const cache = configCache(config);
  let weekAgoMemo: { key: string; byTenant: Promise<Map<string, Snap>> } | undefined;
  const weekAgoOf = async (tenantId: string, now: number, bulk: boolean): Promise<Snap | undefined> => {
    const from = dayOf(now - 8 * DAY);
    const to = dayOf(now - 6 * DAY);
    const target = Date.parse(dayOf(now - 7 * DAY));
    if (!bulk) return (await weekAgoQ(k, tenantId, from, to)).reduce<Snap | undefined>((a, b) => nearest(a, b, target), undefined);
    const key = `${from},${to}`;
    if (weekAgoMemo?.key !== key) {
      weekAgoMemo = {
        key,
        byTenant: weekAgoAllQ(k, from, to).then((rows) => {
          const m = new Map<string, Snap>();
          for (const r of rows) m.set(r.t, nearest(m.get(r.t), r, target));
          return m;
        }),
      };
      weekAgoMemo.byTenant.catch(() => (weekAgoMemo = undefined)); // a failed read is read again next time
    }
    return (await weekAgoMemo.byTenant).get(tenantId);
  };

  async function tenantHealth(tenantId: string, now = Date.now(), values?: TenantMetrics['values'], config?: CurrentConfig): Promise<TenantHealth> {
    const current = config ?? (await cache.current());
    const model = current?.config.health;
    if (!current || !model)
      return { tenantId, now, config: current, metrics: values ? { values, evidence: {} } : await metricsOf(tenantId, now), report: undefined };
    const [metrics, prev] = await Promise.all([values ? { values, evidence: {} } : metricsOf(tenantId, now), weekAgoOf(tenantId, now, values !== undefined)]);
    const score = scoreHealth(model, metrics.values, metrics.evidence);
    const wow = prev
      ? {
          points: Math.round((score.score - prev.score) * 10) / 10,
          percent: prev.score ? Math.round(((score.score - prev.score) / prev.score) * 1000) / 10 : null,
          against: prev.day,
        }
      : null;
    const report: PassReport = {
      tenantId,
      configVersion: current.version,
      computedAt: new Date(now).toISOString(),
      ...score,
      metrics: metrics.values,
      trend: { wow },
    };
    return { tenantId, now, config: current, metrics, report };
  }

  return {
    tenantHealth,
    currentConfig: () => cache.current(),
    async report(tenantId, now = Date.now(), config) {
      const r = (await tenantHealth(tenantId, now, undefined, config)).report;
      if (!r) return undefined;
      // The history is read when the report is (the endpoint), not on every sweep step.
      return { ...r, trend: { ...r.trend, history: await historyQ(k, tenantId, dayOf(now - 29 * DAY), dayOf(now)) } };
    },
    allMetrics: (now = Date.now()) => metricsOf.all(now),
    async snapshot(passes) {
      const rows = passes.flatMap((p) => {
        const r = p.report;
        return r
          ? [
              {
                tenant_id: p.tenantId,
                day: dayOf(p.now),
                score: r.score,
                band: r.band,
                coverage: r.coverage,
                components: JSON.stringify(r.components),
                computed_at: r.computedAt,
              },
            ]
          : [];
      });
      if (!rows.length) return;
      await k.db.transaction().execute(async (trx) => {
        for (let i = 0; i < rows.length; i += CHUNK) {
          // One statement per chunk of rows; the same tenant twice in one pass: the later wins (a chunk holds each once).
          await trx
            .insertInto('health_snapshots')
            .values(dedupe(rows.slice(i, i + CHUNK)))
            .onConflict((c) =>
              c.columns(['tenant_id', 'day']).doUpdateSet((eb) => ({
                score: eb.ref('excluded.score'),
                band: eb.ref('excluded.band'),
                coverage: eb.ref('excluded.coverage'),
                components: eb.ref('excluded.components'),
                computed_at: eb.ref('excluded.computed_at'),
              })),
            )
            .execute();
        }
      });
    },
  };
}

/** The last row of each (tenant, day): PostgreSQL refuses an upsert that touches one row twice. */
function dedupe<R extends { tenant_id: string; day: string }>(rows: R[]): R[] {
  const m = new Map<string, R>();
  for (const r of rows) m.set(`${r.tenant_id}\0${r.day}`, r);
  return m.size === rows.length ? rows : [...m.values()];
}
