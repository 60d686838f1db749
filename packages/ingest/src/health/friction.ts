/**
 * The friction log: recurring failure modes, named and ranked by the users and tenants they hit in
 * a window, with their trend against the window before. Each kind is read from events the SDK and
 * the product already send:
 *
 * - `error`: `error.raised`, grouped by fingerprint: its `code` when it has one, else its message
 *   normalised (numbers, ids, quoted values and URLs replaced by placeholders), plus the page route
 *   (path segments that are ids become `:id`).
 * - `anchor_missing`: `anchor.missing`, by nudge or recipe step, and route.
 * - `recipe_exit` / `recipe_skip`: `recipe.exited` and `recipe.step_completed` with `how: skip`, by
 *   recipe and step: where people give up on a walkthrough.
 * - `integration_failed`: `integration.state` whose state says it broke (failed, error, expired,
 *   disconnected, revoked…), by integration.
 * - `ticket`: `ticket.created`, by tag (untagged tickets are one entry).
 *
 * Every entry says which config items address it (a nudge, an error repair, or a checklist item
 * whose rule names the entry's event with a `where` its events match) and, for each, the share of active users it hit in
 * the window before that item was first published and in the window after: the rate, not the
 * count, so a quieter week doesn't read as a fix.
 *
 * These are the browser's reports: a public write key lets anyone send them, so each entry also
 * says how many of its users were verified (`verifiedUsers`), and `evidence: 'verified'` counts
 * only those.
 */
import { matchWhere, type Where } from '@keel/sdk-core/engine';
import { type KeelConfig, REPAIR_PREFIX, servedConfig } from '@keel/sdk-core/authoring';
import { sql } from 'kysely';
import type { KeelDb } from '../store/db.js';

export type FrictionKind = 'error' | 'anchor_missing' | 'recipe_exit' | 'recipe_skip' | 'integration_failed' | 'ticket';
const EVENTS = ['error.raised', 'anchor.missing', 'recipe.exited', 'recipe.step_completed', 'integration.state', 'ticket.created'];
const DAY = 86_400_000;
/** How far back first-seen is looked for. */
const LOOKBACK_DAYS = 90;
const BROKEN = /fail|error|expired|disconnect|revoked|invalid|unauthori[sz]ed|broken/i;

export interface FrictionPeriod {
  from: string;
  to: string;
  /** Users (user id, else anonymous id) the failure hit in the period. */
  affectedUsers: number;
  /** Users with any event in the period. */
  activeUsers: number;
  rate: number | null;
}

export interface FrictionFix {
  /** `nudge:<id>`, `repair:<id>` (an `errors:` entry) or `checklist:<checklist>/<item>`. */
  item: string;
  /** The first config version that had it, and when it was published. */
  version: number;
  publishedAt: string;
  /** Null when the window before the version starts earlier than the events read (`LOOKBACK_DAYS`). */
  before: FrictionPeriod | null;
  after: FrictionPeriod | null;
  explanation: string;
}

export interface FrictionEntry {
  kind: FrictionKind;
  /** Stable across windows: the kind and the fingerprint. */
  key: string;
  title: string;
  route: string | null;
  /** Times seen in the window, and the users and tenants it hit. */
  occurrences: number;
  users: number;
  tenants: number;
  verifiedUsers: number;
  previous: { occurrences: number; users: number };
  trend: 'new' | 'rising' | 'falling' | 'steady';
  firstSeen: string;
  lastSeen: string;
  /** The tenants it hit most (up to 10), with their latest health band. */
  affected: { tenant: string; users: number; band: string | null }[];
  /** The latest few events, to look up. */
  samples: { messageId: string; at: string; tenant: string | null; user: string | null }[];
  addressedBy: FrictionFix[];
  explanation: string;
}

export interface FrictionOptions {
  now?: number;
  /** Window length in days (default 7); the trend compares it with the window before. */
  days?: number;
  tenant?: string;
  evidence?: 'verified' | 'any';
  /** Entries returned, most users first (default 50). */
  limit?: number;
}

interface Row {
  messageId: string;
  event: string;
  user: string | null;
  anon: string | null;
  tenant: string | null;
  timestamp: string;
  payload: string;
  trust: string;
}

