/**
 * Lifecycle evaluation in the server: builds the tenant's rule context from its stored events,
 * facts, health metrics and checklist progress, advances the machine from its recorded state,
 * and records every transition with its evidence, the config version and the time.
 */
import {
  advance,
  allows,
  type ChecklistProgress,
  clientRules,
  type LifecycleModel,
  matchWhere,
  type Rule,
  type RuleContext,
  type Transition,
  walkRule,
} from '@keel/sdk-core/engine';
import type { Kdb, KeelDb } from '../store/db.js';
import type { ConfigStore, FactsStore } from '../store/state-types.js';
import { configCache } from './config-cache.js';
import { checklistEventNames, type ConfigChecklist, type Ev, type Known, progressEvaluator, reusable, tenantEvents, type UserProgress } from './progress.js';
import type { HealthModel } from './score.js';
import type { HealthService, TenantHealth } from './service.js';
import { type HistoryRow, sweepReads, type TenantReads } from './sweep-reads.js';

export interface RecordedTransition {
  from: string;
  to: string;
  at: string;
  configVersion: number;
  evidence: Transition['evidence'];
}

export interface LifecycleReport {
  tenantId: string;
  state: string;
  owner: string | null;
  allows: readonly string[] | null;
  /** Newest first. */
  transitions: RecordedTransition[];
}

export interface LifecycleService {
  /**
   * What `context` and `evaluate` read per tenant, for many tenants at once (the sweep, per chunk:
   * sweep-reads.ts); `pass`: a health pass of the sweep (the config it used). Empty before the first publish.
   */
  prepare(tenants: readonly string[], now?: number, pass?: TenantHealth): Promise<Map<string, TenantReads>>;
  /** The tenant's rule context now, as proofs and alert rules see it; `pass`: this tenant's health pass, reused; `pre`: its share of `prepare`. */
  context(tenantId: string, now?: number, pass?: TenantHealth, pre?: TenantReads): Promise<RuleContext | undefined>;
  /** Advances the tenant's lifecycle as far as its facts now allow; records and returns the result. */
  evaluate(tenantId: string, now?: number, pass?: TenantHealth, context?: RuleContext, pre?: TenantReads): Promise<LifecycleReport | undefined>;
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
  serverProgress(
    tenantId: string,
    userId: string,
    now?: number,
    pendingSince?: number,
  ): Promise<
    | (UserProgress & {
        checklists: readonly ConfigChecklist[];
        /** As `peek`, from the same context (null: the config has no lifecycle). */
        lifecycle: { state: string; allows: readonly string[] | null } | null;
      })
    | undefined
  >;
}

type Doc = { lifecycle?: LifecycleModel; health?: HealthModel; checklists?: ConfigChecklist[]; nudges?: { when: Rule; audience?: Rule }[] };

/**
 * What a tenant's rule context must read for a config, found once per config: the rule context
 * is synchronous (sdk-core's evaluator), so everything its rules can ask is read before they run.
 * Its rules are the lifecycle proofs and the alert rules (the server evaluates no others against
 * it); the checklist items are decided apart (progress.ts), from the same events.
 */
interface Needs {
  /** Every event name a rule or a checklist item counts: read in one query. */
  names: readonly string[];
  /** Some rule reads a checklist: the tenant's server-decided checklists are computed. */
  checklists: boolean;
  /**
   * Some rule reads a fact or a tenant trait: the active-user counts are read again counting
   * unverified events (`evidence: any`, and the explanation's note). Without such a rule nothing
   * reads them (the wide facts then carry the verified counts).
   */
  wide: boolean;
}
const needsCache = new WeakMap<Doc, Needs>();
function needsOf(doc: Doc): Needs {
  let n = needsCache.get(doc);
  if (n) return n;
  const rules: Rule[] = [];
  const states = doc.lifecycle?.states ?? {};
  for (const s of Object.keys(states)) if (states[s]?.proof) rules.push(states[s].proof);
  for (const a of doc.health?.alerts ?? []) rules.push(a.when as Rule); // score_change_wow and cohort rules walk as leaves that read nothing here
  const names = new Set(checklistEventNames(doc.checklists ?? []));
  n = { names: [], checklists: false, wide: false };
  for (const r of rules) {
    walkRule(r, (leaf) => {
      if ('event' in leaf) names.add(leaf.event);
      if ('checklist' in leaf) n!.checklists = true;
      if ('fact' in leaf || 'tenantTrait' in leaf) n!.wide = true;
    });
  }
  n.names = [...names];
  needsCache.set(doc, n);
  return n;
}

const DAY = 86_400_000;

