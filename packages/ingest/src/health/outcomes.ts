/**
 * Outcomes: did a nudge help? For every nudge with a `goal`, per config version (and per tenant
 * when asked): the users exposed to it (shown it, or held out), who acted or dismissed, who
 * reached the goal within its window after their first exposure, and, with a `holdout`, the
 * difference between the shown and held-out goal rates with a 95% interval (Newcombe's hybrid
 * score interval). Below a minimum sample it says "not enough data yet" and how many it has.
 *
 * Truth from evidence: a user's arm is the server's own assignment (the same hash the progress
 * answer hands the browser), never the event the browser sent. A user the server held out but
 * whose browser showed the nudge anyway (an old cached page, say) stays in the holdout arm
 * (intention to treat) and is counted as `contaminated`. Only users with a user id count (the
 * assignment is per user), a user is a (tenant, user id) pair, and only verified events count by
 * default: with the public write key anyone could post exposures and goals for ids of their choice.
 * Exposure is the moment the engine decided the nudge would show (`nudge.offered` in the shown
 * arm, `nudge.held_out` in the holdout), the same moment in both arms; `nudge.sent` (on screen)
 * counts as one too for clients that predate `nudge.offered`. Each version is judged with its own
 * goal and holdout (the stored config version the exposure names).
 */
import { durationMs, inHoldout, matchWhere, newcombeDifference, type Where } from '@keel/sdk-core/engine';
import type { KeelConfig } from '@keel/sdk-core/schema';
import type { KeelDb } from '../store/db.js';
import type { ConfigStore } from '../store/state-types.js';
import { configCache } from './config-cache.js';
import { type FrictionEntry, frictionLog, type FrictionOptions } from './friction.js';

export const OUTCOME_METHOD = "difference of goal rates, shown − held out, with Newcombe's hybrid score interval (method 10), 95%";
/** Users whose goal window has closed, in each arm, before a lift is computed. */
export const DEFAULT_MIN_PER_ARM = 30;
/** How far back exposures are read. */
const LOOKBACK_DAYS = 90;

export interface OutcomeArm {
  /** Users in this arm whose goal window has closed. */
  users: number;
  /** ...who reached the goal within the window after their first exposure. */
  goal: number;
  rate: number | null;
  /** Median hours from first exposure to the goal, for those who reached it. */
  medianHoursToGoal: number | null;
}

export interface NudgeOutcome {
  kind: 'nudge';
  id: string;
  /** The config version the exposures happened under (null: sent by a client that didn't say). */
  version: number | null;
  tenant: string | null;
  goal: { event: string; where?: Where; within: string };
  holdout: number;
  /** Users exposed (shown or held out) whose goal window has closed: what the figures count. */
  eligible: number;
  /** Users exposed less than the goal window ago: not counted until it closes. */
  pending: number;
  shown: OutcomeArm & { acted: number; dismissed: number };
  heldOut: OutcomeArm | null;
  /** Held out by the server, shown by their browser anyway: counted in the holdout arm. */
  contaminated: number;
  /** Unverified exposure and goal events left out (see `evidence`). */
  unverifiedLeftOut: number;
  lift: { difference: number; low: number; high: number; method: string } | null;
  verdict: 'helped' | 'hurt' | 'no clear effect' | 'not enough data yet' | 'no holdout';
  explanation: string;
}

export interface OutcomeOptions {
  now?: number;
  /** `any`: unverified events count too (default: verified only). */
  evidence?: 'verified' | 'any';
  /** One tenant's outcomes only. */
  tenant?: string;
  /** One row per tenant as well as the overall rows. */
  byTenant?: boolean;
  minPerArm?: number;
}

interface Row {
  event: string | null;
  user: string | null;
  tenant: string | null;
  timestamp: string;
  payload: string;
}

