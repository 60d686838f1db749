/**
 * Server-decided progress: every checklist item whose rule the server can evaluate (event, trait,
 * tenant trait, fact and metric clauses) is decided from stored events, never from a browser's
 * claim. Pure reads: nothing here writes, so GET routes and the evaluator sweep can both call it.
 *
 * - A user-scope item is decided with that user's own events (this tenant's, `user_id` = the
 *   user), the user's identify traits and the tenant's traits, facts and metrics; its history
 *   starts at the user's first event here.
 * - A tenant-scope item is decided with all of the tenant's events; history from its first event.
 * - For the tenant as a whole (lifecycle proofs), a user-scope item is completed when some user of
 *   the tenant completed it; items a user attested (stored entries with `data.attested`) are
 *   reported apart, as `attestedItems`, for proofs that say `accept: attested`.
 */
import {
  type ChecklistProgress,
  clauseKey,
  evaluate,
  type Explanation,
  historyDays,
  type HistoryClause,
  matchWhere,
  type ProgressHistory,
  referencedEvents,
  type Rule,
  type RuleContext,
  serverDecidable,
} from '@keel/sdk-core/engine';
import { type KeelDb, reusable } from '../store/db.js';

const DAY = 86_400_000;

export type Attest = 'user' | { roles: readonly string[] };
export interface ConfigItem {
  id: string;
  scope?: 'user' | 'tenant';
  complete: Rule;
  attest?: Attest;
  launch?: { recipe?: string };
}
export interface ConfigChecklist {
  id: string;
  items: readonly ConfigItem[];
}

/** What every rule context of a tenant shares: its traits, facts, metrics and health. */
export type TenantBase = Pick<RuleContext, 'tenantTraits' | 'facts' | 'metrics' | 'health'>;

export interface ItemDecision {
  checklist: string;
  item: string;
  /** `checklist/item`, as progress entries name it. */
  ref: string;
  scope: 'user' | 'tenant';
  attest?: Attest;
  /** The recipe the item launches: walking it through in the page (all steps, none skipped) completes the item. */
  recipe?: string;
  /** The server can evaluate the item's rule from stored events. */
  decidable: boolean;
  /** Server-decided: the rule holds now (always false when not decidable). */
  completed: boolean;
  explanation?: Explanation;
}

export interface UserProgress {
  tenantId: string;
  userId: string;
  now: number;
  items: ItemDecision[];
  history: ProgressHistory;
}

/** A stored event as the evaluators read it. */
export interface Ev {
  id: string;
  user: string | null;
  type: string;
  ts: number;
  event: string;
  properties: Record<string, unknown>;
  verified: boolean;
}

/**
 * What a caller (the lifecycle's rule context) has already read for this tenant, so that nothing
 * is read twice: `events`, the tenant's stored events up to `now` (every type) of at least the
 * names the call needs; `tenantFirstSeen`, its first event (any trust); `lastAttested`, its newest
 * attestation. Whatever is absent is read here.
 */
export interface Known {
  events?: readonly Ev[];
  tenantFirstSeen?: string | null;
  lastAttested?: string | null;
  /** The tenant's identify calls with a user (oldest first), its users with their first event, its attested refs: the sweep reads them per chunk of tenants (sweep-reads.ts). */
  identifies?: readonly { user: string | null; payload: string }[];
  users?: readonly { user: string | null; t: string | null }[];
  attestedRefs?: readonly { ref: string }[];
}

// `reusable` moved to the repository layer (store/db.ts), where the stores use it too; re-exported for the services.
export { compiledOnce, reusable } from '../store/db.js';

const names = (rules: readonly Rule[]) => [...new Set(rules.flatMap((r) => referencedEvents(r).map((x) => x.event)))];

function eventContext(events: readonly Ev[], now: number): RuleContext['countEvents'] {
  const by = new Map<string, Ev[]>();
  for (const e of events) {
    let l = by.get(e.event);
    if (!l) by.set(e.event, (l = []));
    l.push(e);
  }
  return (q) => {
    let n = 0;
    // Server-decided items count verified events only, unless the clause says `evidence: any`.
    for (const e of by.get(q.event) ?? [])
      if (
        (e.verified || q.evidence === 'any') &&
        e.ts <= Math.min(q.until, now) &&
        (q.since === undefined || e.ts >= q.since) &&
        matchWhere(q.where, e.properties)
      )
        n++;
    return n;
  };
}

