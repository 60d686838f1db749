/**
 * Keeps health, lifecycle and alerts current. Two schedules:
 * - every `intervalMs` (default a minute), the tenants that received events since the last pass
 *   are re-evaluated: a spike shows within one interval;
 * - every `sweepMs` (default 5 minutes), every known tenant is, so time-based conditions (stalled
 *   onboarding, an inactive sponsor, an overdue invoice) fire for tenants that went quiet.
 * A sweep computes every tenant's metrics in a few grouped queries, then runs one health pass per
 * tenant (score, lifecycle, alerts share it), writes the day's health snapshots in one
 * transaction, and keeps the metric values as the cohort that cohort rules compare against.
 *
 * Several nodes may run an evaluator on one PostgreSQL database: every pass, incremental or sweep,
 * runs under one job lock ("evaluate", store/jobs.ts), so a pass runs on one node at a time and
 * the others skip it. The incremental pass's cursor lives in the job's row: the events' rowid up
 * to which tenants were evaluated. Rowids, not received_at: received_at is each node's wall clock
 * (skewed clocks would skip or repeat events), while the rowid is the database's one sequence.
 * A rowid is taken when a row is inserted, not when it commits, so on PostgreSQL the pass first
 * waits for the inserts in flight (`committedUpTo`): no lower rowid can commit after the cursor
 * passed it. On SQLite (one writer) rows commit in rowid order.
 */
import { sql } from 'kysely';
import type { KeelDb } from '../store/db.js';
import { defaultNode, runExclusive } from '../store/jobs.js';
import type { AlertService } from './alerts.js';
import type { LifecycleService } from './lifecycle.js';
import type { TenantMetrics } from './metrics.js';
import type { HealthService, TenantHealth } from './service.js';
import { SWEEP_CHUNK, type TenantReads } from './sweep-reads.js';

export interface PassResult {
  tenants: number;
  alerts: number;
  ms: number;
  /** The pass did not run here: another node was running one, or (timer passes) one ran on another node within half an interval. */
  skipped?: true;
}

export interface Evaluator {
  /** One pass over the tenants with new events; returns how many tenants were evaluated (0: none, or the pass ran elsewhere). */
  runOnce(now?: number): Promise<number>;
  /** The same pass, with what it did (`skipped`: another node was running a pass). */
  pass(now?: number): Promise<PassResult>;
  /** One pass over every known tenant. */
  sweep(now?: number): Promise<PassResult>;
  /** Stops the timers; resolves when the pass running (if any) has ended. */
  stop(): Promise<void>;
}

export interface EvaluatorOptions {
  intervalMs?: number;
  sweepMs?: number;
  /** The time passes use (tests inject a clock). */
  now?: () => number;
  /** Sweep once right away (default true: a restarted server catches up at once). */
  sweepOnStart?: boolean;
  onError?: (e: unknown) => void;
  /** Called after each sweep that ran here (the /metrics sweep histogram). */
  onSweep?: (r: PassResult) => void;
  /** This node's name in the job's row (default host:pid). */
  node?: string;
}

/** The evaluate job's state in keel_jobs: the incremental cursor, and when each kind of pass last ran (wall clock, any node). */
interface JobState {
  rowid: number;
  passAt?: string;
  sweptAt?: string;
}
const JOB = 'evaluate';

/**
 * The highest rowid below which every row has committed. PostgreSQL: SHARE mode waits for the
 * inserts in flight (and holds new ones back for as long as reading the maximum takes, an index
 * lookup); at most 5 s, else the pass fails and the next one tries again from the same cursor.
 */
async function committedUpTo(k: KeelDb): Promise<number> {
  const max = async (db: KeelDb['db']) =>
    Number(
      (
        await db
          .selectFrom('events')
          .select((eb) => eb.fn.max('rowid').as('m'))
          .executeTakeFirst()
      )?.m ?? 0,
    );
  if (k.dialect === 'sqlite') return max(k.db);
  return k.db.transaction().execute(async (trx) => {
    await sql`SET LOCAL lock_timeout = '5s'`.execute(trx);
    await sql`LOCK TABLE events IN SHARE MODE`.execute(trx);
    return max(trx);
  });
}

/**
 * `f` over `items`, `n` at a time. On an error no new item is started, the ones running finish,
 * then the error is thrown: nothing of a failed pass runs on after it (and after its job lock).
 */
async function inLanes<T>(items: readonly T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length) {
      try {
        await f(items[next++]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(n, items.length) }, lane));
  const err = results.find((r) => r.status === 'rejected');
  if (err) throw (err as PromiseRejectedResult).reason;
}

