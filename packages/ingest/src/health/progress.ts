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
  type ChecklistProgress, clauseKey, evaluate, type Explanation, historyDays, type HistoryClause, matchWhere,
  type ProgressHistory, referencedEvents, type Rule, type RuleContext, serverDecidable,
} from '@keel/sdk-core/engine';
import type Database from 'better-sqlite3';

const DAY = 86_400_000;

export type Attest = 'user' | { roles: readonly string[] };
export interface ConfigItem { id: string; scope?: 'user' | 'tenant'; complete: Rule; attest?: Attest; launch?: { recipe?: string } }
export interface ConfigChecklist { id: string; items: readonly ConfigItem[] }

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

interface Ev { id: string; user: string | null; ts: number; event: string; properties: Record<string, unknown>; verified: boolean }

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
    for (const e of by.get(q.event) ?? []) if ((e.verified || q.evidence === 'any') && e.ts <= Math.min(q.until, now) && (q.since === undefined || e.ts >= q.since) && matchWhere(q.where, e.properties)) n++;
    return n;
  };
}

export function progressEvaluator(db: Database.Database) {
  const userEvents = db.prepare(`SELECT message_id AS id, user_id AS user, timestamp, event, payload, trust FROM events
    WHERE group_id = ? AND user_id = ? AND type = 'track' AND event IN (SELECT value FROM json_each(?)) AND timestamp <= ?`);
  const tenantEvents = db.prepare(`SELECT message_id AS id, user_id AS user, timestamp, event, payload, trust FROM events
    WHERE group_id = ? AND type = 'track' AND event IN (SELECT value FROM json_each(?)) AND timestamp <= ?`);
  const identifies = db.prepare(`SELECT user_id AS user, payload FROM events WHERE (group_id = ? OR group_id IS NULL) AND user_id = ? AND type = 'identify' ORDER BY timestamp, rowid`);
  const tenantIdentifies = db.prepare(`SELECT user_id AS user, payload FROM events WHERE group_id = ? AND user_id IS NOT NULL AND type = 'identify' ORDER BY timestamp, rowid`);
  const tenantUsers = db.prepare(`SELECT DISTINCT user_id AS user FROM events WHERE group_id = ? AND user_id IS NOT NULL AND timestamp <= ?`);
  const userFirst = db.prepare(`SELECT MIN(timestamp) AS t FROM events WHERE group_id = ? AND user_id = ?`);
  const tenantFirst = db.prepare(`SELECT MIN(timestamp) AS t FROM events WHERE group_id = ?`);
  const ids = db.prepare(`SELECT message_id AS id FROM events WHERE group_id = ? AND user_id = ? AND type = 'track' AND timestamp >= ? AND timestamp <= ? ORDER BY timestamp LIMIT 5000`);
  const lastAttested = db.prepare(`SELECT MAX(updated_at) AS t FROM progress WHERE tenant_id = ? AND kind = 'checklist' AND json_extract(data, '$.attested.by') IS NOT NULL`);
  const attested = db.prepare(`SELECT DISTINCT ref FROM progress WHERE tenant_id = ? AND kind = 'checklist' AND state = 'completed' AND json_extract(data, '$.attested.by') IS NOT NULL`);

  const rows = (rs: { id: string; user: string | null; timestamp: string; event: string; payload: string; trust?: string }[]): Ev[] =>
    rs.map((r) => ({ id: r.id, user: r.user, ts: Date.parse(r.timestamp), event: r.event, properties: (JSON.parse(r.payload) as { properties?: Record<string, unknown> }).properties ?? {}, verified: r.trust === 'verified' }));
  const traitsOf = (rs: { payload: string }[]) => {
    let t: Record<string, unknown> = {};
    for (const r of rs) t = { ...t, ...((JSON.parse(r.payload) as { traits?: Record<string, unknown> }).traits ?? {}) };
    return t;
  };
  const first = (r: unknown) => ((r as { t: string | null } | undefined)?.t ?? null);
  const itemsOf = (checklists: readonly ConfigChecklist[]) =>
    checklists.flatMap((c) => c.items.map((i) => ({ c, i, ref: `${c.id}/${i.id}`, scope: i.scope ?? 'user' as const, decidable: serverDecidable(i.complete) })));

  /** One user's server-decided items and history (their per-day counts for `historyRules`). */
  function forUser(
    tenantId: string, userId: string, now: number, checklists: readonly ConfigChecklist[], base: TenantBase,
    historyRules: readonly Rule[], pendingSince?: number,
  ): UserProgress {
    const until = new Date(now).toISOString();
    const items = itemsOf(checklists);
    const mine = rows(userEvents.all(tenantId, userId, JSON.stringify(names([...items.map((x) => x.i.complete), ...historyRules])), until) as never);
    const uFirst = first(userFirst.get(tenantId, userId));
    const tFirst = first(tenantFirst.get(tenantId));
    const userCtx: RuleContext = {
      ...base, now, countEvents: eventContext(mine, now), userTraits: traitsOf(identifies.all(tenantId, userId) as never),
      historySince: uFirst ? Math.min(Date.parse(uFirst), now) : now,
    };
    let tenantCtx: RuleContext | undefined;
    const tenantContext = () => (tenantCtx ??= {
      ...base, now,
      countEvents: eventContext(rows(tenantEvents.all(tenantId, JSON.stringify(names(items.filter((x) => x.scope === 'tenant').map((x) => x.i.complete))), until) as never), now),
      historySince: tFirst ? Math.min(Date.parse(tFirst), now) : now,
    });
    const decisions: ItemDecision[] = items.map(({ c, i, ref, scope, decidable }) => {
      const d: ItemDecision = { checklist: c.id, item: i.id, ref, scope, decidable, completed: false };
      if (i.attest) d.attest = i.attest;
      if (i.launch?.recipe) d.recipe = i.launch.recipe;
      if (decidable) {
        d.explanation = evaluate(i.complete, scope === 'tenant' ? tenantContext() : userCtx);
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
    const messageIds = pendingSince === undefined ? []
      : (ids.all(tenantId, userId, new Date(pendingSince).toISOString(), until) as { id: string }[]).map((r) => r.id);
    return {
      tenantId, userId, now, items: decisions,
      history: { fromDay, firstSeen: uFirst, tenantFirstSeen: tFirst, clauses: [...clauses.values()], messageIds },
    };
  }

  /**
   * The tenant's checklists as lifecycle proofs read them: `completedItems` server-decided (a
   * user-scope item by any of its users), `attestedItems` the rest that a user attested.
   */
  function forTenant(tenantId: string, now: number, checklists: readonly ConfigChecklist[], base: TenantBase): Map<string, ChecklistProgress> {
    const until = new Date(now).toISOString();
    const items = itemsOf(checklists).filter((x) => x.decidable);
    const all = rows(tenantEvents.all(tenantId, JSON.stringify(names(items.map((x) => x.i.complete))), until) as never);
    const tFirst = first(tenantFirst.get(tenantId));
    const tenantCtx: RuleContext = { ...base, now, countEvents: eventContext(all, now), historySince: tFirst ? Math.min(Date.parse(tFirst), now) : now };
    let users: { ctx: RuleContext }[] | undefined;
    const perUser = () => {
      if (users) return users;
      const byUser = new Map<string, Ev[]>();
      for (const e of all) if (e.user) (byUser.get(e.user) ?? byUser.set(e.user, []).get(e.user)!).push(e);
      const traits = new Map<string, { payload: string }[]>();
      for (const r of tenantIdentifies.all(tenantId) as { user: string; payload: string }[]) (traits.get(r.user) ?? traits.set(r.user, []).get(r.user)!).push(r);
      const ids = new Set([...(tenantUsers.all(tenantId, until) as { user: string }[]).map((r) => r.user)]);
      return (users = [...ids].map((u) => {
        const f = first(userFirst.get(tenantId, u));
        return { ctx: { ...base, now, countEvents: eventContext(byUser.get(u) ?? [], now), userTraits: traitsOf(traits.get(u) ?? []), historySince: f ? Math.min(Date.parse(f), now) : now } };
      }));
    };
    const done = new Set<string>();
    for (const { ref, scope, i } of items) {
      if (scope === 'tenant' ? evaluate(i.complete, tenantCtx).ok : perUser().some((u) => evaluate(i.complete, u.ctx).ok)) done.add(ref);
    }
    const att = new Set((attested.all(tenantId) as { ref: string }[]).map((r) => r.ref));
    const out = new Map<string, ChecklistProgress>();
    for (const c of checklists) {
      const allItems = c.items.map((i) => i.id);
      const completedItems = allItems.filter((i) => done.has(`${c.id}/${i}`));
      const attestedItems = allItems.filter((i) => !done.has(`${c.id}/${i}`) && att.has(`${c.id}/${i}`));
      out.set(c.id, { completedItems, completed: completedItems.length === allItems.length, attestedItems, allItems });
    }
    return out;
  }

  /**
   * When the tenant last made checklist progress (ms), from evidence: the newest stored event
   * that matches an event clause of some checklist item, or the newest attestation of an item.
   */
  function lastEvidence(tenantId: string, now: number, checklists: readonly ConfigChecklist[]): number | undefined {
    const refs = checklists.flatMap((c) => c.items.flatMap((i) => referencedEvents(i.complete)));
    let t = -Infinity;
    if (refs.length) {
      for (const e of rows(tenantEvents.all(tenantId, JSON.stringify([...new Set(refs.map((r) => r.event))]), new Date(now).toISOString()) as never)) {
        if (e.ts > t && refs.some((r) => r.event === e.event && matchWhere(r.where, e.properties))) t = e.ts;
      }
    }
    const a = (lastAttested.get(tenantId) as { t: string | null }).t;
    if (a) t = Math.max(t, Date.parse(a));
    return t === -Infinity ? undefined : t;
  }

  return { forUser, forTenant, lastEvidence };
}
