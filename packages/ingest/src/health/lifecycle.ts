/**
 * Lifecycle evaluation in the server: builds the tenant's rule context from its stored events,
 * facts, health metrics and checklist progress, advances the machine from its recorded state,
 * and records every transition with its evidence, the config version and the time.
 */
import { advance, allows, type LifecycleModel, matchWhere, type RuleContext, type Transition } from '@keel/sdk-core/engine';
import type Database from 'better-sqlite3';
import { sqliteFactsStore } from '../store/sqlite-state.js';
import type { ConfigStore } from '../store/state-types.js';
import { configCache } from './config-cache.js';
import type { HealthModel } from './score.js';
import type { HealthService, TenantHealth } from './service.js';

export interface RecordedTransition { from: string; to: string; at: string; configVersion: number; evidence: Transition['evidence'] }

export interface LifecycleReport {
  tenantId: string;
  state: string;
  owner: string | null;
  allows: readonly string[] | null;
  /** Newest first. */
  transitions: RecordedTransition[];
}

export interface LifecycleService {
  /** The tenant's rule context now, as proofs and alert rules see it; `pass`: this tenant's health pass, reused. */
  context(tenantId: string, now?: number, pass?: TenantHealth): Promise<RuleContext | undefined>;
  /** Advances the tenant's lifecycle as far as its facts now allow; records and returns the result. */
  evaluate(tenantId: string, now?: number, pass?: TenantHealth, context?: RuleContext): Promise<LifecycleReport | undefined>;
  /** The recorded state and what it allows, without evaluating (read-only: GET routes, alert deliveries). */
  state(tenantId: string): Promise<LifecycleReport | undefined>;
  /** Whether `action` (`nudge:x`) may run for this tenant now, with the reason when not. */
  check(tenantId: string, action: string): Promise<{ ok: true } | { ok: false; reason: string }>;
}

