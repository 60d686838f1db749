/**
 * One health pass per tenant (`tenantHealth`): metrics and score computed once, then shared by
 * the health endpoint, the lifecycle (proofs that read metrics or the health band) and alerts.
 * Reading a report never writes: the daily snapshots behind the trend are written by the sweep
 * (`snapshot`), so a GET is free of side effects.
 */
import type { HealthReport } from '@keel/sdk-core/engine';
import type Database from 'better-sqlite3';
import type { ConfigStore } from '../store/state-types.js';
import { configCache, type CurrentConfig } from './config-cache.js';
import { type MetricsQuery, type TenantMetrics, tenantMetricsQuery } from './metrics.js';
import { scoreHealth } from './score.js';

export type { HealthReport };

/** A tenant's health at one instant: what every consumer of metrics and score reads. */
export interface TenantHealth {
  tenantId: string;
  now: number;
  /** The published config this pass used; undefined before the first publish. */
  config: CurrentConfig | undefined;
  metrics: TenantMetrics;
  /** The scored report; undefined when the published config has no health model. */
  report: HealthReport | undefined;
}

export interface HealthService {
  /**
   * The tenant's one health pass now. `values`: its metric values when the caller already has them
   * (the sweep computes every tenant's in grouped queries); the report then has no event evidence.
   */
  tenantHealth(tenantId: string, now?: number, values?: TenantMetrics['values'], config?: CurrentConfig): Promise<TenantHealth>;
  /** The published config every pass of a sweep shares (read once per sweep, not per tenant). */
  currentConfig(): Promise<CurrentConfig | undefined>;
  /** Computes the tenant's health now from its events and the published model; undefined without one. Read-only. */
  report(tenantId: string, now?: number): Promise<HealthReport | undefined>;
  /** Every known tenant's metric values now (grouped queries), for the sweep and cohort rules. */
  allMetrics(now?: number): Map<string, TenantMetrics['values']>;
  /** Stores each pass's score as its tenant's snapshot of the day (one transaction). */
  snapshot(passes: readonly TenantHealth[]): void;
}

const DAY = 86_400_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function healthService(db: Database.Database, config: ConfigStore): HealthService {
  const metricsOf: MetricsQuery = tenantMetricsQuery(db);
  const cache = configCache(config);
  const upsert = db.prepare(`INSERT INTO health_snapshots (tenant_id, day, score, band, coverage, components, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (tenant_id, day) DO UPDATE SET score = excluded.score, band = excluded.band, coverage = excluded.coverage, components = excluded.components, computed_at = excluded.computed_at`);
  const history = db.prepare('SELECT day, score, band FROM health_snapshots WHERE tenant_id = ? AND day >= ? AND day <= ? ORDER BY day');
  // Week-over-week: the snapshot nearest to 7 days old among those 6–8 days old (a tie: the older).
  const weekAgo = db.prepare(`SELECT day, score FROM health_snapshots WHERE tenant_id = ? AND day >= ? AND day <= ?
    ORDER BY ABS(julianday(day) - julianday(?)), day LIMIT 1`);
  // The sweep reads every tenant's week-ago snapshot in one query (once per day range), not one per tenant.
  const weekAgoAll = db.prepare(`SELECT tenant_id AS t, day, score FROM health_snapshots WHERE day >= ? AND day <= ?
    ORDER BY tenant_id, ABS(julianday(day) - julianday(?)), day`);
  let weekAgoMemo: { key: string; byTenant: Map<string, { day: string; score: number }> } | undefined;
  const weekAgoOf = (tenantId: string, now: number, bulk: boolean) => {
    const range = [dayOf(now - 8 * DAY), dayOf(now - 6 * DAY), dayOf(now - 7 * DAY)] as const;
    if (!bulk) return weekAgo.get(tenantId, ...range) as { day: string; score: number } | undefined;
    const key = range.join();
    if (weekAgoMemo?.key !== key) {
      const byTenant = new Map<string, { day: string; score: number }>();
      for (const r of weekAgoAll.all(...range) as { t: string; day: string; score: number }[]) if (!byTenant.has(r.t)) byTenant.set(r.t, r);
      weekAgoMemo = { key, byTenant };
    }
    return weekAgoMemo.byTenant.get(tenantId);
  };
  const snapshotAll = db.transaction((passes: readonly TenantHealth[]) => {
    for (const p of passes) {
      const r = p.report;
      if (r) upsert.run(p.tenantId, dayOf(p.now), r.score, r.band, r.coverage, JSON.stringify(r.components), r.computedAt);
    }
  });

  async function tenantHealth(tenantId: string, now = Date.now(), values?: TenantMetrics['values'], config?: CurrentConfig): Promise<TenantHealth> {
    const current = config ?? (await cache.current());
    const metrics = values ? { values, evidence: {} } : metricsOf(tenantId, now);
    const model = current?.config.health;
    if (!current || !model) return { tenantId, now, config: current, metrics, report: undefined };
    const score = scoreHealth(model, metrics.values, metrics.evidence);
    const day = dayOf(now);
    const prev = weekAgoOf(tenantId, now, values !== undefined);
    const wow = prev
      ? { points: Math.round((score.score - prev.score) * 10) / 10, percent: prev.score ? Math.round(((score.score - prev.score) / prev.score) * 1000) / 10 : null, against: prev.day }
      : null;
    let days: HealthReport['trend']['history'] | undefined;
    const report: HealthReport = {
      tenantId, configVersion: current.version, computedAt: new Date(now).toISOString(), ...score, metrics: metrics.values,
      // The history is read when the report is (the endpoint), not on every sweep step.
      trend: Object.defineProperty({ wow } as HealthReport['trend'], 'history', {
        enumerable: true,
        get: () => (days ??= history.all(tenantId, dayOf(now - 29 * DAY), day) as HealthReport['trend']['history']),
      }),
    };
    return { tenantId, now, config: current, metrics, report };
  }

  return {
    tenantHealth,
    currentConfig: () => cache.current(),
    async report(tenantId, now = Date.now()) {
      return (await tenantHealth(tenantId, now)).report;
    },
    allMetrics: (now = Date.now()) => metricsOf.all(now),
    snapshot: (passes) => snapshotAll(passes),
  };
}