const parse = (payload: string): { properties: Record<string, unknown>; path: string | undefined } => {
  try {
    const p = JSON.parse(payload) as { properties?: unknown; context?: { page?: { path?: unknown } } };
    const properties = p.properties && typeof p.properties === 'object' ? (p.properties as Record<string, unknown>) : {};
    const path = typeof properties.path === 'string' ? properties.path : typeof p.context?.page?.path === 'string' ? p.context.page.path : undefined;
    return { properties, path };
  } catch {
    return { properties: {}, path: undefined };
  }
};
/**
 * An event's properties with every string cut to 500 characters and every list to 50 entries: what
 * authors' `where` globs are matched against. A stored message can be as long as the body limit,
 * and a glob with several `*` on a long string backtracks for long enough to stall the server.
 */
function clipped(v: unknown): Record<string, unknown> {
  const clip = (x: unknown, d: number): unknown =>
    typeof x === 'string'
      ? x.slice(0, 500)
      : Array.isArray(x)
        ? d > 8
          ? []
          : x.slice(0, 50).map((y) => clip(y, d + 1))
        : x && typeof x === 'object'
          ? d > 8
            ? {}
            : Object.fromEntries(
                Object.entries(x)
                  .slice(0, 100)
                  .map(([k, y]) => [k, clip(y, d + 1)]),
              )
          : x;
  return clip(v, 0) as Record<string, unknown>;
}
const str = (v: unknown, max = 200): string | undefined => (typeof v === 'string' && v ? v.slice(0, max) : typeof v === 'number' ? String(v) : undefined);

