/**
 * The sweep's per-tenant reads, for a chunk of tenants at once: what the lifecycle's rule context
 * (facts, scalars, the events its rules count), the tenant's checklist progress (its users, their
 * identify calls, its attestations) and the recorded lifecycle history read for one tenant, read
 * here in a few grouped queries (`group_id IN (...)`) instead of about ten per tenant. On SQLite
 * that is fewer statements (and one pass over a tenant's events instead of one per fact); on
 * PostgreSQL fewer round trips. The answers are the per-tenant queries' (lifecycle.ts, progress.ts,
 * store/state.ts), tenant by tenant: sweep-reads-dialects.test.ts compares the two on both dialects.
 */
import { sql } from 'kysely';
import { type KeelDb, reusable } from '../store/db.js';
import type { TenantFacts } from '../store/state-types.js';
import { type Ev, toEvents } from './progress.js';

const DAY = 86_400_000;

/** Tenants per chunk: one parameter each, far below either dialect's limit. */
export const SWEEP_CHUNK = 500;

export interface HistoryRow {
  from: string;
  to: string;
  at: string;
  configVersion: number;
  evidence: string;
}

/** One tenant's share of a chunk's reads. */
export interface TenantReads {
  facts: TenantFacts;
  /** As lifecycle.ts `scalarsOf` answers them. */
  scalars: {
    first: string | null;
    firstAny: string | null;
    traits: string | null;
    traitsAny: string | null;
    attested: string | null;
    active7?: number;
    active30?: number;
  };
  /** The tenant's events named one of the chunk's names, up to `now` (every type, in no particular order). */
  events: Ev[];
  /** Its identify calls with a user, oldest first. */
  identifies: { user: string | null; payload: string }[];
  /** Every user seen by `now`, with their first event. */
  users: { user: string | null; t: string | null }[];
  /** The checklist items a user attested as completed. */
  attestedRefs: { ref: string }[];
  /** The recorded lifecycle history, newest first (at most 100). */
  history: HistoryRow[];
}

// Everything counted in one pass over the chunk's events (conditional aggregates: a CASE without
// ELSE is NULL, which COUNT, COUNT(DISTINCT) and MIN skip, as the per-tenant queries' WHERE does).
const aggregatesQ = reusable((k, tenants: readonly string[], s7: string, s30: string, until: string | undefined) =>
  k.db
    .selectFrom('events')
    .where('group_id', 'in', tenants)
    .groupBy('group_id')
    .select((eb) => {
      const verified = eb('trust', '=', 'verified');
      const user = eb.fn.coalesce('user_id', 'anonymous_id');
      const activeSince = (since: string) =>
        eb.fn
          .count<number>(
            eb
              .case()
              .when(eb.and([verified, eb('type', '=', 'track'), eb('timestamp', '>=', since)]))
              .then(user)
              .end(),
          )
          .distinct();
      const wideSince = (since: string) =>
        eb.fn
          .count<number>(
            eb
              .case()
              .when(eb.and([eb('type', '=', 'track'), eb('timestamp', '>=', since), eb('timestamp', '<=', until!)]))
              .then(user)
              .end(),
          )
          .distinct();
      return [
        'group_id as g',
        activeSince(s7).as('active_users_7d'),
        activeSince(s30).as('active_users_30d'),
        eb.fn
          .count<number>(
            eb
              .case()
              .when(eb.and([verified, eb('event', '=', 'feature.used'), eb(k.sql.jsonText('payload', 'properties', 'feature'), '=', 'dataset.ingest')]))
              .then(1)
              .end(),
          )
          .as('datasets_ingested'),
        eb.fn
          .count<number>(
            eb
              .case()
              .when(eb.and([verified, eb('timestamp', '>=', s7)]))
              .then(1)
              .end(),
          )
          .as('events_7d'),
        eb.fn.min(eb.case().when(verified).then(eb.ref('timestamp')).end()).as('first'),
        eb.fn.min('timestamp').as('firstAny'),
        // `until` given: the active users counting unverified events too, up to it (lifecycle.ts `scalarsOf`).
        ...(until !== undefined ? [wideSince(s7).as('active7'), wideSince(s30).as('active30')] : []),
      ];
    }),
) as (
  k: KeelDb,
  tenants: readonly string[],
  s7: string,
  s30: string,
  until: string | undefined,
) => Promise<
  {
    g: string;
    active_users_7d: number;
    active_users_30d: number;
    datasets_ingested: number;
    events_7d: number;
    first: string | null;
    firstAny: string | null;
    active7?: number;
    active30?: number;
  }[]
