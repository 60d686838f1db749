/**
 * Lifecycle evaluation in the server: builds the tenant's rule context from its stored events,
 * facts, health metrics and checklist progress, advances the machine from its recorded state,
 * and records every transition with its evidence, the config version and the time.
 */
import {
  advance, allows, type ChecklistProgress, clientRules, type LifecycleModel, matchWhere, type Rule, type RuleContext, type Transition,
} from '@keel/sdk-core/engine';
import type Database from 'better-sqlite3';
import { sqliteKeelDb } from '../store/db.js';
import { factsStore } from '../store/state.js';
import type { ConfigStore } from '../store/state-types.js';
import { configCache } from './config-cache.js';
import { type ConfigChecklist, progressEvaluator, type UserProgress } from './progress.js';
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
  /** The state the tenant would be in now (advanced as `evaluate` would), without recording anything: for GET routes. */
  peek(tenantId: string, now?: number): Promise<{ state: string; allows: readonly string[] | null } | undefined>;
  /**
   * One user's server-decided checklist items and event history (see `./progress.ts`), from stored
   * events only; writes nothing. Undefined when no config is published.
   */
  serverProgress(tenantId: string, userId: string, now?: number, pendingSince?: number): Promise<(UserProgress & {
    checklists: readonly ConfigChecklist[];
    /** As `peek`, from the same context (null: the config has no lifecycle). */
    lifecycle: { state: string; allows: readonly string[] | null } | null;
  }) | undefined>;
}