// The queries, written once for both dialects (see `reusable`).
const lastStateOf = reusable((k, tenantId: string) =>
  k.db.selectFrom('lifecycle_transitions').select('to_state').where('tenant_id', '=', tenantId).orderBy('id', 'desc').limit(1),
);
// The recorded history, newest first: its first row is also the current state.
const historyOf = reusable((k, tenantId: string) =>
  k.db
    .selectFrom('lifecycle_transitions')
    .select(['from_state as from', 'to_state as to', 'at', 'config_version as configVersion', 'evidence'])
    .where('tenant_id', '=', tenantId)
    .orderBy('id', 'desc')
    .limit(100),
) as (k: KeelDb, tenantId: string) => Promise<HistoryRow[]>;
/**
 * The tenant's scalars in one round trip: its first event (verified, and any), its newest group
 * traits (verified, and any), its newest attestation, and (`wide`: until, 7 and 30 days before)
 * its active users counting unverified events. Proofs count verified events only unless a clause says `evidence: any`.
 */
const scalarsOf = reusable((k, tenantId: string, wide: readonly string[] | undefined) =>
  k.db.selectNoFrom((eb) => {
    const events = () => eb.selectFrom('events').where('group_id', '=', tenantId);
    const traits = (verified: boolean) =>
      (verified ? events().where('trust', '=', 'verified') : events())
        .where('type', '=', 'group')
        .select('payload')
        .orderBy('timestamp', 'desc')
        .orderBy('rowid', 'desc')
        .limit(1);
    const active = (since: string, until: string) =>
      events()
        .where('type', '=', 'track')
        .where('timestamp', '>=', since)
        .where('timestamp', '<=', until)
        .select((e) => e.fn.count<number>(e.fn.coalesce('user_id', 'anonymous_id')).distinct().as('n'));
    return [
      events()
        .where('trust', '=', 'verified')
        .select((e) => e.fn.min('timestamp').as('t'))
        .as('first'),
      events()
        .select((e) => e.fn.min('timestamp').as('t'))
        .as('firstAny'),
      traits(true).as('traits'),
      traits(false).as('traitsAny'),
      eb
        .selectFrom('progress')
        .select((e) => e.fn.max('updated_at').as('t'))
        .where('tenant_id', '=', tenantId)
        .where('kind', '=', 'checklist')
        .where(k.sql.jsonText('data', 'attested', 'by'), 'is not', null)
        .as('attested'),
      ...(wide ? [active(wide[1]!, wide[0]!).as('active7'), active(wide[2]!, wide[0]!).as('active30')] : []),
    ];
  }),
);