export function startEvaluator(
  k: KeelDb,
  services: { health: HealthService; lifecycle: LifecycleService; alerts: AlertService },
  {
    intervalMs = 60_000,
    sweepMs = 300_000,
    now: clock = Date.now,
    sweepOnStart = true,
    onError = (e: unknown) => console.error('keel: evaluation failed:', e),
    onSweep,
    node = defaultNode(),
  }: EvaluatorOptions = {},
): Evaluator {
  /** The tenants with events whose rowid is in (from, to]. */
  const changed = async (from: number, to: number) =>
    (
      await k.db
        .selectFrom('events')
        .select('group_id as id')
        .distinct()
        .where('rowid', '>', from)
        .where('rowid', '<=', to)
        .where('group_id', 'is not', null)
        .execute()
    ).map((r) => r.id!);
  // Tenants evaluated at once: SQLite has one connection; PostgreSQL leaves the job's lock and one more connection free.
  const lanes = k.pool ? Math.min(8, Math.max(1, (k.pool.options.max ?? 10) - 2)) : 1;
  let cohort: Map<string, TenantMetrics['values']> | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const warned = new Set<string>();

  /** One health pass per tenant, shared by the snapshot, the lifecycle and the alerts. */
  async function evaluate(tenants: readonly string[], now: number, values: Map<string, TenantMetrics['values']> | undefined) {
    if (!tenants.length) return 0; // nothing changed: not even the cohort is read
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
    // …then each tenant's lifecycle and alerts, from its one health pass (on PostgreSQL several
    // tenants at once: a tenant's few queries are round trips, and the pool has the connections).
    // Their per-tenant reads are made per chunk of tenants, in a few grouped queries (sweep-reads.ts).
    for (let i = 0; i < passes.length; i += SWEEP_CHUNK) {
      const chunk = passes.slice(i, i + SWEEP_CHUNK);
      const reads = await services.lifecycle.prepare(
        chunk.map((p) => p.tenantId),
        now,
        chunk[0],
      );
      await inLanes(chunk, lanes, async (health) => step(health, reads.get(health.tenantId)));
    }
    await services.health.snapshot(passes);
    cohort = pass;
    return fired;

    async function step(health: TenantHealth, pre: TenantReads | undefined) {
      const t = health.tenantId;
      const context = await services.lifecycle.context(t, now, health, pre);
      const lifecycle = await services.lifecycle.evaluate(t, now, health, context, pre);
      const known = { health, lifecycle, cohort: pass, ...(context ? { context: lifecycle ? { ...context, lifecycle: lifecycle.state } : context } : {}) };
      const n = (await services.alerts.evaluate(t, now, known)).length;
      fired += n; // not `fired += await …`: that reads `fired` before the await, and lanes interleave
      if (values && t === tenants[0]) {
        // A rule that can't fire says so once per reason, not silently.
        for (const v of await services.alerts.explain(t, now, known)) {
          const why =
            typeof v.detail.explanation === 'string' && v.detail.explanation.startsWith('cohort too small') && !('fallback' in v.detail)
              ? v.detail.explanation
              : undefined;
          if (why && !warned.has(`${v.alert}:${why}`)) {
            warned.add(`${v.alert}:${why}`);
            console.warn(`keel: alert ${v.alert} cannot fire: ${why}`);
          }
        }
      }
    }
  }

  // Passes never overlap: each waits for the one before it.
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const p = running.then(f, f);
    running = p.catch(() => undefined);
    return p;
  };

  const stateOf = (saved: string | null): JobState => (saved ? (JSON.parse(saved) as JobState) : { rowid: 0 });
  /** Whether a timer's pass is due: none ran (on any node) within half its interval. Passes asked for directly always are. */
  const due = (last: string | undefined, everyMs: number | undefined) => everyMs === undefined || !last || Date.now() - Date.parse(last) >= everyMs / 2;

  const incremental = (now: number, everyMs?: number) =>
    serial(async () => {
      const start = performance.now();
      const r = await runExclusive(k, JOB, node, async (job) => {
        const st = stateOf(job.state);
        if (!due(st.passAt, everyMs)) return undefined;
        const upTo = await committedUpTo(k);
        const tenants = upTo > st.rowid ? await changed(st.rowid, upTo) : [];
        const alerts = await evaluate(tenants, now, undefined);
        job.save(JSON.stringify({ ...st, rowid: upTo, passAt: new Date().toISOString() }));
        return { tenants: tenants.length, alerts };
      });
      return r.ran && r.value
        ? { ...r.value, ms: performance.now() - start }
        : { tenants: 0, alerts: 0, ms: performance.now() - start, skipped: true as const };
    });

  const fullSweep = (now: number, everyMs?: number) =>
    serial(async () => {
      const start = performance.now();
      const r = await runExclusive(k, JOB, node, async (job) => {
        const st = stateOf(job.state);
        if (!due(st.sweptAt, everyMs)) return undefined;
        const values = await services.health.allMetrics(now);
        cohort = values;
        // Every tenant with an attributed event: the metrics read them all.
        const tenants = [...values.keys()];
        const alerts = await evaluate(tenants, now, values);
        job.save(JSON.stringify({ ...st, sweptAt: new Date().toISOString() }));
        return { tenants: tenants.length, alerts };
      });
      if (!r.ran || !r.value) return { tenants: 0, alerts: 0, ms: performance.now() - start, skipped: true as const };
      const out = { ...r.value, ms: performance.now() - start };
      onSweep?.(out);
      return out;
    });

  const pass = (now = clock()) => incremental(now);
  const runOnce = async (now = clock()) => (await incremental(now)).tenants;
  const sweep = (now = clock()) => fullSweep(now);

  const timer = setInterval(() => void incremental(clock(), intervalMs).catch(onError), intervalMs);
  timer.unref();
  const sweeper = setInterval(() => void fullSweep(clock(), sweepMs).catch(onError), sweepMs);
  sweeper.unref();
  // The first sweep right away: a restarted server catches up on quiet tenants without waiting.
  const first = sweepOnStart ? setImmediate(() => void sweep().catch(onError)) : undefined;
  return {
    runOnce,
    pass,
    sweep,
    stop: () => {
      if (first) clearImmediate(first);
      clearInterval(timer);
      clearInterval(sweeper);
      // Awaitable: a pass still running holds the job's row lock and queries the database; close
      // the database (or drop its schema) after it, or the two wait on each other.
      return running.then(() => undefined);
    },
  };
}
