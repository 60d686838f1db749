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

export interface Membership {
  tenant: string;
  at: string;
  verified: boolean;
}
export interface Link {
  user: string;
  verified: boolean;
}
/** An identity-attributed event, as reattribution reads it. */
export interface AttributedRow {
  id: number;
  userId: string | null;
  anonymousId: string | null;
  timestamp: string;
  trust: string;
  groupId: string | null;
}
export type Attribution = 'claim' | 'token' | 'identity' | 'disputed';

export interface Attributed {
  groupId: string | null;
  trust: 'verified' | 'unverified';
  attribution: Attribution;
}

type Awaitable<T> = T | Promise<T>;

/**
 * The identity tables (and the events' tenant column) as the attribution logic reads and writes
 * them: one implementation per dialect, the logic once (`identityCore`). Subjects are `u:<userId>`
 * or `a:<anonymousId>`. SQLite answers with plain values (synchronous statements); PostgreSQL with
 * promises, on the group commit's transaction client. Writes answer whether they changed a row.
 */
export interface IdentityIO {
  /** Memberships of each subject, oldest first; every subject asked for has an entry (empty when it has none). */
  membersOf(subjects: readonly string[]): Awaitable<Map<string, Membership[]>>;
  /** The users each subject is linked to (alias, identify); an entry for every subject asked for. */
  linksOf(subjects: readonly string[]): Awaitable<Map<string, Link[]>>;
  /** The subjects linked to a user. */
  aliasesOf(userId: string): Awaitable<string[]>;
  addMember(subject: string, tenant: string, at: string, verified: boolean): Awaitable<boolean>;
  addLink(subject: string, userId: string, at: string, verified: boolean): Awaitable<boolean>;
  /** Marks an unverified link verified. */
  upgradeLink(subject: string, userId: string): Awaitable<boolean>;
  /** Identity-attributed events still without a tenant, of a user / an anonymous id, timestamped at or after `since`. */
  pendingUser(userId: string, since: string): Awaitable<AttributedRow[]>;
  pendingAnon(anonymousId: string, since: string): Awaitable<AttributedRow[]>;
  /** Identity-attributed events of a tenant timestamped at or after `from`. */
  ofTenant(tenant: string, from: string): Awaitable<AttributedRow[]>;
  setTenant(id: number, groupId: string | null): Awaitable<void>;
}

const u = (id: string) => `u:${id}`;
const a = (id: string) => `a:${id}`;

/** The subjects an event is about: its user, its anonymous id. */
export const subjectsOf = (userId: string | null, anonymousId: string | null) => {
  const s: string[] = [];
  if (userId) s.push(u(userId));
  if (anonymousId) s.push(a(anonymousId));
  return s;
};

/** The subjects a row's identity calls change (group: its own; alias, identify: the linked ids and the user). */
export function identitySubjectsOf(row: StoredEvent): string[] {
  if (row.type === 'group') return subjectsOf(row.userId, row.anonymousId);
  const from = linkedFrom(row);
  if (!from || !row.userId) return [];
  return [u(row.userId), ...(row.type === 'alias' ? [u(from), a(from)] : [a(from)])];
}

/** alias: previousId (a user or an anonymous id) is the same person as userId; identify with both ids: the anonymous id is that user's. */
function linkedFrom(row: StoredEvent): string | null | undefined {
  if (row.type === 'alias') {
    try {
      return (JSON.parse(row.payload) as { previousId?: string }).previousId;
    } catch {
      return undefined;
    }
  }
  return row.type === 'identify' ? row.anonymousId : null;
}

/**
 * A row's tenant and trust when the row decides them itself (its own claim, its user token's
 * tenant), without the identity tables; `undefined` when its user's memberships decide.
 */
export function ownAttribution(row: StoredEvent): Attributed | undefined {
  const claim = row.groupId;
  const sender: Sender = row.sender ?? { kind: 'anonymous' };
  if (sender.kind === 'user') {
    if (claim && claim !== sender.tenantId) return { groupId: null, trust: 'unverified', attribution: 'disputed' };
    // The page is the token's user's: a message naming no user is theirs, one naming another is not proven.
    const trust = row.userId === sender.userId || row.userId == null ? 'verified' : 'unverified';
    if (claim) return { groupId: claim, trust, attribution: 'claim' };
    if (trust === 'verified') return { groupId: sender.tenantId, trust, attribution: 'token' };
  }
  const trust = sender.kind === 'server' ? 'verified' : 'unverified';
  return claim ? { groupId: claim, trust, attribution: 'claim' } : undefined;
}
const identityTrust = (row: StoredEvent) => ({
  trust: row.sender?.kind === 'server' ? ('verified' as const) : ('unverified' as const),
  attribution: 'identity' as const,
});

