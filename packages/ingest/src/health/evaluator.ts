/**
 * Keeps health, lifecycle and alerts current. Two schedules:
 * - every `intervalMs` (default a minute), the tenants that received events since the last pass
 *   are re-evaluated: a spike shows within one interval;
 * - every `sweepMs` (default 5 minutes), every known tenant is, so time-based conditions (stalled
 *   onboarding, an inactive sponsor, an overdue invoice) fire for tenants that went quiet.
 * A sweep computes every tenant's metrics in a few grouped queries, then runs one health pass per
 * tenant (score, lifecycle, alerts share it), writes the day's health snapshots in one
 * transaction, and keeps the metric values as the cohort that cohort rules compare against.
 */
import type Database from 'better-sqlite3';
import type { AlertService } from './alerts.js';
import type { LifecycleService } from './lifecycle.js';
import type { TenantMetrics } from './metrics.js';
import type { HealthService, TenantHealth } from './service.js';

export interface PassResult {
  tenants: number;
  alerts: number;
  ms: number;
}

export interface Evaluator {
  /** One pass over the tenants with new events; returns how many tenants were evaluated. */
  runOnce(now?: number): Promise<number>;
  /** One pass over every known tenant. */
  sweep(now?: number): Promise<PassResult>;
  stop(): void;
}

export interface EvaluatorOptions {
  intervalMs?: number;
  sweepMs?: number;
  /** The time passes use (tests inject a clock). */
  now?: () => number;
  /** Sweep once right away (default true: a restarted server catches up at once). */
  sweepOnStart?: boolean;
  onError?: (e: unknown) => void;
  /** Called after each sweep (the /metrics sweep histogram). */
  onSweep?: (r: PassResult) => void;
}

export function startEvaluator(
  db: Database.Database | { prepare: Database.Database['prepare'] },
  services: { health: HealthService; lifecycle: LifecycleService; alerts: AlertService },
  { intervalMs = 60_000, sweepMs = 300_000, now: clock = Date.now, sweepOnStart = true, onError = (e: unknown) => console.error('keel: evaluation failed:', e), onSweep }: EvaluatorOptions = {},
): Evaluator {
  const changed = db.prepare('SELECT DISTINCT group_id AS id FROM events WHERE group_id IS NOT NULL AND received_at > ?');
  const known = db.prepare('SELECT DISTINCT group_id AS id FROM events WHERE group_id IS NOT NULL');
  let since = new Date(0).toISOString();
  let cohort: Map<string, TenantMetrics['values']> | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const warned = new Set<string>();

  /** One health pass per tenant, shared by the snapshot, the lifecycle and the alerts. */
  async function evaluate(tenants: readonly string[], now: number, values: Map<string, TenantMetrics['values']> | undefined) {
    const passes: TenantHealth[] = [];
    let fired = 0;
    // A new map per pass: cohort rules cache sorted values per map, so a map is never changed after use.
    const pass = values ?? new Map(cohort ?? (await services.health.allMetrics(now)));
    // First every tenant's health (the cohort is complete before any rule compares with it)…
    const config = await services.health.currentConfig();
    for (const t of tenants) {
      const health = await services.health.tenantHealth(t, now, values?.get(t), config);
      if (!values) pass.set(t, health.metrics.values);
      passes.push(health);
    }
    // …then each tenant's lifecycle and alerts, from its one health pass.
    for (const health of passes) {
      const t = health.tenantId;
      const context = await services.lifecycle.context(t, now, health);
      const lifecycle = await services.lifecycle.evaluate(t, now, health, context);
      const step = { health, lifecycle, cohort: pass, ...(context ? { context: lifecycle ? { ...context, lifecycle: lifecycle.state } : context } : {}) };
      fired += (await services.alerts.evaluate(t, now, step)).length;
      if (values && t === tenants[0]) {
        // A rule that can't fire says so once per reason, not silently.
        for (const v of await services.alerts.explain(t, now, step)) {
          const why = typeof v.detail.explanation === 'string' && v.detail.explanation.startsWith('cohort too small') && !('fallback' in v.detail) ? v.detail.explanation : undefined;
          if (why && !warned.has(`${v.alert}:${why}`)) {
            warned.add(`${v.alert}:${why}`);
            console.warn(`keel: alert ${v.alert} cannot fire: ${why}`);
          }
        }
      }
    }
    await services.health.snapshot(passes);
    cohort = pass;
    return fired;
  }

  // Passes never overlap: each waits for the one before it.
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const p = running.then(f, f);
    running = p.catch(() => undefined);
    return p;
  };

  const runOnce = (now = clock()) => serial(async () => {
    const mark = new Date().toISOString(); // received_at is wall-clock time, whatever clock passes use
    const tenants = (changed.all(since) as { id: string }[]).map((r) => r.id);
    await evaluate(tenants, now, undefined);
    since = mark;
    return tenants.length;
  });

  const sweep = (now = clock()) => serial(async () => {
    const start = performance.now();
    const values = await services.health.allMetrics(now);
    cohort = values;
    const tenants = (known.all() as { id: string }[]).map((r) => r.id);
    const alerts = await evaluate(tenants, now, values);
    const r = { tenants: tenants.length, alerts, ms: performance.now() - start };
    onSweep?.(r);
    return r;
  });

  const timer = setInterval(() => void runOnce().catch(onError), intervalMs);
  timer.unref();
  const sweeper = setInterval(() => void sweep().catch(onError), sweepMs);
  sweeper.unref();
  // The first sweep right away: a restarted server catches up on quiet tenants without waiting.
  const first = sweepOnStart ? setImmediate(() => void sweep().catch(onError)) : undefined;
  return {
    runOnce, sweep,
    stop: () => {
      if (first) clearImmediate(first);
      clearInterval(timer);
      clearInterval(sweeper);
    },
  };
}