type EventRow = { id: string; user: string | null; type: string; timestamp: string; event: string | null; payload: string; trust: string };
export const toEvents = (rs: readonly EventRow[]): Ev[] =>
  rs.map((r) => ({
    id: r.id,
    user: r.user,
    type: r.type,
    ts: Date.parse(r.timestamp),
    event: r.event ?? '',
    properties: (JSON.parse(r.payload) as { properties?: Record<string, unknown> }).properties ?? {},
    verified: r.trust === 'verified',
  }));

/**
 * The tenant's stored events named one of `names` (every type; `user`: that user's only) with a
 * timestamp up to `until` (ISO), in no particular order. No names, no query.
 */
const eventsNamed = reusable((k, tenantId: string, eventNames: readonly string[], until: string, user: string | undefined) => {
  let q = k.db
    .selectFrom('events')
    .select(['message_id as id', 'user_id as user', 'type', 'timestamp', 'event', 'payload', 'trust'])
    .where('group_id', '=', tenantId)
    .where('event', 'in', eventNames)
    .where('timestamp', '<=', until);
  if (user !== undefined) q = q.where('user_id', '=', user);
  return q;
});
export async function tenantEvents(k: KeelDb, tenantId: string, eventNames: readonly string[], until: string, user?: string): Promise<Ev[]> {
  // An empty IN list is not valid SQL everywhere: no names, no query.
  return eventNames.length ? toEvents(await eventsNamed(k, tenantId, eventNames, until, user)) : [];
}

// The queries, written once for both dialects (see `reusable`).
const userIdentifies = reusable((k, tenantId: string, userId: string) =>
  k.db
    .selectFrom('events')
    .select(['user_id as user', 'payload'])
    .where((eb) => eb.or([eb('group_id', '=', tenantId), eb('group_id', 'is', null)]))
    .where('user_id', '=', userId)
    .where('type', '=', 'identify')
    .orderBy('timestamp')
    .orderBy('rowid'),
);
const identifiesOf = reusable((k, tenantId: string) =>
  k.db
    .selectFrom('events')
    .select(['user_id as user', 'payload'])
    .where('group_id', '=', tenantId)
    .where('user_id', 'is not', null)
    .where('type', '=', 'identify')
    .orderBy('timestamp')
    .orderBy('rowid'),
);
/** Every user of the tenant seen by `until`, with their first event (at any time): one grouped query, not one per user. */
const usersOf = reusable((k, tenantId: string, until: string) =>
  k.db
    .selectFrom('events')
    .select((eb) => ['user_id as user', eb.fn.min('timestamp').as('t')])
    .where('group_id', '=', tenantId)
    .where('user_id', 'is not', null)
    .groupBy('user_id')
    .having((eb) => eb.fn.min('timestamp'), '<=', until),
);
const userFirstOf = reusable((k, tenantId: string, userId: string) =>
  k.db
    .selectFrom('events')
    .select((eb) => eb.fn.min('timestamp').as('t'))
    .where('group_id', '=', tenantId)
    .where('user_id', '=', userId),
);
const tenantFirstOf = reusable((k, tenantId: string) =>
  k.db
    .selectFrom('events')
    .select((eb) => eb.fn.min('timestamp').as('t'))
    .where('group_id', '=', tenantId),
);
const idsOf = reusable((k, tenantId: string, userId: string, since: string, until: string) =>
  k.db
    .selectFrom('events')
    .select('message_id as id')
    .where('group_id', '=', tenantId)
    .where('user_id', '=', userId)
    .where('type', '=', 'track')
    .where('timestamp', '>=', since)
    .where('timestamp', '<=', until)
    .orderBy('timestamp')
    .orderBy('rowid')
    .limit(5000),
);
const lastAttestedOf = reusable((k, tenantId: string) =>
  k.db
    .selectFrom('progress')
    .select((eb) => eb.fn.max('updated_at').as('t'))
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', 'checklist')
    .where(k.sql.jsonText('data', 'attested', 'by'), 'is not', null),
);
const attestedOf = reusable((k, tenantId: string) =>
  k.db
    .selectFrom('progress')
    .select('ref')
    .distinct()
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', 'checklist')
    .where('state', '=', 'completed')
    .where(k.sql.jsonText('data', 'attested', 'by'), 'is not', null),
);