export function lifecycleService(db: Database.Database, config: ConfigStore, health: HealthService): LifecycleService {
  const cache = configCache(config);
  const tenantFacts = factsStore(sqliteKeelDb(db)); // read-only queries: a Kysely of its own on the same handle is safe
  const last = db.prepare('SELECT to_state AS state FROM lifecycle_transitions WHERE tenant_id = ? ORDER BY id DESC LIMIT 1');
  const insert = db.prepare('INSERT INTO lifecycle_transitions (tenant_id, from_state, to_state, at, config_version, evidence) VALUES (?, ?, ?, ?, ?, ?)');
  const history = db.prepare('SELECT from_state AS "from", to_state AS "to", at, config_version AS configVersion, evidence FROM lifecycle_transitions WHERE tenant_id = ? ORDER BY id DESC LIMIT 100');
  // Proofs count verified events only unless a clause says `evidence: any` (the `any` argument, 0 or 1).
  const eventsNamed = db.prepare('SELECT timestamp, payload, trust FROM events WHERE group_id = ? AND event = ? AND timestamp <= ?');
  const facts = db.prepare(`SELECT COUNT(DISTINCT COALESCE(user_id, anonymous_id)) AS n FROM events WHERE group_id = ? AND type = 'track' AND timestamp >= ? AND timestamp <= ? AND (? OR trust = 'verified')`);
  const traits = db.prepare(`SELECT payload FROM events WHERE group_id = ? AND type = 'group' AND (? OR trust = 'verified') ORDER BY timestamp DESC, rowid DESC LIMIT 1`);
  const progress = progressEvaluator(db);
  const firstSeen = db.prepare(`SELECT MIN(timestamp) AS t FROM events WHERE group_id = ? AND (? OR trust = 'verified')`);

  type Doc = { lifecycle?: LifecycleModel; health?: HealthModel; checklists?: ConfigChecklist[]; nudges?: { when: Rule; audience?: Rule }[] };
  async function model(pass?: TenantHealth): Promise<{ version: number; lifecycle: LifecycleModel; hasLifecycle: boolean; health?: HealthModel | undefined; checklists: ConfigChecklist[]; doc: Doc } | undefined> {
    const v = pass?.config ?? (await cache.current()); // a health pass carries the config it used
    if (!v) return undefined;
    const doc = v.config as Doc;
    return { version: v.version, lifecycle: doc.lifecycle ?? { initial: 'none', states: { none: {} }, transitions: [] }, hasLifecycle: !!doc.lifecycle, health: doc.health, checklists: doc.checklists ?? [], doc };
  }

  const stateOf = (tenantId: string, m: LifecycleModel) => ((last.get(tenantId) as { state: string } | undefined)?.state ?? m.initial);

  async function context(tenantId: string, now: number, m: NonNullable<Awaited<ReturnType<typeof model>>>, pass?: TenantHealth): Promise<RuleContext> {
    const until = new Date(now).toISOString();
    const day = 86_400_000;
    // Metrics and score come from the tenant's one health pass (computed here only if not given).
    const h = pass ?? (await health.tenantHealth(tenantId, now));
    const metrics = h.metrics;
    // The same facts (and definitions) the progress answer gives the browser: sdk-core's FACTS (verified events).
    const serverFacts = await tenantFacts.tenantFacts(tenantId, now);
    const traitsOf = (any: number) => {
      const t = traits.get(tenantId, any) as { payload: string } | undefined;
      return (t ? (JSON.parse(t.payload) as { traits?: Record<string, unknown> }).traits : undefined) ?? {};
    };
    const tenantTraits = traitsOf(0);
    // Events are read per name once, then matched in JS with the evaluator's own matchWhere.
    const cache = new Map<string, { ts: number; properties: Record<string, unknown>; verified: boolean }[]>();
    const named = (event: string) => {
      let list = cache.get(event);
      if (!list) {
        list = (eventsNamed.all(tenantId, event, until) as { timestamp: string; payload: string; trust: string }[]).map((r) => ({
          ts: Date.parse(r.timestamp), properties: (JSON.parse(r.payload) as { properties?: Record<string, unknown> }).properties ?? {}, verified: r.trust === 'verified',
        }));
        cache.set(event, list);
      }
      return list;
    };
    const firstOf = (any: number) => (firstSeen.get(tenantId, any) as { t: string | null }).t;
    const first = firstOf(0);
    const healthNow = h.report ? { health: { score: h.report.score, band: h.report.band } } : {};
    // Checklists from server-decided progress (and attestations, for proofs that accept them), read on first use.
    let lists: Map<string, ChecklistProgress> | undefined;
    const base = {
      tenantTraits, metrics: metrics.values,
      get facts() { return ctx.facts; },
      ...healthNow,
    };
    const factsOf = (any: number, traitsNow: Record<string, unknown>) => ({
      ...traitsNow,
      ...serverFacts,
      // The verified counts are serverFacts' own; only `evidence: any` needs them counted again, wider.
      ...(any ? {
        active_users_7d: (facts.get(tenantId, new Date(now - 7 * day).toISOString(), until, 1) as { n: number }).n,
        active_users_30d: (facts.get(tenantId, new Date(now - 30 * day).toISOString(), until, 1) as { n: number }).n,
      } : {}),
      // Since the last checklist progress (evidence: an event an item counts, or an attestation),
      // or since the tenant was first seen when it has none.
      ...(() => {
        const f = any ? firstOf(1) : first;
        const t = progress.lastEvidence(tenantId, now, m.checklists) ?? (f ? Date.parse(f) : undefined);
        return t !== undefined ? { hours_since_checklist_progress: Math.floor((now - t) / 3_600_000) } : {};
      })(),
    });
    let wide: { facts: Record<string, unknown>; tenantTraits: Record<string, unknown> } | undefined;
    const anyOf = () => {
      if (!wide) {
        const tt = traitsOf(1);
        wide = { tenantTraits: tt, facts: factsOf(1, tt) };
      }
      return wide;
    };
    const ctx: RuleContext = {
      now,
      // The tenant's known history starts at its first (verified) event: an absence over a longer window is unproven.
      historySince: first ? Math.min(Date.parse(first), now) : now,
      countEvents: (q) => named(q.event).filter((e) => (e.verified || q.evidence === 'any') && e.ts <= q.until && (q.since === undefined || e.ts >= q.since) && matchWhere(q.where, e.properties)).length,
      tenantTraits,
      facts: factsOf(0, tenantTraits),
      // Computed only when a clause asks for `evidence: any`, or to explain what was left out.
      anyEvidence: {
        get facts() { return anyOf().facts; },
        get tenantTraits() { return anyOf().tenantTraits; },
        explain: (leaf, value, withAny, okWithAny) =>
          !('event' in leaf || 'fact' in leaf || 'tenantTrait' in leaf) || JSON.stringify(value) === JSON.stringify(withAny) ? undefined
            : `unverified events left out: counting them, ${'event' in leaf ? 'the count' : 'the value'} would be ${JSON.stringify(withAny) ?? 'missing'} and the clause would ${okWithAny ? 'hold' : 'fail'} (evidence: any counts them)`,
      },
      metrics: metrics.values,
      checklist: (id) => (lists ??= progress.forTenant(tenantId, now, m.checklists, base)).get(id),
      ...healthNow,
    };
    return ctx;
  }

  const report = (tenantId: string, state: string, m: LifecycleModel): LifecycleReport => {
    let transitions: RecordedTransition[] | undefined;
    // The history is read when asked for (the API answer), not on every sweep step.
    const own = Object.hasOwn(m.states, state) ? m.states[state] : undefined; // a state named like a prototype key is not one
    return Object.defineProperty({ tenantId, state, owner: own?.owner ?? null, allows: own?.allows ?? null } as LifecycleReport, 'transitions', {
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
    async peek(tenantId, now = Date.now()) {
      const m = await model();
      if (!m?.hasLifecycle) return undefined;
      const r = advance(m.lifecycle, stateOf(tenantId, m.lifecycle), await context(tenantId, now, m));
      return { state: r.state, allows: m.lifecycle.states[r.state]?.allows ?? null };
    },
    async serverProgress(tenantId, userId, now = Date.now(), pendingSince) {
      const m = await model();
      if (!m) return undefined;
      const c = await context(tenantId, now, m);
      const base = { tenantTraits: c.tenantTraits, facts: c.facts, metrics: c.metrics, ...(c.health ? { health: c.health } : {}) };
      const state = m.hasLifecycle ? advance(m.lifecycle, stateOf(tenantId, m.lifecycle), c).state : undefined;
      return {
        ...progress.forUser(tenantId, userId, now, m.checklists, base, clientRules(m.doc), pendingSince), checklists: m.checklists,
        lifecycle: state === undefined ? null : { state, allows: m.lifecycle.states[state]?.allows ?? null },
      };
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