>;
/** Every group call of the chunk's tenants, newest first per tenant (the newest, and the newest verified, are their traits). */
const groupsQ = reusable((k, tenants: readonly string[]) =>
  k.db
    .selectFrom('events')
    .select(['group_id as g', 'payload', 'trust'])
    .where('group_id', 'in', tenants)
    .where('type', '=', 'group')
    .orderBy('group_id')
    .orderBy('timestamp', 'desc')
    .orderBy('rowid', 'desc'),
) as (k: KeelDb, tenants: readonly string[]) => Promise<{ g: string; payload: string; trust: string }[]>;
/** The connected integrations: each integration's latest verified `integration.state` (store/state.ts `latestIntegrationStates`), per tenant. */
const integrationsQ = reusable((k, tenants: readonly string[]) => {
  const integration = k.sql.jsonText('payload', 'properties', 'integration');
  const inner = k.db
    .selectFrom('events')
    .select([
      'group_id as g',
      integration.as('integration'),
      k.sql.jsonText('payload', 'properties', 'state').as('state'),
      sql<number>`ROW_NUMBER() OVER (PARTITION BY ${sql.ref('group_id')}, ${integration} ORDER BY ${sql.ref('timestamp')} DESC, ${sql.ref('rowid')} DESC)`.as(
        'rn',
      ),
    ])
    .where('group_id', 'in', tenants)
    .where('event', '=', 'integration.state')
    .where('trust', '=', 'verified');
  return k.db
    .selectFrom(inner.as('latest'))
    .where('rn', '=', 1)
    .where('integration', 'is not', null)
    .where('state', '=', 'connected')
    .select((eb) => ['g', eb.fn.countAll<number>().as('n')])
    .groupBy('g');
}) as (k: KeelDb, tenants: readonly string[]) => Promise<{ g: string; n: number }[]>;
const lastAttestedQ = reusable((k, tenants: readonly string[]) =>
  k.db
    .selectFrom('progress')
    .select((eb) => ['tenant_id as g', eb.fn.max('updated_at').as('t')])
    .where('tenant_id', 'in', tenants)
    .where('kind', '=', 'checklist')
    .where(k.sql.jsonText('data', 'attested', 'by'), 'is not', null)
    .groupBy('tenant_id'),
) as (k: KeelDb, tenants: readonly string[]) => Promise<{ g: string; t: string | null }[]>;
const attestedQ = reusable((k, tenants: readonly string[]) =>
  k.db
    .selectFrom('progress')
    .select(['tenant_id as g', 'ref'])
    .distinct()
    .where('tenant_id', 'in', tenants)
    .where('kind', '=', 'checklist')
    .where('state', '=', 'completed')
    .where(k.sql.jsonText('data', 'attested', 'by'), 'is not', null),
) as (k: KeelDb, tenants: readonly string[]) => Promise<{ g: string; ref: string }[]>;
const eventsQ = reusable((k, tenants: readonly string[], names: readonly string[], until: string) =>
  k.db
    .selectFrom('events')
    .select(['group_id as g', 'message_id as id', 'user_id as user', 'type', 'timestamp', 'event', 'payload', 'trust'])
    .where('group_id', 'in', tenants)
    .where('event', 'in', names)
    .where('timestamp', '<=', until),
) as (
  k: KeelDb,
  tenants: readonly string[],
  names: readonly string[],
  until: string,
) => Promise<{ g: string; id: string; user: string | null; type: string; timestamp: string; event: string | null; payload: string; trust: string }[]>;
const identifiesQ = reusable((k, tenants: readonly string[]) =>
  k.db
    .selectFrom('events')
    .select(['group_id as g', 'user_id as user', 'payload'])
    .where('group_id', 'in', tenants)
    .where('user_id', 'is not', null)
    .where('type', '=', 'identify')
    .orderBy('group_id')
    .orderBy('timestamp')
    .orderBy('rowid'),
) as (k: KeelDb, tenants: readonly string[]) => Promise<{ g: string; user: string | null; payload: string }[]>;
const usersQ = reusable((k, tenants: readonly string[], until: string) =>
  k.db
    .selectFrom('events')
    .select((eb) => ['group_id as g', 'user_id as user', eb.fn.min('timestamp').as('t')])
    .where('group_id', 'in', tenants)
    .where('user_id', 'is not', null)
    .groupBy(['group_id', 'user_id'])
    .having((eb) => eb.fn.min('timestamp'), '<=', until),
) as (k: KeelDb, tenants: readonly string[], until: string) => Promise<{ g: string; user: string | null; t: string | null }[]>;
const historyQ = reusable((k, tenants: readonly string[]) =>
  k.db
    .selectFrom(
      k.db
        .selectFrom('lifecycle_transitions')
        .select([
          'tenant_id as g',
          'id',
          'from_state as from',
          'to_state as to',
          'at',
          'config_version as configVersion',
          'evidence',
          sql<number>`ROW_NUMBER() OVER (PARTITION BY ${sql.ref('tenant_id')} ORDER BY ${sql.ref('id')} DESC)`.as('rn'),
        ])
        .where('tenant_id', 'in', tenants)
        .as('h'),
    )
    .select(['g', 'from', 'to', 'at', 'configVersion', 'evidence'])
    .where('rn', '<=', 100)
    .orderBy('g')
    .orderBy('id', 'desc'),
) as (k: KeelDb, tenants: readonly string[]) => Promise<(HistoryRow & { g: string })[]>;