const propsOf = (payload: string): Record<string, unknown> => {
  try {
    const p = (JSON.parse(payload) as { properties?: unknown }).properties;
    return p && typeof p === 'object' ? (p as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};
const median = (xs: number[]) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

type Nudge = NonNullable<KeelConfig['nudges']>[number];
const EXPOSURES = new Set(['nudge.offered', 'nudge.sent', 'nudge.held_out']);

/**
 * The nudges' outcomes: overall per (nudge, version), and per tenant with `byTenant`. `current`
 * names the nudges; `configOf(version)` gives the config a version's exposures are judged by (its
 * goal and holdout), `current` when it has none.
 */
export async function nudgeOutcomes(
  k: KeelDb,
  current: KeelConfig | undefined,
  o: OutcomeOptions & { configOf?: (version: number) => Promise<KeelConfig | undefined> } = {},
): Promise<NudgeOutcome[]> {
  const now = o.now ?? Date.now();
  const minPerArm = o.minPerArm ?? DEFAULT_MIN_PER_ARM;
  const ids = (current?.nudges ?? []).filter((n) => n.goal).map((n) => n.id);
  if (!ids.length) return [];
  const since = new Date(now - LOOKBACK_DAYS * 86_400_000).toISOString();
  const read = async (events: readonly string[]) => {
    let q = k.db
      .selectFrom('events')
      .select(['event', 'user_id as user', 'group_id as tenant', 'timestamp', 'payload', 'trust'])
      .where('event', 'in', events)
      .where('user_id', 'is not', null)
      .where('timestamp', '>=', since)
      .where('timestamp', '<=', new Date(now).toISOString());
    if (o.tenant !== undefined) q = q.where('group_id', '=', o.tenant);
    return (await q.orderBy('timestamp').execute()) as (Row & { trust: string })[];
  };
  let unverified = 0;
  const trusted = (rows: (Row & { trust: string })[]) =>
    o.evidence === 'any'
      ? rows
      : rows.filter((r) => {
          if (r.trust === 'verified') return true;
          unverified++;
          return false;
        });
  const exposureRows = trusted(await read([...EXPOSURES, 'nudge.acted']));

  // The config each version is judged by (its goal and holdout).
  const configs = new Map<number | null, KeelConfig | undefined>([[null, current]]);
  const configFor = async (version: number | null) => {
    if (!configs.has(version)) configs.set(version, (version !== null && (await o.configOf?.(version))) || current);
    return configs.get(version);
  };
  const nudgeIn = (c: KeelConfig | undefined, id: string): Nudge | undefined => c?.nudges?.find((n) => n.id === id && n.goal);

  // Each user's first exposure per (nudge, version), whether the browser put it on screen, what they did.
  type Exposure = { user: string; tenant: string | null; at: number; sentShown: boolean; acted: boolean; dismissed: boolean };
  const byNudge = new Map<string, Map<number | null, Map<string, Exposure>>>();
  const who = (r: Row) => `${r.tenant ?? ''}\u0000${r.user}`;
  for (const r of exposureRows) {
    const p = propsOf(r.payload);
    const id = typeof p.nudge === 'string' ? p.nudge : undefined;
    if (!id || !ids.includes(id)) continue;
    let versions = byNudge.get(id);
    if (!versions) byNudge.set(id, (versions = new Map()));
    const at = Date.parse(r.timestamp);
    if (r.event === 'nudge.acted') {
      // What a user did counts for the latest exposure before it.
      let last: Exposure | undefined;
      for (const m of versions.values()) {
        const e = m.get(who(r));
        if (e && e.at <= at && (!last || e.at > last.at)) last = e;
      }
      if (last && (p.action === 'close' || p.action === 'dismiss' || p.action === 'snooze')) last.dismissed = true;
      else if (last) last.acted = true;
      continue;
    }
    // A version is a whole number the engine copied from the config; anything else is unknown.
    const version = Number.isSafeInteger(p.version) ? (p.version as number) : null;
    let m = versions.get(version);
    if (!m) versions.set(version, (m = new Map()));
    const e = m.get(who(r));
    if (!e) m.set(who(r), { user: r.user!, tenant: r.tenant, at, sentShown: r.event === 'nudge.sent', acted: false, dismissed: false });
    else if (r.event === 'nudge.sent') e.sentShown = true;
  }

  // Goal events, per user, in time order; only those some judged version asks for.
  const wanted = new Map<number | null, Nudge>();
  for (const [id, versions] of byNudge)
    for (const v of versions.keys()) {
      const n = nudgeIn(await configFor(v), id);
      if (n) wanted.set(v, n);
    }
  const goalNames = [
    ...new Set([...byNudge.entries()].flatMap(([id]) => [...configs.values()].map((c) => nudgeIn(c, id)?.goal?.event)).filter((x): x is string => !!x)),
  ];
  const goalsOf = new Map<string, { event: string; at: number; props: Record<string, unknown> }[]>();
  for (const r of goalNames.length ? trusted(await read(goalNames)) : []) {
    const list = goalsOf.get(who(r)) ?? [];
    list.push({ event: r.event!, at: Date.parse(r.timestamp), props: propsOf(r.payload) });
    goalsOf.set(who(r), list);
  }

  const out: NudgeOutcome[] = [];
  for (const id of ids) {
    for (const [version, exposures] of [...(byNudge.get(id) ?? [])].sort((a, b) => (a[0] ?? -1) - (b[0] ?? -1))) {
      const n = nudgeIn(await configFor(version), id);
      if (!n) continue; // that version gave the nudge no goal
      const goal = n.goal!;
      const groups = new Map<string | null, Exposure[]>([[o.tenant ?? null, [...exposures.values()]]]);
      if (o.byTenant && o.tenant === undefined) {
        for (const e of exposures.values()) {
          if (e.tenant === null) continue;
          const g = groups.get(e.tenant) ?? [];
          g.push(e);
          groups.set(e.tenant, g);
        }
      }
      for (const [tenant, list] of groups)
        out.push({
          ...summarise(id, version, tenant, goal, n.holdout ?? 0, durationMs(goal.within), list, goalsOf, now, minPerArm),
          unverifiedLeftOut: unverified,
        });
    }
  }
  return out;
}

function summarise(
  id: string,
  version: number | null,
  tenant: string | null,
  goal: NonNullable<NonNullable<KeelConfig['nudges']>[number]['goal']>,
  holdout: number,
  windowMs: number,
  list: { user: string; tenant: string | null; at: number; sentShown: boolean; acted: boolean; dismissed: boolean }[],
  goalsOf: Map<string, { event: string; at: number; props: Record<string, unknown> }[]>,
  now: number,
  minPerArm: number,
): Omit<NudgeOutcome, 'unverifiedLeftOut'> {
  const arm = () => ({ users: 0, goal: 0, hours: [] as number[] });
  const shown = { ...arm(), acted: 0, dismissed: 0 };
  const held = arm();
  let pending = 0;
  let contaminated = 0;
  for (const e of list) {
    if (e.at + windowMs > now) {
      pending++;
      continue;
    }
    const inHold = inHoldout(id, e.user, holdout);
    const a = inHold ? held : shown;
    if (inHold && e.sentShown) contaminated++;
    a.users++;
    const hit = (goalsOf.get(`${e.tenant ?? ''}\u0000${e.user}`) ?? []).find(
      (g) => g.event === goal.event && g.at > e.at && g.at <= e.at + windowMs && matchWhere(goal.where, g.props),
    );
    if (hit) {
      a.goal++;
      a.hours.push((hit.at - e.at) / 3_600_000);
    }
    if (!inHold) {
      if (e.acted) shown.acted++;
      if (e.dismissed) shown.dismissed++;
    }
  }
  const view = (a: ReturnType<typeof arm>): OutcomeArm => ({
    users: a.users,
    goal: a.goal,
    rate: a.users ? a.goal / a.users : null,
    medianHoursToGoal: median(a.hours),
  });
  const base = {
    kind: 'nudge' as const,
    id,
    version,
    tenant,
    goal,
    holdout,
    eligible: shown.users + held.users,
    pending,
    shown: { ...view(shown), acted: shown.acted, dismissed: shown.dismissed },
    heldOut: holdout ? view(held) : null,
    contaminated,
  };
  const waiting = pending ? `; ${pending} more exposed less than ${goal.within} ago are counted once their window closes` : '';
  if (!holdout) {
    return {
      ...base,
      lift: null,
      verdict: 'no holdout',
      explanation: `${shown.goal} of ${shown.users} shown reached the goal within ${goal.within}${shown.users ? ` (${pct(shown.goal / shown.users)})` : ''}; without a holdout there is nothing to compare with: add holdout: 10 to measure the effect${waiting}`,
    };
  }
  if (shown.users < minPerArm || held.users < minPerArm) {
    return {
      ...base,
      lift: null,
      verdict: 'not enough data yet',
      explanation: `not enough data yet: at least ${minPerArm} users a side whose ${goal.within} window has closed are needed (shown ${shown.users}, held out ${held.users})${waiting}`,
    };
  }
  const d = newcombeDifference(shown.goal, shown.users, held.goal, held.users);
  const verdict = d.low > 0 ? 'helped' : d.high < 0 ? 'hurt' : 'no clear effect';
  const range = `${pct(d.difference)} (95% interval ${pct(d.low)} to ${pct(d.high)})`;
  return {
    ...base,
    lift: { difference: d.difference, low: d.low, high: d.high, method: OUTCOME_METHOD },
    verdict,
    explanation: `${pct(shown.goal / shown.users)} of ${shown.users} shown reached the goal within ${goal.within}, against ${pct(held.goal / held.users)} of ${held.users} held out: a difference of ${range}; ${verdict === 'helped' ? 'it helped' : verdict === 'hurt' ? 'it hurt' : 'no clear effect either way'}${contaminated ? `; ${contaminated} held-out users were shown it anyway and stay in the holdout` : ''}${waiting}`,
  };
}

export interface OutcomeService {
  /** Every nudge's outcomes under the published config (its goals and holdouts). */
  nudges(o?: OutcomeOptions): Promise<NudgeOutcome[]>;
  /** The failures those fixes are for, ranked, with the items that address them (friction.ts). */
  friction(o?: FrictionOptions): Promise<FrictionEntry[]>;
}

export function outcomeService(k: KeelDb, config: ConfigStore): OutcomeService {
  const cache = configCache(config);
  const parsed = new Map<number, KeelConfig | undefined>();
  const configOf = async (version: number) => {
    if (!parsed.has(version)) {
      const row = await k.db.selectFrom('config_versions').select('document').where('version', '=', version).executeTakeFirst();
      parsed.set(version, row ? (JSON.parse(row.document) as KeelConfig) : undefined);
    }
    return parsed.get(version);
  };
  return {
    nudges: async (o) => nudgeOutcomes(k, (await cache.current())?.config, { ...o, configOf }),
    friction: async (o) => frictionLog(k, (await cache.current())?.config, o),
  };
}
