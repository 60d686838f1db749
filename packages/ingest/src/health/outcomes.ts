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
 * (intention to treat) and is counted as `contaminated`. Only users with a user id count: the
 * assignment is per user.
 */
import { durationMs, inHoldout, matchWhere, newcombeDifference, type Where } from '@keel/sdk-core/engine';
import type { KeelConfig } from '@keel/sdk-core/schema';
import type { KeelDb } from '../store/db.js';
import type { ConfigStore } from '../store/state-types.js';
import { configCache } from './config-cache.js';

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
  lift: { difference: number; low: number; high: number; method: string } | null;
  verdict: 'helped' | 'hurt' | 'no clear effect' | 'not enough data yet' | 'no holdout';
  explanation: string;
}

export interface OutcomeOptions {
  now?: number;
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

/** The nudges' outcomes: overall per (nudge, version), and per tenant with `byTenant`. */
export async function nudgeOutcomes(k: KeelDb, config: KeelConfig | undefined, o: OutcomeOptions = {}): Promise<NudgeOutcome[]> {
  const now = o.now ?? Date.now();
  const minPerArm = o.minPerArm ?? DEFAULT_MIN_PER_ARM;
  const nudges = (config?.nudges ?? []).filter((n) => n.goal);
  if (!nudges.length) return [];
  const goalEvents = [...new Set(nudges.map((n) => n.goal!.event))];
  const since = new Date(now - LOOKBACK_DAYS * 86_400_000).toISOString();
  let q = k.db
    .selectFrom('events')
    .select(['event', 'user_id as user', 'group_id as tenant', 'timestamp', 'payload'])
    .where('event', 'in', ['nudge.sent', 'nudge.held_out', 'nudge.acted', ...goalEvents])
    .where('user_id', 'is not', null)
    .where('timestamp', '>=', since)
    .where('timestamp', '<=', new Date(now).toISOString());
  if (o.tenant !== undefined) q = q.where('group_id', '=', o.tenant);
  const rows = (await q.orderBy('timestamp').execute()) as Row[];

  // The goal events per user, in time order (rows are ordered).
  const goalsOf = new Map<string, { event: string; at: number; props: Record<string, unknown> }[]>();
  for (const r of rows) {
    if (!r.event || !goalEvents.includes(r.event)) continue;
    const list = goalsOf.get(r.user!) ?? [];
    list.push({ event: r.event, at: Date.parse(r.timestamp), props: propsOf(r.payload) });
    goalsOf.set(r.user!, list);
  }

  const out: NudgeOutcome[] = [];
  for (const n of nudges) {
    const goal = n.goal!;
    const windowMs = durationMs(goal.within);
    const holdout = n.holdout ?? 0;
    // Each user's first exposure per version (with their tenant), whether the browser showed it, what they did.
    type Exposure = { user: string; tenant: string | null; at: number; sentShown: boolean; acted: boolean; dismissed: boolean };
    const byVersion = new Map<number | null, Map<string, Exposure>>();
    for (const r of rows) {
      if (r.event !== 'nudge.sent' && r.event !== 'nudge.held_out' && r.event !== 'nudge.acted') continue;
      const p = propsOf(r.payload);
      if (p.nudge !== n.id) continue;
      const at = Date.parse(r.timestamp);
      if (r.event === 'nudge.acted') {
        // What a shown user did, in whichever version they were first exposed under.
        for (const m of byVersion.values()) {
          const e = m.get(r.user!);
          if (!e || e.at > at) continue;
          if (p.action === 'close' || p.action === 'dismiss' || p.action === 'snooze') e.dismissed = true;
          else e.acted = true;
        }
        continue;
      }
      const version = typeof p.version === 'number' ? p.version : null;
      let m = byVersion.get(version);
      if (!m) byVersion.set(version, (m = new Map()));
      const e = m.get(r.user!);
      if (!e) m.set(r.user!, { user: r.user!, tenant: r.tenant, at, sentShown: r.event === 'nudge.sent', acted: false, dismissed: false });
      else if (r.event === 'nudge.sent') e.sentShown = true;
    }
    for (const [version, exposures] of [...byVersion].sort((a, b) => (a[0] ?? -1) - (b[0] ?? -1))) {
      const groups = new Map<string | null, Exposure[]>([[o.tenant ?? null, [...exposures.values()]]]);
      if (o.byTenant && o.tenant === undefined) {
        for (const e of exposures.values()) {
          if (e.tenant === null) continue;
          const g = groups.get(e.tenant) ?? [];
          g.push(e);
          groups.set(e.tenant, g);
        }
      }
      for (const [tenant, list] of groups) out.push(summarise(n.id, version, tenant, goal, holdout, windowMs, list, goalsOf, now, minPerArm));
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
  list: { user: string; at: number; sentShown: boolean; acted: boolean; dismissed: boolean }[],
  goalsOf: Map<string, { event: string; at: number; props: Record<string, unknown> }[]>,
  now: number,
  minPerArm: number,
): NudgeOutcome {
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
    const hit = (goalsOf.get(e.user) ?? []).find((g) => g.event === goal.event && g.at > e.at && g.at <= e.at + windowMs && matchWhere(goal.where, g.props));
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
}

export function outcomeService(k: KeelDb, config: ConfigStore): OutcomeService {
  const cache = configCache(config);
  return { nudges: async (o) => nudgeOutcomes(k, (await cache.current())?.config, o) };
}