/** Whether storing this row reads or writes the identity tables: it records identity (group, alias, identify), or its tenant comes from them. */
export const needsIdentity = (row: StoredEvent) => row.type === 'group' || row.type === 'alias' || row.type === 'identify' || ownAttribution(row) === undefined;

export interface IdentityResolver {
  /** Decides the row's tenant and trust (before it is inserted). */
  attribute(row: StoredEvent): Promise<Attributed>;
  /**
   * The same answer as `attribute`, synchronously, when it needs no lookup that isn't cached (the
   * row carries its tenant, or its user's memberships are cached); undefined otherwise. Lets the
   * SQLite group commit take a row without an await (and its microtask) in the common case.
   */
  attributeCached(row: StoredEvent): Attributed | undefined;
  /** After the row was inserted (not a duplicate): records memberships and links, re-attributes (or queues that, see `defer`). */
  learn(row: StoredEvent, a: Attributed): Promise<void>;
  /** Runs the reattributions `learn` queued (with `defer`): call once the rows they may touch are inserted. */
  flush(): Promise<void>;
  /** Loads the memberships and links of these subjects (and of the users they are linked to) in a few batched reads. */
  prefetch(subjects: Iterable<string>): Promise<void>;
  /** Memberships of a user or anonymous id, oldest first, with when each began. */
  memberships(q: { userId?: string; anonymousId?: string }): Promise<{ tenantId: string; since: string; verified: boolean }[]>;
  /** Forgets cached lookups (call when a transaction rolled back). */
  reset(): void;
}

export interface IdentityOptions {
  windowMs?: number;
  /** Cached subjects (memberships, links) before the cache starts over. */
  cacheSize?: number;
  /**
   * Queue reattributions until `flush()` instead of running each in `learn`: for a store that
   * inserts a commit's events in one statement after attributing them (PostgreSQL). Reattribution
   * then sees the whole commit's rows and memberships.
   */
  defer?: boolean;
}

/**
 * The attribution logic over an `IdentityIO`. Every call runs inside the caller's (group-commit)
 * transaction. Lookups are cached for as long as the resolver lives: across commits on SQLite (one
 * writer: `learn` is the only one changing the identity tables, and the cache is dropped on a
 * rollback), for one commit on PostgreSQL (other nodes write too).
 */