/** A path with its id-like segments (numbers, UUIDs, long hex, long letter-and-digit tokens) as `:id`; slugs such as `getting-started-v2` stay. No query or hash. */
export function routeOf(path: string): string {
  const p = path.split(/[?#]/)[0]!.slice(0, 300);
  return p
    .split('/')
    .map((s) => (/^\d+$|^[0-9a-f]{8}-[0-9a-f-]{27,}$|^[0-9a-f]{12,}$|^(?=.*\d)(?=.*[a-z])[a-z0-9]{16,}$/i.test(s) ? ':id' : s))
    .join('/');
}

/** An error message with what varies between occurrences replaced, so one failure is one entry. */
export function fingerprintOf(message: string): string {
  return message
    .slice(0, 500)
    .replace(/\bhttps?:\/\/\S+/g, '<url>')
    .replace(/"[^"]*"|(?<!\w)'[^']*'(?!\w)|`[^`]*`/g, '"…"')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<id>')
    .replace(/\b(?:0x)?[0-9a-f]*\d[0-9a-f]*\b/gi, (m) => (m.length >= 8 ? '<id>' : /^\d+$/.test(m) ? '<n>' : m))
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
}

/** The entry an event belongs to, or undefined when it is not a failure. */
function classify(r: Row): { kind: FrictionKind; key: string; title: string; route: string | null; props: Record<string, unknown> } | undefined {
  const { properties: p, path } = parse(r.payload);
  const route = path ? routeOf(path) : null;
  const on = route ? ` on ${route}` : '';
  switch (r.event) {
    case 'error.raised': {
      const code = str(p.code, 100);
      const what = code ? `code ${code}` : fingerprintOf(str(p.message, 500) ?? 'an error with no message');
      return { kind: 'error', key: `error:${what}@${route ?? ''}`, title: `${what}${on}`, route, props: p };
    }
    case 'anchor.missing': {
      const nudge = str(p.nudge, 100);
      const recipe = str(p.recipe, 100);
      const step = str(p.step, 10);
      const of = nudge ? `nudge "${nudge}"` : recipe ? `recipe "${recipe}" step ${step ?? '?'}` : 'an unnamed surface';
      return {
        kind: 'anchor_missing',
        key: `anchor:${nudge ?? `${recipe}/${step}`}@${route ?? ''}`,
        title: `the anchor of ${of} never appeared${on}`,
        route,
        props: p,
      };
    }
    case 'recipe.exited': {
      if (p.reason !== undefined && p.reason !== 'exited') return undefined; // replaced by another: not the user giving up
      const recipe = str(p.recipe, 100) ?? '?';
      const step = str(p.step, 10) ?? '?';
      return { kind: 'recipe_exit', key: `recipe_exit:${recipe}/${step}`, title: `users leave recipe "${recipe}" at step ${step}`, route, props: p };
    }
    case 'recipe.step_completed': {
      if (p.how !== 'skip') return undefined;
      const recipe = str(p.recipe, 100) ?? '?';
      const step = str(p.step, 10) ?? '?';
      return { kind: 'recipe_skip', key: `recipe_skip:${recipe}/${step}`, title: `users skip step ${step} of recipe "${recipe}"`, route, props: p };
    }
    case 'integration.state': {
      const state = str(p.state, 100);
      if (!state || !BROKEN.test(state)) return undefined;
      const integration = str(p.integration, 100) ?? '?';
      return { kind: 'integration_failed', key: `integration:${integration}`, title: `integration "${integration}" is failing`, route: null, props: p };
    }
    case 'ticket.created': {
      const tags = Array.isArray(p.tags) ? p.tags : p.tag !== undefined ? [p.tag] : [];
      const tag = str(tags.find((t) => typeof t === 'string' && t) as unknown, 100);
      return { kind: 'ticket', key: `ticket:${tag ?? ''}`, title: tag ? `tickets tagged "${tag}"` : 'untagged tickets', route: null, props: p };
    }
  }
  return undefined;
}

/** Every `{ event, where }` a rule needs to hold, at any depth of all and any (not under not). */
function eventLeaves(rule: unknown, out: { event: string; where?: Where }[] = []): { event: string; where?: Where }[] {
  if (!rule || typeof rule !== 'object') return out;
  if (Array.isArray(rule)) {
    for (const r of rule) eventLeaves(r, out);
    return out;
  }
  const r = rule as Record<string, unknown>;
  // A clause that also holds with none of the event ("count: { lte: 0 }", or under "not") doesn't answer it.
  if (typeof r.event === 'string' && !holdsAtZero(r.count)) out.push({ event: r.event, ...(r.where ? { where: r.where as Where } : {}) });
  for (const k of ['all', 'any']) if (r[k]) eventLeaves(r[k], out);
  return out;
}

/** Whether an event clause's count comparison holds for a count of 0 (its default, at least 1, doesn't). */
function holdsAtZero(count: unknown): boolean {
  if (!count || typeof count !== 'object') return false;
  const c = count as Record<string, unknown>;
  const n = (k: string) => (typeof c[k] === 'number' ? (c[k] as number) : undefined);
  const [eq, ne, gt, gte, lt, lte] = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte'].map(n);
  return (
    (eq === undefined || eq === 0) &&
    (ne === undefined || ne !== 0) &&
    (gt === undefined || 0 > gt) &&
    (gte === undefined || 0 >= gte) &&
    (lt === undefined || 0 < lt) &&
    (lte === undefined || 0 <= lte)
  );
}

/** A nudge's item name; an error repair (served as the nudge `repair-<id>`) is `repair:<id>`. */
const itemOf = (nudgeId: string) => (nudgeId.startsWith(REPAIR_PREFIX) ? `repair:${nudgeId.slice(REPAIR_PREFIX.length)}` : `nudge:${nudgeId}`);

/** The config items whose rules name this event with a `where` the sample matches. */
function addressing(config: KeelConfig | undefined, event: string, sample: Record<string, unknown>): string[] {
  const hits = (rules: unknown[]) => rules.some((rule) => eventLeaves(rule).some((l) => l.event === event && matchWhere(l.where, sample)));
  const items: string[] = [];
  for (const n of config ? (servedConfig(config).nudges ?? []) : []) if (hits([n.when, n.audience])) items.push(itemOf(n.id));
  for (const c of config?.checklists ?? []) for (const i of c.items) if (i.recovery && hits([i.failed])) items.push(`checklist:${c.id}/${i.id}`);
  return items;
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);

export async function frictionLog(k: KeelDb, current: KeelConfig | undefined, o: FrictionOptions = {}): Promise<FrictionEntry[]> {
  const now = o.now ?? Date.now();
  const days = o.days ?? 7;
  const windowMs = days * DAY;
  const from = now - windowMs;
  const prevFrom = from - windowMs;
  const iso = (t: number) => new Date(t).toISOString();
  const loadedFrom = now - Math.max(LOOKBACK_DAYS * DAY, 2 * windowMs);
  let q = k.db
    .selectFrom('events')
    .select(['message_id as messageId', 'event', 'user_id as user', 'anonymous_id as anon', 'group_id as tenant', 'timestamp', 'payload', 'trust'])
    .where('event', 'in', EVENTS)
    .where('timestamp', '>=', iso(loadedFrom))
    .where('timestamp', '<=', iso(now));
  if (o.tenant !== undefined) q = q.where('group_id', '=', o.tenant);
  if (o.evidence === 'verified') q = q.where('trust', '=', 'verified');
  const rows = (await q.orderBy('timestamp').execute()) as Row[];

  type Acc = {
    kind: FrictionKind;
    key: string;
    title: string;
    route: string | null;
    event: string;
    sample: Record<string, unknown>;
    first: number;
    last: number;
    occurrences: number;
    users: Set<string>;
    verified: Set<string>;
    tenants: Map<string, Set<string>>;
    prev: { occurrences: number; users: Set<string> };
    /** Every user it hit, with when: for the before/after rates. */
    hits: { at: number; who: string }[];
    samples: Row[];
  };
  const acc = new Map<string, Acc>();
  for (const r of rows) {
    const c = classify(r);
    if (!c) continue;
    const at = Date.parse(r.timestamp);
    const who = r.user ?? (r.anon ? `anon:${r.anon}` : undefined);
    let a = acc.get(c.key);
    if (!a) {
      a = {
        ...c,
        event: r.event,
        sample: clipped(c.props),
        first: at,
        last: at,
        occurrences: 0,
        users: new Set(),
        verified: new Set(),
        tenants: new Map(),
        prev: { occurrences: 0, users: new Set() },
        hits: [],
        samples: [],
      };
      acc.set(c.key, a);
    }
    a.last = at;
    if (who) a.hits.push({ at, who });
    if (at >= from) {
      a.occurrences++;
      a.sample = clipped(c.props);
      if (who) {
        a.users.add(who);
        if (r.trust === 'verified') a.verified.add(who);
        if (r.tenant !== null) {
          const t = a.tenants.get(r.tenant) ?? new Set<string>();
          t.add(who);
          a.tenants.set(r.tenant, t);
        }
      }
      a.samples.push(r);
      if (a.samples.length > 3) a.samples.shift();
    } else if (at >= prevFrom) {
      a.prev.occurrences++;
      if (who) a.prev.users.add(who);
    }
  }
  const inWindow = [...acc.values()].filter((a) => a.occurrences > 0);
  inWindow.sort((x, y) => y.users.size - x.users.size || y.tenants.size - x.tenants.size || y.occurrences - x.occurrences || (x.key < y.key ? -1 : 1));
  const top = inWindow.slice(0, o.limit ?? 50);

  // Latest health band of the tenants shown.
  const tenantIds = [...new Set(top.flatMap((a) => [...a.tenants.keys()]))];
  const bands = new Map<string, string>();
  for (let i = 0; i < tenantIds.length; i += 500) {
    const part = tenantIds.slice(i, i + 500);
    const snaps = await k.db.selectFrom('health_snapshots').select(['tenant_id', 'band']).where('tenant_id', 'in', part).orderBy('day').execute();
    for (const s of snaps) bands.set(s.tenant_id, s.band);
  }

  // When each addressing item was first published.
  const versions = await k.db.selectFrom('config_versions').select(['version', 'document', 'published_at']).orderBy('version').execute();
  const firstPublished = new Map<string, { version: number; at: number }>();
  for (const v of versions) {
    let doc: KeelConfig;
    try {
      doc = JSON.parse(v.document) as KeelConfig;
    } catch {
      continue;
    }
    const items = [
      ...(servedConfig(doc).nudges ?? []).map((n) => itemOf(n.id)),
      ...(doc.checklists ?? []).flatMap((c) => c.items.map((i) => `checklist:${c.id}/${i.id}`)),
    ];
    for (const item of items) if (!firstPublished.has(item)) firstPublished.set(item, { version: Number(v.version), at: Date.parse(v.published_at) });
  }
  const activeCache = new Map<string, number>();
  const activeUsers = async (a: number, b: number) => {
    const key = `${a}-${b}`;
    if (!activeCache.has(key)) {
      let q2 = k.db
        .selectFrom('events')
        .select(sql<number>`count(distinct coalesce(user_id, 'anon:' || anonymous_id))`.as('n'))
        .where('timestamp', '>=', iso(a))
        .where('timestamp', '<', iso(b));
      if (o.tenant !== undefined) q2 = q2.where('group_id', '=', o.tenant);
      if (o.evidence === 'verified') q2 = q2.where('trust', '=', 'verified');
      activeCache.set(key, Number((await q2.executeTakeFirst())?.n ?? 0));
    }
    return activeCache.get(key)!;
  };
  const period = async (a: Acc, start: number, end: number): Promise<FrictionPeriod> => {
    const affected = new Set(a.hits.filter((h) => h.at >= start && h.at < end).map((h) => h.who)).size;
    const active = await activeUsers(start, end);
    return { from: iso(start), to: iso(end), affectedUsers: affected, activeUsers: active, rate: active ? affected / active : null };
  };

  const out: FrictionEntry[] = [];
  for (const a of top) {
    const fixes: FrictionFix[] = [];
    for (const item of addressing(current, a.event, a.sample)) {
      const p = firstPublished.get(item);
      if (!p) continue;
      if (p.at - windowMs < loadedFrom) {
        const readDays = Math.round((now - loadedFrom) / DAY);
        fixes.push({
          item,
          version: p.version,
          publishedAt: iso(p.at),
          before: null,
          after: null,
          explanation: `version ${p.version} brought ${item} on ${iso(p.at).slice(0, 10)}, before the last ${readDays} days this log reads: nothing to compare it with`,
        });
        continue;
      }
      const before = await period(a, p.at - windowMs, p.at);
      const after = await period(a, p.at, Math.min(p.at + windowMs, now));
      const short = now - p.at < windowMs ? ` (only ${((now - p.at) / DAY).toFixed(1)} of ${days} days so far)` : '';
      const explanation =
        before.rate === null || after.rate === null
          ? `no active users ${before.rate === null ? 'before' : 'after'} version ${p.version}: nothing to compare`
          : `${pct(before.rate)} of active users hit it in the ${days} days before version ${p.version} brought ${item}, ${pct(after.rate)} after${short}`;
      fixes.push({ item, version: p.version, publishedAt: iso(p.at), before, after, explanation });
    }
    const users = a.users.size;
    const prevUsers = a.prev.users.size;
    const trend: FrictionEntry['trend'] =
      a.first >= from ? 'new' : users > prevUsers * 1.25 + 1 ? 'rising' : users < prevUsers * 0.8 - 1 ? 'falling' : 'steady';
    const tenants = [...a.tenants].sort((x, y) => y[1].size - x[1].size || (x[0] < y[0] ? -1 : 1));
    out.push({
      kind: a.kind,
      key: a.key,
      title: a.title,
      route: a.route,
      occurrences: a.occurrences,
      users,
      tenants: a.tenants.size,
      verifiedUsers: a.verified.size,
      previous: { occurrences: a.prev.occurrences, users: prevUsers },
      trend,
      firstSeen: iso(a.first),
      lastSeen: iso(a.last),
      affected: tenants.slice(0, 10).map(([tenant, u]) => ({ tenant, users: u.size, band: bands.get(tenant) ?? null })),
      samples: a.samples.reverse().map((r) => ({ messageId: r.messageId, at: r.timestamp, tenant: r.tenant, user: r.user })),
      addressedBy: fixes,
      explanation: `${users} users in ${a.tenants.size} tenants, ${a.occurrences} times in the last ${days} days (${prevUsers} users the ${days} days before: ${trend})${
        fixes.length ? '' : '; no config item addresses it yet'
      }`,
    });
  }
  return out;
}