export function progressEvaluator(k: KeelDb) {
  const tracks = (events: readonly Ev[], wanted: readonly string[]) => {
    const w = new Set(wanted);
    return events.filter((e) => e.type === 'track' && w.has(e.event));
  };
  /** The tenant's track events of these names: from `known` when the caller read them, else read now. */
  const trackEvents = async (tenantId: string, wanted: readonly string[], until: string, known?: Known) =>
    tracks(known?.events ?? (await tenantEvents(k, tenantId, wanted, until)), wanted);
  const identifies = (tenantId: string, userId: string) => userIdentifies(k, tenantId, userId);
  const tenantIdentifies = (tenantId: string) => identifiesOf(k, tenantId);
  const tenantUsers = (tenantId: string, until: string) => usersOf(k, tenantId, until);
  const userFirst = async (tenantId: string, userId: string) => (await userFirstOf(k, tenantId, userId))[0]?.t ?? null;
  const tenantFirst = async (tenantId: string, known?: Known) =>
    known?.tenantFirstSeen !== undefined ? known.tenantFirstSeen : ((await tenantFirstOf(k, tenantId))[0]?.t ?? null);
  const ids = (tenantId: string, userId: string, since: string, until: string) => idsOf(k, tenantId, userId, since, until);
  const lastAttested = async (tenantId: string, known?: Known) =>
    known?.lastAttested !== undefined ? known.lastAttested : ((await lastAttestedOf(k, tenantId))[0]?.t ?? null);
  const attested = (tenantId: string) => attestedOf(k, tenantId);

  const traitsOf = (rs: readonly { payload: string }[]) => {
    let t: Record<string, unknown> = {};
    for (const r of rs) t = { ...t, ...((JSON.parse(r.payload) as { traits?: Record<string, unknown> }).traits ?? {}) };
    return t;
  };
  const since = (first: string | null, now: number) => (first ? Math.min(Date.parse(first), now) : now);
  const itemsOf = (checklists: readonly ConfigChecklist[]) =>
    checklists.flatMap((c) =>
      c.items.map((i) => ({ c, i, ref: `${c.id}/${i.id}`, scope: i.scope ?? ('user' as const), decidable: serverDecidable(i.complete) })),
    );

  /**
   * One user's server-decided items and history (their per-day counts for `historyRules`).
   * `known.tenantFirstSeen`: the tenant's first event, when the caller has read it (else it is read here).
   */
  async function forUser(
    tenantId: string,
    userId: string,
    now: number,
    checklists: readonly ConfigChecklist[],
    base: TenantBase,
    historyRules: readonly Rule[],
    pendingSince?: number,
    known?: Pick<Known, 'tenantFirstSeen'>,
  ): Promise<UserProgress> {
    const until = new Date(now).toISOString();
    const items = itemsOf(checklists);
    const tenantNames = names(items.filter((x) => x.scope === 'tenant' && x.decidable).map((x) => x.i.complete));
    // Independent reads, issued together (a pool runs them at once; SQLite's one connection in turn).
    const [mine, uFirst, tFirst, traits, theirs, messageIds] = await Promise.all([
      tenantEvents(k, tenantId, names([...items.map((x) => x.i.complete), ...historyRules]), until, userId).then((es) => es.filter((e) => e.type === 'track')),
      userFirst(tenantId, userId),
      tenantFirst(tenantId, known),
      identifies(tenantId, userId),
      // The tenant's events only when a tenant-scope item needs them.
      tenantNames.length ? trackEvents(tenantId, tenantNames, until) : [],
      pendingSince === undefined ? [] : ids(tenantId, userId, new Date(pendingSince).toISOString(), until).then((rs) => rs.map((r) => r.id)),
    ]);
    const userCtx: RuleContext = { ...base, now, countEvents: eventContext(mine, now), userTraits: traitsOf(traits), historySince: since(uFirst, now) };
    const tenantCtx: RuleContext = { ...base, now, countEvents: eventContext(theirs, now), historySince: since(tFirst, now) };
    const decisions: ItemDecision[] = items.map(({ c, i, ref, scope, decidable }) => {
      const d: ItemDecision = { checklist: c.id, item: i.id, ref, scope, decidable, completed: false };
      if (i.attest) d.attest = i.attest;
      if (i.launch?.recipe) d.recipe = i.launch.recipe;
      if (decidable) {
        d.explanation = evaluate(i.complete, scope === 'tenant' ? tenantCtx : userCtx);
        d.completed = d.explanation.ok;
      }
      return d;
    });
    // The user's history for the browser: per-day counts over the longest window, and what is older.
    const span = historyDays(historyRules);
    const fromDay = Math.floor(now / DAY) - span + 1;
    const clauses = new Map<string, HistoryClause>();
    for (const r of historyRules) {
      for (const ref of referencedEvents(r)) {
        const key = clauseKey(ref.event, ref.where);
        if (clauses.has(key)) continue;
        const h: HistoryClause = { key, event: ref.event, days: {}, before: 0 };
        if (ref.where) h.where = ref.where;
        for (const e of mine) {
          if (e.event !== ref.event || e.ts > now || !matchWhere(ref.where, e.properties)) continue;
          const day = Math.floor(e.ts / DAY);
          if (day < fromDay) h.before++;
          else h.days[day] = (h.days[day] ?? 0) + 1;
        }
        clauses.set(key, h);
      }
    }
    return {
      tenantId,
      userId,
      now,
      items: decisions,
      history: { fromDay, firstSeen: uFirst, tenantFirstSeen: tFirst, clauses: [...clauses.values()], messageIds },
    };
  }

  /**
   * The tenant's checklists as lifecycle proofs read them: `completedItems` server-decided (a
   * user-scope item by any of its users), `attestedItems` the rest that a user attested.
   */
  async function forTenant(
    tenantId: string,
    now: number,
    checklists: readonly ConfigChecklist[],
    base: TenantBase,
    known?: Known,
  ): Promise<Map<string, ChecklistProgress>> {
    const until = new Date(now).toISOString();
    const items = itemsOf(checklists).filter((x) => x.decidable);
    const tenantScope = items.some((x) => x.scope === 'tenant');
    const userScope = items.some((x) => x.scope === 'user');
    const [all, tFirst, identified, users, att] = await Promise.all([
      trackEvents(tenantId, names(items.map((x) => x.i.complete)), until, known),
      tenantScope ? tenantFirst(tenantId, known) : null,
      // Each user's traits and first event only when a user-scope item is decided for them.
      userScope ? (known?.identifies ?? tenantIdentifies(tenantId)) : [],
      userScope ? (known?.users ?? tenantUsers(tenantId, until)) : [],
      known?.attestedRefs ?? attested(tenantId),
    ]);
    const tenantCtx: RuleContext = { ...base, now, countEvents: eventContext(all, now), historySince: since(tFirst, now) };
    const byUser = new Map<string, Ev[]>();
    for (const e of all) if (e.user) (byUser.get(e.user) ?? byUser.set(e.user, []).get(e.user)!).push(e);
    const traits = new Map<string, { payload: string }[]>();
    for (const r of identified) (traits.get(r.user!) ?? traits.set(r.user!, []).get(r.user!)!).push(r);
    const perUser: RuleContext[] = users.map(({ user, t }) => ({
      ...base,
      now,
      countEvents: eventContext(byUser.get(user!) ?? [], now),
      userTraits: traitsOf(traits.get(user!) ?? []),
      historySince: since(t, now),
    }));
    const done = new Set<string>();
    for (const { ref, scope, i } of items) {
      if (scope === 'tenant' ? evaluate(i.complete, tenantCtx).ok : perUser.some((u) => evaluate(i.complete, u).ok)) done.add(ref);
    }
    const attestedRefs = new Set(att.map((r) => r.ref));
    const out = new Map<string, ChecklistProgress>();
    for (const c of checklists) {
      const allItems = c.items.map((i) => i.id);
      const completedItems = allItems.filter((i) => done.has(`${c.id}/${i}`));
      const attestedItems = allItems.filter((i) => !done.has(`${c.id}/${i}`) && attestedRefs.has(`${c.id}/${i}`));
      out.set(c.id, { completedItems, completed: completedItems.length === allItems.length, attestedItems, allItems });
    }
    return out;
  }

  /**
   * When the tenant last made checklist progress (ms), from evidence: the newest stored event
   * that matches an event clause of some checklist item, or the newest attestation of an item.
   */
  async function lastEvidence(tenantId: string, now: number, checklists: readonly ConfigChecklist[], known?: Known): Promise<number | undefined> {
    const refs = checklists.flatMap((c) => c.items.flatMap((i) => referencedEvents(i.complete)));
    const [events, a] = await Promise.all([
      trackEvents(tenantId, [...new Set(refs.map((r) => r.event))], new Date(now).toISOString(), known),
      lastAttested(tenantId, known),
    ]);
    let t = -Infinity;
    for (const e of events) {
      if (e.ts > t && refs.some((r) => r.event === e.event && matchWhere(r.where, e.properties))) t = e.ts;
    }
    if (a) t = Math.max(t, Date.parse(a));
    return t === -Infinity ? undefined : t;
  }

  return { forUser, forTenant, lastEvidence };
}

/**
 * The event names the tenant-wide reads above need for these checklists (`forTenant` and
 * `lastEvidence`): every event clause of every item. A caller that reads them once passes them as `known.events`.
 */
export const checklistEventNames = (checklists: readonly ConfigChecklist[]) => names(checklists.flatMap((c) => c.items.map((i) => i.complete)));