export function lifecycleService(k: KeelDb, config: ConfigStore, health: HealthService, tenantFacts: FactsStore): LifecycleService {
  const cache = configCache(config);
  const progress = progressEvaluator(k);
  const lastState = async (db: Kdb, tenantId: string) =>
    (await db.selectFrom('lifecycle_transitions').select('to_state').where('tenant_id', '=', tenantId).orderBy('id', 'desc').limit(1).executeTakeFirst())
      ?.to_state;
  const history = (tenantId: string) => historyOf(k, tenantId);

  async function model(
    pass?: TenantHealth,
  ): Promise<
    { version: number; lifecycle: LifecycleModel; hasLifecycle: boolean; health?: HealthModel | undefined; checklists: ConfigChecklist[]; doc: Doc } | undefined
  > {
    const v = pass?.config ?? (await cache.current()); // a health pass carries the config it used
    if (!v) return undefined;
    const doc = v.config as Doc;
    return {
      version: v.version,
      lifecycle: doc.lifecycle ?? { initial: 'none', states: { none: {} }, transitions: [] },
      hasLifecycle: !!doc.lifecycle,
      health: doc.health,
      checklists: doc.checklists ?? [],
      doc,
    };
  }
  type Model = NonNullable<Awaited<ReturnType<typeof model>>>;

  const stateOf = async (tenantId: string, m: LifecycleModel) => (await lastStateOf(k, tenantId))[0]?.to_state ?? m.initial;

  /** The rule context, and what it read that a caller may reuse (the tenant's first event, any trust). */
  async function build(
    tenantId: string,
    now: number,
    m: Model,
    pass?: TenantHealth,
    pre?: TenantReads,
  ): Promise<{ ctx: RuleContext; tenantFirstSeen: string | null }> {
    const until = new Date(now).toISOString();
    const needs = needsOf(m.doc);
    // Metrics and score come from the tenant's one health pass (computed here only if not given);
    // the facts (and definitions) are the ones the progress answer gives the browser: sdk-core's FACTS (verified events).
    // `pre`: the sweep read these for a chunk of tenants at once (sweep-reads.ts), the same answers.
    const [h, serverFacts, s, events] = await Promise.all([
      pass ?? health.tenantHealth(tenantId, now),
      pre?.facts ?? tenantFacts.tenantFacts(tenantId, now),
      pre?.scalars ??
        scalarsOf(k, tenantId, needs.wide ? [until, new Date(now - 7 * DAY).toISOString(), new Date(now - 30 * DAY).toISOString()] : undefined).then(
          (r) => r[0]!,
        ),
      // Every event any rule or item counts, read once (every type: proofs count page events by name too).
      pre?.events ?? tenantEvents(k, tenantId, needs.names, until),
    ]);
    const metrics = h.metrics;
    const known: Known = {
      events,
      tenantFirstSeen: s.firstAny ?? null,
      lastAttested: s.attested ?? null,
      ...(pre ? { identifies: pre.identifies, users: pre.users, attestedRefs: pre.attestedRefs } : {}),
    };
    const traitsOf = (payload: string | null | undefined) => (payload ? (JSON.parse(payload) as { traits?: Record<string, unknown> }).traits : undefined) ?? {};
    const tenantTraits = traitsOf(s.traits);
    // Events are grouped per name once, then matched in JS with the evaluator's own matchWhere.
    const byName = new Map<string, Ev[]>(needs.names.map((n) => [n, []]));
    for (const e of events) byName.get(e.event)?.push(e);
    const named = (event: string) => {
      const list = byName.get(event);
      if (!list)
        throw new Error(
          `the rule context of ${tenantId} did not read "${event}" events: only the config's lifecycle proofs and alert rules are evaluated against it`,
        );
      return list;
    };
    const first = s.first ?? null;
    const healthNow = h.report ? { health: { score: h.report.score, band: h.report.band } } : {};
    // Since the last checklist progress (evidence: an event an item counts, or an attestation), or
    // since the tenant was first seen when it has none: read once, for both the verified and the wide facts.
    const last = await progress.lastEvidence(tenantId, now, m.checklists, known);
    const factsOf = (any: boolean, traitsNow: Record<string, unknown>) => {
      const f = any ? known.tenantFirstSeen : first;
      const t = last ?? (f ? Date.parse(f) : undefined);
      return {
        ...traitsNow,
        ...serverFacts,
        // The verified counts are serverFacts' own; only `evidence: any` needs them counted again, wider.
        ...(any && needs.wide ? { active_users_7d: Number(s.active7 ?? 0), active_users_30d: Number(s.active30 ?? 0) } : {}),
        ...(t !== undefined ? { hours_since_checklist_progress: Math.floor((now - t) / 3_600_000) } : {}),
      };
    };
    const wideTraits = traitsOf(s.traitsAny);
    let wide: { facts: Record<string, unknown>; tenantTraits: Record<string, unknown> } | undefined;
    const anyOf = () => (wide ??= { tenantTraits: wideTraits, facts: factsOf(true, wideTraits) });
    let lists: Map<string, ChecklistProgress> | undefined;
    const ctx: RuleContext = {
      now,
      // The tenant's known history starts at its first (verified) event: an absence over a longer window is unproven.
      historySince: first ? Math.min(Date.parse(first), now) : now,
      countEvents: (q) =>
        named(q.event).filter(
          (e) => (e.verified || q.evidence === 'any') && e.ts <= q.until && (q.since === undefined || e.ts >= q.since) && matchWhere(q.where, e.properties),
        ).length,
      tenantTraits,
      facts: factsOf(false, tenantTraits),
      // Used only when a clause asks for `evidence: any`, or to explain what was left out.
      anyEvidence: {
        get facts() {
          return anyOf().facts;
        },
        get tenantTraits() {
          return anyOf().tenantTraits;
        },
        explain: (leaf, value, withAny, okWithAny) =>
          !('event' in leaf || 'fact' in leaf || 'tenantTrait' in leaf) || JSON.stringify(value) === JSON.stringify(withAny)
            ? undefined
            : `unverified events left out: counting them, ${'event' in leaf ? 'the count' : 'the value'} would be ${JSON.stringify(withAny) ?? 'missing'} and the clause would ${okWithAny ? 'hold' : 'fail'} (evidence: any counts them)`,
      },
      metrics: metrics.values,
      // Checklists from server-decided progress (and attestations, for proofs that accept them), computed when a rule reads them.
      checklist: (id) => lists?.get(id),
      ...healthNow,
    };
    if (needs.checklists) {
      const base = { tenantTraits, metrics: metrics.values, facts: ctx.facts, ...healthNow };
      lists = await progress.forTenant(tenantId, now, m.checklists, base, known);
    }
    return { ctx, tenantFirstSeen: known.tenantFirstSeen ?? null };
  }
  const context = async (tenantId: string, now: number, m: Model, pass?: TenantHealth, pre?: TenantReads) => (await build(tenantId, now, m, pass, pre)).ctx;

  const report = (tenantId: string, state: string, m: LifecycleModel, rows: readonly HistoryRow[]): LifecycleReport => {
    let transitions: RecordedTransition[] | undefined;
    // The evidence is parsed when asked for (the API answer), not on every sweep step.
    const own = Object.hasOwn(m.states, state) ? m.states[state] : undefined; // a state named like a prototype key is not one
    return Object.defineProperty({ tenantId, state, owner: own?.owner ?? null, allows: own?.allows ?? null } as LifecycleReport, 'transitions', {
      enumerable: true,
      get: () => (transitions ??= rows.map((r) => ({ ...r, evidence: JSON.parse(r.evidence) as Transition['evidence'] }))),
    });
  };

  return {
    async prepare(tenants, now = Date.now(), pass) {
      const m = await model(pass);
      if (!m) return new Map();
      const needs = needsOf(m.doc);
      return sweepReads(k, tenants, now, needs.names, needs.wide);
    },
    async context(tenantId, now = Date.now(), pass, pre) {
      const m = await model(pass);
      return m ? context(tenantId, now, m, pass, pre) : undefined;
    },
    async evaluate(tenantId, now = Date.now(), pass, given, pre) {
      const m = await model(pass);
      if (!m?.hasLifecycle) return undefined;
      const [rows, ctx] = await Promise.all([pre?.history ?? history(tenantId), given ?? context(tenantId, now, m, pass, pre)]);
      const current = rows[0]?.to ?? m.lifecycle.initial;
      const r = advance(m.lifecycle, current, ctx);
      if (!r.transitions.length) return report(tenantId, r.state, m.lifecycle, rows);
      // Recorded from the state as it is when writing: another evaluation may have moved it since it was read.
      const state = await k.db.transaction().execute(async (trx) => {
        const latest = (await lastState(trx, tenantId)) ?? m.lifecycle.initial;
        const x = latest === current ? r : advance(m.lifecycle, latest, ctx);
        if (x.transitions.length) {
          await trx
            .insertInto('lifecycle_transitions')
            .values(
              x.transitions.map((t) => ({
                tenant_id: tenantId,
                from_state: t.from,
                to_state: t.to,
                at: new Date(t.at).toISOString(),
                config_version: m.version,
                evidence: JSON.stringify(t.evidence),
              })),
            )
            .execute();
        }
        return x.state;
      });
      return report(tenantId, state, m.lifecycle, await history(tenantId));
    },
    async peek(tenantId, now = Date.now()) {
      const m = await model();
      if (!m?.hasLifecycle) return undefined;
      const [state, ctx] = await Promise.all([stateOf(tenantId, m.lifecycle), context(tenantId, now, m)]);
      const r = advance(m.lifecycle, state, ctx);
      return { state: r.state, allows: m.lifecycle.states[r.state]?.allows ?? null };
    },
    async serverProgress(tenantId, userId, now = Date.now(), pendingSince) {
      const m = await model();
      if (!m) return undefined;
      const [{ ctx: c, tenantFirstSeen }, current] = await Promise.all([build(tenantId, now, m), m.hasLifecycle ? stateOf(tenantId, m.lifecycle) : undefined]);
      const base = { tenantTraits: c.tenantTraits, facts: c.facts, metrics: c.metrics, ...(c.health ? { health: c.health } : {}) };
      const state = current === undefined ? undefined : advance(m.lifecycle, current, c).state;
      return {
        ...(await progress.forUser(tenantId, userId, now, m.checklists, base, clientRules(m.doc), pendingSince, { tenantFirstSeen })),
        checklists: m.checklists,
        lifecycle: state === undefined ? null : { state, allows: m.lifecycle.states[state]?.allows ?? null },
      };
    },
    async state(tenantId) {
      const m = await model();
      if (!m?.hasLifecycle) return undefined;
      const rows = await history(tenantId);
      return report(tenantId, rows[0]?.to ?? m.lifecycle.initial, m.lifecycle, rows);
    },
    async check(tenantId, action) {
      const m = await model();
      if (!m?.hasLifecycle) return { ok: true };
      return allows(m.lifecycle, await stateOf(tenantId, m.lifecycle), action);
    },
  };
}
