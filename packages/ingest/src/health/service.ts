import type Database from 'better-sqlite3';
import type { ConfigStore } from '../store/state-types.js';
import { tenantMetricsQuery } from './metrics.js';
import { type HealthModel, type HealthScore, scoreHealth } from './score.js';

export interface HealthReport extends HealthScore {
  tenantId: string;
  configVersion: number;
  computedAt: string;
  metrics: Record<string, number | null>;
  trend: {
    /** Score change against the snapshot of 7 days before, in points and percent. */
    wow: { points: number; percent: number | null } | null;
    /** Daily snapshots, oldest first, up to 30 days. */
    history: { day: string; score: number; band: string }[];
  };
}

export interface HealthService {
  /** Computes the tenant's health now from its events and the published model; undefined without one. */
  report(tenantId: string, now?: number): Promise<HealthReport | undefined>;
}

const DAY = 86_400_000;

export function healthService(db: Database.Database, config: ConfigStore): HealthService {
  const metricsOf = tenantMetricsQuery(db);
  const upsert = db.prepare(`INSERT INTO health_snapshots (tenant_id, day, score, band, coverage, components, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (tenant_id, day) DO UPDATE SET score = excluded.score, band = excluded.band, coverage = excluded.coverage, components = excluded.components, computed_at = excluded.computed_at`);
  const history = db.prepare('SELECT day, score, band FROM health_snapshots WHERE tenant_id = ? AND day >= ? AND day <= ? ORDER BY day');
  const onDay = db.prepare('SELECT score FROM health_snapshots WHERE tenant_id = ? AND day = ?');
  let cached: { version: number; model: HealthModel | undefined } | undefined;

  return {
    async report(tenantId, now = Date.now()) {
      const latest = await config.latest();
      if (!latest) return undefined;
      if (cached?.version !== latest.version) cached = { version: latest.version, model: (JSON.parse(latest.document) as { health?: HealthModel }).health };
      const model = cached.model;
      if (!model) return undefined;
      const m = metricsOf(tenantId, now);
      const score = scoreHealth(model, m.values, m.evidence);
      const day = new Date(now).toISOString().slice(0, 10);
      const computedAt = new Date(now).toISOString();
      upsert.run(tenantId, day, score.score, score.band, score.coverage, JSON.stringify(score.components), computedAt);
      const weekAgo = onDay.get(tenantId, new Date(now - 7 * DAY).toISOString().slice(0, 10)) as { score: number } | undefined;
      const wow = weekAgo
        ? { points: Math.round((score.score - weekAgo.score) * 10) / 10, percent: weekAgo.score ? Math.round(((score.score - weekAgo.score) / weekAgo.score) * 1000) / 10 : null }
        : null;
      return {
        tenantId, configVersion: latest.version, computedAt, ...score, metrics: m.values,
        trend: { wow, history: history.all(tenantId, new Date(now - 29 * DAY).toISOString().slice(0, 10), day) as HealthReport['trend']['history'] },
      };
    },
  };
}