const groupBy = <R extends { g: string }>(rows: readonly R[]) => {
  const m = new Map<string, Omit<R, 'g'>[]>();
  for (const { g, ...r } of rows) {
    let l = m.get(g);
    if (!l) m.set(g, (l = []));
    l.push(r);
  }
  return m;
};

/**
 * The reads of `tenants` (distinct ids) at `now`: `names`, the event names the rule context
 * needs; `wide`, whether it counts active users with unverified events too. Every tenant gets an
 * entry, empty when it has no rows.
 */
export async function sweepReads(
  k: KeelDb,
  tenants: readonly string[],
  now: number,
  names: readonly string[],
  wide: boolean,
): Promise<Map<string, TenantReads>> {
  const out = new Map<string, TenantReads>();
  if (!tenants.length) return out;
  const iso = (ms: number) => new Date(ms).toISOString();
  const until = iso(now);
  const s7 = iso(now - 7 * DAY);
  const s30 = iso(now - 30 * DAY);
  // Independent reads, issued together (a pool runs them at once; SQLite's one connection in turn).
  const [aggregates, groups, integrations, lastAttested, attested, events, identifies, users, history] = await Promise.all([
    aggregatesQ(k, tenants, s7, s30, wide ? until : undefined),
    groupsQ(k, tenants),
    integrationsQ(k, tenants),
    lastAttestedQ(k, tenants),
    attestedQ(k, tenants),
    // An empty IN list is not valid SQL everywhere: no names, no query.
    names.length ? eventsQ(k, tenants, names, until) : [],
    identifiesQ(k, tenants),
    usersQ(k, tenants, until),
    historyQ(k, tenants),
  ]);
  const agg = new Map(aggregates.map((r) => [r.g, r]));
  const traits = new Map<string, { traits: string | null; traitsAny: string | null }>();
  for (const r of groups) {
    let t = traits.get(r.g);
    if (!t) traits.set(r.g, (t = { traits: null, traitsAny: r.payload }));
    if (t.traits === null && r.trust === 'verified') t.traits = r.payload;
  }
  const connected = new Map(integrations.map((r) => [r.g, Number(r.n)]));
  const attestedAt = new Map(lastAttested.map((r) => [r.g, r.t]));
  const evs = groupBy(events);
  const ids = groupBy(identifies);
  const us = groupBy(users);
  const refs = groupBy(attested);
  const hist = groupBy(history);
  for (const t of tenants) {
    const a = agg.get(t);
    const tr = traits.get(t);
    out.set(t, {
      facts: {
        active_users_7d: Number(a?.active_users_7d ?? 0),
        active_users_30d: Number(a?.active_users_30d ?? 0),
        integrations_connected: connected.get(t) ?? 0,
        datasets_ingested: Number(a?.datasets_ingested ?? 0),
        events_7d: Number(a?.events_7d ?? 0),
      },
      scalars: {
        first: a?.first ?? null,
        firstAny: a?.firstAny ?? null,
        traits: tr?.traits ?? null,
        traitsAny: tr?.traitsAny ?? null,
        attested: attestedAt.get(t) ?? null,
        ...(wide ? { active7: Number(a?.active7 ?? 0), active30: Number(a?.active30 ?? 0) } : {}),
      },
      events: toEvents(evs.get(t) ?? []),
      identifies: ids.get(t) ?? [],
      users: us.get(t) ?? [],
      attestedRefs: refs.get(t) ?? [],
      history: hist.get(t) ?? [],
    });
  }
  return out;
}