export function lifecycleService(db: Database.Database, config: ConfigStore, health: HealthService): LifecycleService {
  const cache = configCache(config);
  const tenantFacts = sqliteFactsStore(db);
  const last = db.prepare('SELECT to_state AS state FROM lifecycle_transitions WHERE tenant_id = ? ORDER BY id DESC LIMIT 1');
  const insert = db.prepare('INSERT INTO lifecycle_transitions (tenant_id, from_state, to_state, at, config_version, evidence) VALUES (?, ?, ?, ?, ?, ?)');
  const history = db.prepare('SELECT from_state AS "from", to_state AS "to", at, config_version AS configVersion, evidence FROM lifecycle_transitions WHERE tenant_id = ? ORDER BY id DESC LIMIT 100');
  const eventsNamed = db.prepare('SELECT timestamp, payload FROM events WHERE group_id = ? AND event = ? AND timestamp <= ?');
  const traits = db.prepare(`SELECT payload FROM events WHERE group_id = ? AND type = 'group' ORDER BY timestamp DESC, rowid DESC LIMIT 1`);
  const doneItems = db.prepare(`SELECT DISTINCT ref FROM progress WHERE tenant_id = ? AND kind = 'checklist' AND state = 'completed'`);
  const lastProgress = db.prepare(`SELECT MAX(updated_at) AS t FROM progress WHERE tenant_id = ? AND kind = 'checklist'`);
  const firstSeen = db.prepare(`SELECT MIN(timestamp) AS t FROM events WHERE group_id = ?`);

  async function model(pass?: TenantHealth): Promise<{ version: number; lifecycle: LifecycleModel; hasLifecycle: boolean; health?: HealthModel | undefined; checklists: { id: string; items: { id: string }[] }[] } | undefined> {
    const v = pass?.config ?? (await cache.current()); // a health pass carries the config it used
    if (!v) return undefined;
    const doc = v.config as { lifecycle?: LifecycleModel; health?: HealthModel; checklists?: { id: string; items: { id: string }[] }[] };
    return { version: v.version, lifecycle: doc.lifecycle ?? { initial: 'none', states: { none: {} }, transitions: [] }, hasLifecycle: !!doc.lifecycle, health: doc.health, checklists: doc.checklists ?? [] };
  }

  const stateOf = (tenantId: string, m: LifecycleModel) => ((last.get(tenantId) as { state: string } | undefined)?.state ?? m.initial);

  async function context(tenantId: string, now: number, m: NonNullable<Awaited<ReturnType<typeof model>>>, pass?: TenantHealth): Promise<RuleContext> {
    const until = new Date(now).toISOString();
    // Metrics and score come from the tenant's one health pass (computed here only if not given).
    const h = pass ?? (await health.tenantHealth(tenantId, now));
    const metrics = h.metrics;
    const serverFacts = await tenantFacts.tenantFacts(tenantId, now);
    const t = traits.get(tenantId) as { payload: string } | undefined;
    const tenantTraits = (t ? (JSON.parse(t.payload) as { traits?: Record<string, unknown> }).traits : undefined) ?? {};
    const done = new Set((doneItems.all(tenantId) as { ref: string }[]).map((r) => r.ref));
    // Events are read per name once, then matched in JS with the evaluator's own matchWhere.
    const cache = new Map<string, { ts: number; properties: Record<string, unknown> }[]>();
    const named = (event: string) => {
      let list = cache.get(event);
      if (!list) {
        list = (eventsNamed.all(tenantId, event, until) as { timestamp: string; payload: string }[]).map((r) => ({
          ts: Date.parse(r.timestamp), properties: (JSON.parse(r.payload) as { properties?: Record<string, unknown> }).properties ?? {},
        }));
        cache.set(event, list);
      }
      return list;
    };
    return {
      now,
      countEvents: (q) => named(q.event).filter((e) => e.ts <= q.until && (q.since === undefined || e.ts >= q.since) && matchWhere(q.where, e.properties)).length,
      tenantTraits,
      facts: {
        ...tenantTraits,
        // The same facts (and definitions) the progress answer gives the browser: sdk-core's FACTS.
        ...serverFacts,
        // Since the last checklist progress, or since the tenant was first seen when it has none.
        ...(() => {
          const t = (lastProgress.get(tenantId) as { t: string | null }).t ?? (firstSeen.get(tenantId) as { t: string | null }).t;
          return t ? { hours_since_checklist_progress: Math.floor((now - Date.parse(t)) / 3_600_000) } : {};
        })(),
      },
      metrics: metrics.values,
      checklist: (id) => {
        const c = m.checklists.find((x) => x.id === id);
        if (!c) return undefined;
        const completedItems = c.items.map((i) => i.id).filter((i) => done.has(`${id}/${i}`));
        return { completedItems, completed: completedItems.length === c.items.length };
      },
      ...(h.report ? { health: { score: h.report.score, band: h.report.band } } : {}),
    };
  }

  const report = (tenantId: string, state: string, m: LifecycleModel): LifecycleReport => {
    let transitions: RecordedTransition[] | undefined;
    // The history is read when asked for (the API answer), not on every sweep step.
    return Object.defineProperty({ tenantId, state, owner: m.states[state]?.owner ?? null, allows: m.states[state]?.allows ?? null } as LifecycleReport, 'transitions', {
      enumerable: true,
      get: () => (transitions ??= (history.all(tenantId) as (Omit<RecordedTransition, 'evidence'> & { evidence: string })[]).map((r) => ({ ...r, evidence: JSON.parse(r.evidence) }))),
    });
  };

  const record = db.transaction((tenantId: string, version: number, ts: Transition[]) => {
    for (const t of ts) insert.run(tenantId, t.from, t.to, new Date(t.at).toISOString(), version, JSON.stringify(t.evidence));
  });

  return {
    async context(tenantId, now = Date.now(), pass) {
      const m = await model(pass);
      return m ? context(tenantId, now, m, pass) : undefined;
    },
    async evaluate(tenantId, now = Date.now(), pass, ctx) {
      const m = await model(pass);
      if (!m?.hasLifecycle) return undefined;
      const current = stateOf(tenantId, m.lifecycle);
      const r = advance(m.lifecycle, current, ctx ?? (await context(tenantId, now, m, pass)));
      if (r.transitions.length) record(tenantId, m.version, r.transitions);
      return report(tenantId, r.state, m.lifecycle);
    },
    async state(tenantId) {
      const m = await model();
      return m?.hasLifecycle ? report(tenantId, stateOf(tenantId, m.lifecycle), m.lifecycle) : undefined;
    },
    async check(tenantId, action) {
      const m = await model();
      if (!m?.hasLifecycle) return { ok: true };
      return allows(m.lifecycle, stateOf(tenantId, m.lifecycle), action);
    },
  };
}
