/**
 * Identity and tenant attribution. Segment's libraries don't stamp `context.groupId`, so the
 * server keeps who belongs to which tenant (from `group` calls, and `alias`/`identify` links
 * between ids) and attributes each stored event to a tenant itself:
 *
 * - a message's own `context.groupId` (a `group` call's `groupId`) decides when present;
 * - a batch carrying a valid user token is the page of that token's tenant: a message without a
 *   tenant gets it, and a message claiming another tenant is *disputed* (stored, attributed to
 *   no tenant: a claim the server can disprove is recorded as a claim, never counted);
 * - otherwise its user's tenant at the event's time: the latest `group` call at or before it,
 *   or, for events sent before their user's first `group` call, that call (if it comes within
 *   30 days after the event); the anonymous id's when the user has none; the users an id is
 *   linked to (alias, identify) count as that id. Events already stored are re-attributed when
 *   a `group`, `alias` or `identify` call that changes their answer arrives.
 *
 * Trust: `verified` when sent with a server-side write key, or when the batch's user token proves
 * the message's user (`sub` = userId, or the message names no user) and its tenant (`tenant` =
 * the attributed tenant);
 * `unverified` otherwise. A server-key message without a tenant of its own is attributed through
 * verified memberships only (a browser's `group` call can't move a backend's events).
 *
 * One identity table per server: every write key (public and server-side) shares it, so a
 * backend's `group` call attributes the browser's events (tenants are global to the server's
 * reads too).
 */
import type Database from 'better-sqlite3';
import type { Sender, StoredEvent } from './types.js';

export const ATTRIBUTION_WINDOW_MS = 30 * 86_400_000;

interface Membership { tenant: string; at: string; verified: boolean }
interface Link { user: string; verified: boolean }
export type Attribution = 'claim' | 'token' | 'identity' | 'disputed';

export interface Attributed {
  groupId: string | null;
  trust: 'verified' | 'unverified';
  attribution: Attribution;
}

const u = (id: string) => `u:${id}`;
const a = (id: string) => `a:${id}`;

/** The subjects an event is about: its user, its anonymous id. */
const subjectsOf = (userId: string | null, anonymousId: string | null) => {
  const s: string[] = [];
  if (userId) s.push(u(userId));
  if (anonymousId) s.push(a(anonymousId));
  return s;
};

export interface IdentityResolver {
  /** Decides the row's tenant and trust (before it is inserted). */
  attribute(row: StoredEvent): Attributed;
  /** After the row was inserted (not a duplicate): records memberships and links, re-attributes. */
  learn(row: StoredEvent, a: Attributed): void;
  /** Memberships of a user or anonymous id, oldest first, with when each began. */
  memberships(q: { userId?: string; anonymousId?: string }): { tenantId: string; since: string; verified: boolean }[];
  /** Forgets cached lookups (call when a transaction rolled back). */
  reset(): void;
}

/**
 * Statements are prepared once; every call runs inside the caller's (group-commit) transaction.
 * Lookups are cached across commits (bounded); the cache is only ever changed by `learn`, the one
 * writer of the identity tables, and dropped on a rollback.
 */