export function identityCore(io: IdentityIO, { windowMs = ATTRIBUTION_WINDOW_MS, cacheSize = 20_000, defer = false }: IdentityOptions = {}): IdentityResolver {
  const members = new Map<string, Membership[]>();
  const links = new Map<string, Link[]>();
  const put = <T>(m: Map<string, T>, key: string, v: T) => {
    if (m.size >= cacheSize) m.clear();
    m.set(key, v);
  };
  async function membershipsOf(s: string): Promise<Membership[]> {
    let v = members.get(s);
    if (v === undefined) {
      v = (await io.membersOf([s])).get(s) ?? [];
      put(members, s, v);
    }
    return v;
  }
  async function linksFrom(s: string): Promise<Link[]> {
    let v = links.get(s);
    if (v === undefined) {
      v = (await io.linksOf([s])).get(s) ?? [];
      put(links, s, v);
    }
    return v;
  }

  /**
   * The memberships that count for one id, oldest first: its own and those of the users it is
   * linked to (alias, identify). Cached per (id, view); cleared whenever `learn` changes a
   * membership or a link (rare: a user's first group call, a device's first identify).
   */
  const mergedAll = new Map<string, Membership[]>();
  const mergedVerified = new Map<string, Membership[]>();
  async function membershipsFor(subject: string, verifiedOnly: boolean): Promise<Membership[]> {
    const merged = verifiedOnly ? mergedVerified : mergedAll;
    const hit = merged.get(subject);
    if (hit) return hit;
    const all = (await membershipsOf(subject)).filter((m) => !verifiedOnly || m.verified);
    for (const l of await linksFrom(subject)) {
      if (verifiedOnly && !l.verified) continue;
      for (const m of await membershipsOf(u(l.user))) if (!verifiedOnly || m.verified) all.push(m);
    }
    all.sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : x.tenant < y.tenant ? -1 : 1));
    put(merged, subject, all);
    return all;
  }

  /** An event's tenant: its user's at its time; the anonymous id's only when the user has none. */
  const resolve = async (userId: string | null, anonymousId: string | null, ts: string, verifiedOnly: boolean) =>
    (userId ? tenantAt(await membershipsFor(u(userId), verifiedOnly), ts) : null) ??
    (anonymousId ? tenantAt(await membershipsFor(a(anonymousId), verifiedOnly), ts) : null);

  /** `resolve` from the cached lists alone: undefined when a list it needs isn't cached. */
  function resolveCached(userId: string | null, anonymousId: string | null, ts: string, verifiedOnly: boolean): string | null | undefined {
    const merged = verifiedOnly ? mergedVerified : mergedAll;
    if (userId) {
      const list = merged.get(u(userId));
      if (!list) return undefined;
      const t = tenantAt(list, ts);
      if (t) return t;
    }
    if (!anonymousId) return null;
    const list = merged.get(a(anonymousId));
    return list ? tenantAt(list, ts) : undefined;
  }

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
    mergedAll.clear();
    mergedVerified.clear();
  };

  /**
   * Recomputes the tenant of these subjects' identity-attributed events: those still without one
   * from `pendingSince` on, and those already attributed from `from` on (to any tenant these
   * subjects, or the users they are linked to, belong to: where their current answer came from).
   */
  async function reattribute(subjects: ReadonlySet<string>, pendingSince: string, from: string): Promise<void> {
    const rows: AttributedRow[] = [];
    const tenants = new Set<string>();
    for (const s of subjects) {
      rows.push(...(await (s.startsWith('u:') ? io.pendingUser(s.slice(2), pendingSince) : io.pendingAnon(s.slice(2), pendingSince))));
      for (const m of await membershipsOf(s)) tenants.add(m.tenant);
      for (const l of await linksFrom(s)) for (const m of await membershipsOf(u(l.user))) tenants.add(m.tenant);
    }
    for (const t of tenants) {
      for (const r of await io.ofTenant(t, from)) if (subjectsOf(r.userId, r.anonymousId).some((x) => subjects.has(x))) rows.push(r);
    }
    const seen = new Set<number>();
    for (const r of rows) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      const verifiedOnly = r.trust === 'verified';
      const t = await resolve(r.userId, r.anonymousId, r.timestamp, verifiedOnly);
      if (t !== r.groupId) await io.setTenant(r.id, t);
    }
  }

  const queued: [ReadonlySet<string>, string, string][] = [];
  const reattributeOrQueue = (subjects: ReadonlySet<string>, pendingSince: string, from: string) =>
    defer ? void queued.push([subjects, pendingSince, from]) : reattribute(subjects, pendingSince, from);

  const minus = (ts: string, ms: number) => new Date(Date.parse(ts) - ms).toISOString();

  return {
    async attribute(row) {
      return (
        ownAttribution(row) ?? { groupId: await resolve(row.userId, row.anonymousId, row.timestamp, row.sender?.kind === 'server'), ...identityTrust(row) }
      );
    },

    attributeCached(row) {
      const own = ownAttribution(row);
      if (own) return own;
      const groupId = resolveCached(row.userId, row.anonymousId, row.timestamp, row.sender?.kind === 'server');
      return groupId === undefined ? undefined : { groupId, ...identityTrust(row) };
    },

    async learn(row, at) {
      const verified = at.trust === 'verified';
      if (row.type === 'group' && at.groupId && at.attribution !== 'disputed') {
        const tenant = at.groupId;
        const own = subjectsOf(row.userId, row.anonymousId);
        // A repeated call (the same tenant already holds at that time, for both views) changes nothing.
        let holds = true;
        for (const s of own) {
          const ms = (await membershipsOf(s)).filter((m) => m.at <= row.timestamp);
          const latest = (v: boolean) => ms.filter((m) => !v || m.verified).at(-1)?.tenant;
          if (latest(false) !== tenant || (verified && latest(true) !== tenant)) holds = false;
        }
        if (holds) return;
        for (const s of own) {
          if (await io.addMember(s, tenant, row.timestamp, verified)) changed(s);
        }
        const affected = new Set(own);
        if (row.userId) for (const s of await io.aliasesOf(row.userId)) affected.add(s);
        await reattributeOrQueue(affected, minus(row.timestamp, windowMs), row.timestamp);
        return;
      }
      const from = linkedFrom(row);
      if (!from || !row.userId || from === row.userId) return;
      const subjects = row.type === 'alias' ? [u(from), a(from)] : [a(from)];
      let linked = false;
      for (const s of subjects) {
        // Already linked (as verified as this call makes it): a page's every identify call lands here, with no write.
        const known = (await linksFrom(s)).find((l) => l.user === row.userId);
        if (known && (known.verified || !verified)) continue;
        const added = !known && (await io.addLink(s, row.userId, row.timestamp, verified));
        const up = !added && verified ? await io.upgradeLink(s, row.userId) : false;
        if (added || up) {
          changed(s);
          linked = true;
        }
      }
      if (!linked) return;
      const first = (await membershipsOf(u(row.userId)))[0];
      if (first) await reattributeOrQueue(new Set(subjects), minus(first.at, windowMs), row.timestamp);
    },

    async flush() {
      // One pass for the whole commit: the union of the subjects, from the earliest times. It may
      // recompute a few more rows than separate passes would; each gets the answer of the final state.
      if (queued.length === 0) return;
      const subjects = new Set<string>();
      let pendingSince = queued[0]![1];
      let from = queued[0]![2];
      for (const [s, p, f] of queued.splice(0)) {
        for (const x of s) subjects.add(x);
        if (p < pendingSince) pendingSince = p;
        if (f < from) from = f;
      }
      await reattribute(subjects, pendingSince, from);
    },

    async prefetch(subjects) {
      const want = [...new Set(subjects)].filter((s) => !members.has(s) || !links.has(s));
      if (want.length === 0) return;
      const [ms, ls] = await Promise.all([io.membersOf(want.filter((s) => !members.has(s))), io.linksOf(want.filter((s) => !links.has(s)))]);
      for (const [s, v] of ms) put(members, s, v);
      for (const [s, v] of ls) put(links, s, v);
      const users = new Set<string>();
      for (const s of want) for (const l of links.get(s) ?? []) if (!members.has(u(l.user))) users.add(u(l.user));
      if (users.size) for (const [s, v] of await io.membersOf([...users])) put(members, s, v);
    },

    async memberships({ userId, anonymousId }) {
      const out = new Map<string, { tenantId: string; since: string; verified: boolean }>();
      for (const s of subjectsOf(userId ?? null, anonymousId ?? null)) {
        for (const m of await membershipsOf(s)) {
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
      mergedAll.clear();
      mergedVerified.clear();
      queued.length = 0;
    },
  };
}

/** SQLite's identity I/O: statements prepared once, answering synchronously on the store's one connection. */
export function sqliteIdentityIO(db: Database.Database): IdentityIO {
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
  return {
    membersOf: (subjects) =>
      new Map(
        subjects.map((s) => [
          s,
          (membersOf.all(s) as { tenant: string; at: string; verified: number }[]).map((r) => ({ tenant: r.tenant, at: r.at, verified: r.verified === 1 })),
        ]),
      ),
    linksOf: (subjects) =>
      new Map(subjects.map((s) => [s, (linksOf.all(s) as { user: string; verified: number }[]).map((r) => ({ user: r.user, verified: r.verified === 1 }))])),
    aliasesOf: (userId) => (aliasesOf.all(userId) as { subject: string }[]).map((r) => r.subject),
    addMember: (s, tenant, at, verified) => addMember.run(s, tenant, at, verified ? 1 : 0).changes > 0,
    addLink: (s, userId, at, verified) => addLink.run(s, userId, at, verified ? 1 : 0).changes > 0,
    upgradeLink: (s, userId) => upgradeLink.run(s, userId).changes > 0,
    pendingUser: (userId, since) => pendingUser.all(userId, since) as AttributedRow[],
    pendingAnon: (anonymousId, since) => pendingAnon.all(anonymousId, since) as AttributedRow[],
    ofTenant: (tenant, from) => ofTenant.all(tenant, from) as AttributedRow[],
    setTenant: (id, groupId) => void setTenant.run(groupId, id),
  };
}

/** The SQLite resolver: one per store, its cache kept across commits (the store is the one writer). */
export function identityResolver(db: Database.Database, opts: IdentityOptions = {}): IdentityResolver {
  return identityCore(sqliteIdentityIO(db), opts);
}
