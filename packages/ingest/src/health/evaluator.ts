/**
 * Keeps health, lifecycle and alerts current as events arrive: every interval, each tenant that
 * received events since the last pass is re-evaluated (health snapshot, lifecycle transitions,
 * alerts). Not a nightly batch: a spike shows within one interval (default a minute).
 */
import type Database from 'better-sqlite3';
import type { AlertService } from './alerts.js';
import type { LifecycleService } from './lifecycle.js';
import type { HealthService } from './service.js';

export interface Evaluator {
  /** One pass now; returns how many tenants were evaluated. */
  runOnce(now?: number): Promise<number>;
  stop(): void;
}

export function startEvaluator(
  db: Database.Database | { prepare: Database.Database['prepare'] },
  services: { health: HealthService; lifecycle: LifecycleService; alerts: AlertService },
  { intervalMs = 60_000, onError = (e: unknown) => console.error('keel: evaluation failed:', e) }: { intervalMs?: number; onError?: (e: unknown) => void } = {},
): Evaluator {
  const changed = db.prepare('SELECT DISTINCT group_id AS id FROM events WHERE group_id IS NOT NULL AND received_at > ?');
  let since = new Date(0).toISOString();
  let running = false;
  async function runOnce(now = Date.now()) {
    if (running) return 0;
    running = true;
    try {
      const mark = new Date(now).toISOString();
      const tenants = (changed.all(since) as { id: string }[]).map((r) => r.id);
      for (const t of tenants) {
        await services.health.report(t, now);
        await services.lifecycle.evaluate(t, now);
        await services.alerts.evaluate(t, now);
      }
      since = mark;
      return tenants.length;
    } finally {
      running = false;
    }
  }
  const timer = setInterval(() => void runOnce().catch(onError), intervalMs);
  timer.unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