export function identityResolver(db: Database.Database, { windowMs = ATTRIBUTION_WINDOW_MS, cacheSize = 20_000 } = {}): IdentityResolver {
  const membersOf = db.prepare('SELECT tenant_id AS tenant, at, verified FROM identity_memberships WHERE subject = ? ORDER BY at');
  const linksOf = db.prepare('SELECT user_id AS user, verified FROM identity_links WHERE subject = ?');
  const aliasesOf = db.prepare('SELECT subject FROM identity_links WHERE user_id = ?');
  const addMember = db.prepare('INSERT OR IGNORE INTO identity_memberships (subject, tenant_id, at, verified) VALUES (?, ?, ?, ?)');
  const addLink = db.prepare('INSERT OR IGNORE INTO identity_links (subject, user_id, at, verified) VALUES (?, ?, ?, ?)');
  const upgradeLink = db.prepare('UPDATE identity_links SET verified = 1 WHERE subject = ? AND user_id = ? AND verified = 0');
  // Events still waiting for a tenant (indexed: a partial index, nearly empty when users' group
  // calls come first), and identity-attributed events of a tenant from a time on (the tenant/time index).
  const cols = 'rowid AS id, user_id AS userId, anonymous_id AS anonymousId, timestamp, trust, group_id AS groupId';
  const pendingUser = db.prepare(`SELECT ${cols} FROM events WHERE attribution = 'identity' AND group_id IS NULL AND user_id = ? AND timestamp >= ?`);
  const pendingAnon = db.prepare(`SELECT ${cols} FROM events WHERE attribution = 'identity' AND group_id IS NULL AND anonymous_id = ? AND timestamp >= ?`);
  const ofTenant = db.prepare(`SELECT ${cols} FROM events WHERE group_id = ? AND timestamp >= ? AND attribution = 'identity'`);
  const setTenant = db.prepare('UPDATE events SET group_id = ? WHERE rowid = ?');

  const members = new Map<string, Membership[]>();
  const links = new Map<string, Link[]>();
  const cached = <T>(m: Map<string, T>, key: string, load: () => T): T => {
    let v = m.get(key);
    if (v === undefined) {
      if (m.size >= cacheSize) m.clear();
      v = load();
      m.set(key, v);
    }
    return v;
  };
  const membershipsOf = (s: string) =>
    cached(members, s, () => (membersOf.all(s) as { tenant: string; at: string; verified: number }[]).map((r) => ({ tenant: r.tenant, at: r.at, verified: r.verified === 1 })));
  const linksFrom = (s: string) =>
    cached(links, s, () => (linksOf.all(s) as { user: string; verified: number }[]).map((r) => ({ user: r.user, verified: r.verified === 1 })));

  /**
   * The memberships that count for one id, oldest first: its own and those of the users it is
   * linked to (alias, identify). Cached per (id, view); cleared whenever `learn` changes a
   * membership or a link (rare: a user's first group call, a device's first identify).
   */
  const merged = new Map<string, Membership[]>();
  function membershipsFor(subject: string, verifiedOnly: boolean): Membership[] {
    return cached(merged, `${verifiedOnly ? 1 : 0}${subject}`, () => {
      const all = membershipsOf(subject).filter((m) => !verifiedOnly || m.verified);
      for (const l of linksFrom(subject)) {
        if (verifiedOnly && !l.verified) continue;
        for (const m of membershipsOf(u(l.user))) if (!verifiedOnly || m.verified) all.push(m);
      }
      return all.sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : x.tenant < y.tenant ? -1 : 1));
    });
  }

  /** An event's tenant: its user's at its time; the anonymous id's only when the user has none. */
  const resolve = (userId: string | null, anonymousId: string | null, ts: string, verifiedOnly: boolean) =>
    (userId ? tenantAt(membershipsFor(u(userId), verifiedOnly), ts) : null) ?? (anonymousId ? tenantAt(membershipsFor(a(anonymousId), verifiedOnly), ts) : null);

  /** The tenant at `ts`: the latest membership at or before it, else the first one within the window after it. */
  function tenantAt(list: readonly Membership[], ts: string): string | null {
    let i = list.length - 1;
    while (i >= 0 && list[i]!.at > ts) i--;
    if (i >= 0) return list[i]!.tenant;
    const next = list[0];
    return next && Date.parse(next.at) - Date.parse(ts) <= windowMs ? next.tenant : null;
  }
  const changed = (s: string) => {
    members.delete(s);
    links.delete(s);
    merged.clear();
  };

  type Row = { id: number; userId: string | null; anonymousId: string | null; timestamp: string; trust: string; groupId: string | null };
  /**
   * Recomputes the tenant of these subjects' identity-attributed events: those still without one
   * from `pendingSince` on, and those already attributed from `from` on (to any tenant these
   * subjects, or the users they are linked to, belong to: where their current answer came from).
   */
  function reattribute(subjects: ReadonlySet<string>, pendingSince: string, from: string): void {
    const rows: Row[] = [];
    const tenants = new Set<string>();
    for (const s of subjects) {
      rows.push(...((s.startsWith('u:') ? pendingUser : pendingAnon).all(s.slice(2), pendingSince) as Row[]));
      for (const m of membershipsOf(s)) tenants.add(m.tenant);
      for (const l of linksFrom(s)) for (const m of membershipsOf(u(l.user))) tenants.add(m.tenant);
    }
    for (const t of tenants) {
      for (const r of ofTenant.all(t, from) as Row[]) if (subjectsOf(r.userId, r.anonymousId).some((x) => subjects.has(x))) rows.push(r);
    }
    const seen = new Set<number>();
    for (const r of rows) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      const verifiedOnly = r.trust === 'verified';
      const t = resolve(r.userId, r.anonymousId, r.timestamp, verifiedOnly);
      if (t !== r.groupId) setTenant.run(t, r.id);
    }
  }

  const minus = (ts: string, ms: number) => new Date(Date.parse(ts) - ms).toISOString();

  return {
    attribute(row) {
      const claim = row.groupId;
      const sender: Sender = row.sender ?? { kind: 'anonymous' };
      if (sender.kind === 'user') {
        if (claim && claim !== sender.tenantId) return { groupId: null, trust: 'unverified', attribution: 'disputed' };
        // The page is the token's user's: a message naming no user is theirs, one naming another is not proven.
        const trust = row.userId === sender.userId || row.userId == null ? 'verified' : 'unverified';
        if (claim) return { groupId: claim, trust, attribution: 'claim' };
        if (trust === 'verified') return { groupId: sender.tenantId, trust, attribution: 'token' };
      }
      const server = sender.kind === 'server';
      const trust = server ? 'verified' : 'unverified';
      if (claim) return { groupId: claim, trust, attribution: 'claim' };
      return { groupId: resolve(row.userId, row.anonymousId, row.timestamp, server), trust, attribution: 'identity' };
    },

    learn(row, at) {
      const verified = at.trust === 'verified';
      if (row.type === 'group' && at.groupId && at.attribution !== 'disputed') {
        const tenant = at.groupId;
        const own = subjectsOf(row.userId, row.anonymousId);
        // A repeated call (the same tenant already holds at that time, for both views) changes nothing.
        const holds = own.every((s) => {
          const ms = membershipsOf(s).filter((m) => m.at <= row.timestamp);
          const latest = (v: boolean) => ms.filter((m) => !v || m.verified).at(-1)?.tenant;
          return latest(false) === tenant && (!verified || latest(true) === tenant);
        });
        if (holds) return;
        for (const s of own) {
          if (addMember.run(s, tenant, row.timestamp, verified ? 1 : 0).changes) changed(s);
        }
        const affected = new Set(own);
        if (row.userId) for (const r of aliasesOf.all(row.userId) as { subject: string }[]) affected.add(r.subject);
        reattribute(affected, minus(row.timestamp, windowMs), row.timestamp);
        return;
      }
      // alias: previousId (a user or an anonymous id) is the same person as userId.
      // identify with both ids: the anonymous id is that user's.
      const from = row.type === 'alias' ? (JSON.parse(row.payload) as { previousId?: string }).previousId : row.type === 'identify' ? row.anonymousId : null;
      if (!from || !row.userId || from === row.userId) return;
      const subjects = row.type === 'alias' ? [u(from), a(from)] : [a(from)];
      let linked = false;
      for (const s of subjects) {
        const r = addLink.run(s, row.userId, row.timestamp, verified ? 1 : 0);
        const up = !r.changes && verified ? upgradeLink.run(s, row.userId) : undefined;
        if (r.changes || up?.changes) {
          changed(s);
          linked = true;
        }
      }
      if (!linked) return;
      const first = membershipsOf(u(row.userId))[0];
      if (first) reattribute(new Set(subjects), minus(first.at, windowMs), row.timestamp);
    },

    memberships({ userId, anonymousId }) {
      const out = new Map<string, { tenantId: string; since: string; verified: boolean }>();
      for (const s of subjectsOf(userId ?? null, anonymousId ?? null)) {
        for (const m of membershipsOf(s)) {
          const prev = out.get(m.tenant);
          if (!prev) out.set(m.tenant, { tenantId: m.tenant, since: m.at, verified: m.verified });
          else {
            if (m.at < prev.since) prev.since = m.at;
            prev.verified ||= m.verified;
          }
        }
      }
      return [...out.values()].sort((x, y) => (x.since < y.since ? -1 : 1));
    },

    reset() {
      members.clear();
      links.clear();
      merged.clear();
    },
  };
}
