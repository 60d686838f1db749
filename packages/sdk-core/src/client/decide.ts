/**
 * The decision, pure: a snapshot of the engine's state in; every nudge's decision (each check,
 * named, with its detail), the winner, the hotspots to place and the held-out ones out. No timers,
 * no storage writes, no events: the engine (guide.ts) takes the snapshot, calls `decide`, and acts
 * on the result; `explain()` and the debug report read the same result, so what the trace says is
 * what the engine did.
 *
 * A new surface joins the one budget by reading `interruptionChecks` (as checklists do through
 * `Guide.interrupt`) and adding its own checks here, not by copying these.
 *
 * Only types are imported from the rules (and `humanDuration` from the budget, already in this
 * chunk): the rule functions come in the snapshot (see `GuideLib` in guide.ts for
 * why the lazy engine chunk must not import them itself). The client's eager "is the engine
 * wanted?" test (`guideWanted`) is not built from this module on purpose: importing it there
 * would move it into the page's up-front file, which has no bytes to spare.
 */
import type { durationMs } from '../rules/duration.js';
import type { evaluate } from '../rules/evaluate.js';
import type { Explanation } from '../rules/types.js';
import { type FatiguePolicy, humanDuration, type Ledger } from './budget.js';
import type { ClientNudge, ClientRecipe, GuideCheck, NudgeDecision } from './types.js';

const DAY = 86_400_000;
export const DEFAULT_CAP = { times: 1, per: '1d' };

const q = (v: unknown) => JSON.stringify(v) ?? String(v);
/** `09:41:07 UTC`: the trace is read by people in any time zone, and in logs. */
export const clock = (t: number) => `${new Date(t).toISOString().slice(11, 19)} UTC`;

/**
 * A rule's outcome in one line: `holds: all of 3`, or the first clause that failed with its value
 * (`"feature.used" where feature = "reports.create" in the last 7d is 2 (needs no)`).
 */
export function explainLine(e: Explanation): string {
  if (e.ok) return `holds: ${e.clause}`;
  const leaf = (x: Explanation): string =>
    x.reason === 'missing' ? `${x.clause}: no data yet` : `${x.clause} is ${q(x.actual)}${x.expected ? ` (needs ${x.expected})` : ''}`;
  let x = e;
  while (x.clause.startsWith('all of') && x.children?.some((c) => !c.ok)) x = x.children.find((c) => !c.ok)!;
  if (x.clause.startsWith('any of') && x.children?.length) return `none of ${x.children.length} holds; the first: ${explainLine(x.children[0]!)}`;
  return leaf(x);
}

/** What the engine has on screen or running: the "one at a time" check reads it. */
export interface Occupancy {
  showing?: { nudge: ClientNudge; decision: NudgeDecision; state: 'offered' | 'on-screen'; since: number } | undefined;
  run?: { recipe: ClientRecipe; index: number } | undefined;
  openHotspot?: string | undefined;
  /** A checklist that reopened itself and that the user has not closed yet. */
  reopened?: { id: string; at: number } | undefined;
}

/** The state the interruption budget is decided from. The ledger is only read. */
export interface BudgetSnapshot extends Occupancy {
  now: number;
  policy: FatiguePolicy;
  ledger: Pick<Ledger, 'data' | 'sessionCount' | 'dayCount' | 'oldestInterruptionSince'>;
  /** What the user is typing in, if anything. */
  typing: string | undefined;
  hidden: boolean;
}

/** The reason "one at a time" holds a surface back, or undefined. */
export function busyWith({ showing, run, openHotspot, reopened }: Occupancy, now: number, quietMs: number): string | undefined {
  if (showing) return `nudge "${showing.nudge.id}" is ${showing.state === 'on-screen' ? 'on screen' : 'being shown'}`;
  if (run) return `recipe "${run.recipe.id}" is running (step ${run.index + 1} of ${run.recipe.steps.length})`;
  if (openHotspot) return `hotspot "${openHotspot}" is open`;
  // A reopened checklist is inline, not an overlay: it holds the others back for a quiet period at most.
  if (reopened && now < reopened.at + quietMs)
    return `checklist "${reopened.id}" reopened itself to show a failed item (until the user closes it, leaves the page, or ${clock(reopened.at + quietMs)})`;
  return undefined;
}

const sessionCap = (s: BudgetSnapshot): GuideCheck => {
  const n = s.ledger.sessionCount(s.now);
  const limit = s.policy.perSession;
  return { check: 'session cap', ok: n < limit, count: n, limit, detail: `${n} of ${limit} interruptions this session` };
};

const dayCap = (s: BudgetSnapshot): GuideCheck => {
  const n = s.ledger.dayCount(s.now);
  const limit = s.policy.perDay;
  const c: GuideCheck = { check: 'day cap', ok: n < limit, count: n, limit, detail: `${n} of ${limit} interruptions in the last 24 h` };
  const free = n >= limit ? s.ledger.oldestInterruptionSince(s.now - DAY) : undefined;
  if (free) c.until = free + DAY;
  return c;
};

const quietPeriod = (s: BudgetSnapshot): GuideCheck => {
  const closedAt = s.ledger.data.closedAt;
  const until = closedAt ? closedAt + s.policy.quietMs : 0;
  const ok = s.now >= until;
  const detail = ok
    ? closedAt
      ? `over (the last close was at ${clock(closedAt)})`
      : 'nothing closed yet'
    : `${humanDuration(until - s.now)} left after the last close at ${clock(closedAt!)}`;
  return ok ? { check: 'quiet period', ok, detail } : { check: 'quiet period', ok, detail, until };
};

const oneAtATime = (s: BudgetSnapshot): GuideCheck => {
  const busy = busyWith(s, s.now, s.policy.quietMs);
  const c: GuideCheck = { check: 'one at a time', ok: !busy, detail: busy ?? 'nothing else is open' };
  // Held back by the reopened checklist alone: free again when its quiet period ends.
  if (busy && !s.showing && !s.run && !s.openHotspot) c.until = s.reopened!.at + s.policy.quietMs;
  return c;
};

const typing = (s: BudgetSnapshot): GuideCheck => ({
  check: 'typing',
  ok: !s.typing,
  detail: s.typing ? `the user is typing in ${s.typing}` : 'no text field has focus',
});

const pageVisible = (s: BudgetSnapshot): GuideCheck => ({
  check: 'page visible',
  ok: !s.hidden,
  detail: s.hidden ? 'the page is in a background tab' : 'the page is visible',
});

/** The checks that decide whether any interrupting surface may open now, shared by nudges and checklists. */
export function interruptionChecks(s: BudgetSnapshot): GuideCheck[] {
  return [sessionCap(s), dayCap(s), quietPeriod(s), oneAtATime(s), typing(s), pageVisible(s)];
}

/** Everything one decision reads. Functions here only read. */
export interface DecisionSnapshot extends BudgetSnapshot {
  ledger: Pick<Ledger, 'data' | 'sessionCount' | 'dayCount' | 'oldestInterruptionSince' | 'countOf'>;
  nudges: readonly ClientNudge[];
  ctx: Parameters<typeof evaluate>[1];
  lifecycleState: string | undefined;
  lib: { evaluate: typeof evaluate; durationMs: typeof durationMs };
  /** Why the lifecycle state refuses an action (`nudge:x`), or undefined. */
  refused(action: string): string | undefined;
  /** When the user dismissed this nudge for good, if they did. */
  dismissedAt(id: string): number | undefined;
  /** The server's holdout assignment for this nudge (true: held out), once it has made one. */
  holdout(id: string): boolean | undefined;
  /** Nudges whose exposure this page load has already counted. */
  exposed: ReadonlySet<string>;
  /** Why this nudge's anchor can't be used on this page (it never appeared, or the host app prevented it). */
  anchorProblem(id: string): string | undefined;
  /** Why no UI can draw it (none passed, or it failed to load), or undefined when one is ready. */
  uiProblem: string | undefined;
}

export interface Decision {
  decisions: NudgeDecision[];
  winner?: ClientNudge;
  /** Hotspots whose beacon is placed (or whose tip is open). */
  hot: ClientNudge[];
  /** Hotspots that would be placed but whose user is in the holdout. */
  held: ClientNudge[];
}

const lifecycle = (s: DecisionSnapshot, n: ClientNudge): GuideCheck => {
  const refusal = s.refused(`nudge:${n.id}`);
  return {
    check: 'lifecycle',
    ok: !refusal,
    detail: refusal ?? (s.lifecycleState ? `allowed in lifecycle state "${s.lifecycleState}"` : 'no lifecycle restriction'),
  };
};

const rule = (s: DecisionSnapshot, check: 'audience' | 'when', r: NonNullable<ClientNudge['when']>): GuideCheck => {
  const e = s.lib.evaluate(r, s.ctx);
  return { check, ok: e.ok, detail: explainLine(e), explanation: e };
};

const dismissed = (s: DecisionSnapshot, n: ClientNudge): GuideCheck => {
  const at = s.dismissedAt(n.id);
  return {
    check: 'dismissed',
    ok: at === undefined,
    detail: at === undefined ? 'not dismissed' : `dismissed for good on ${new Date(at).toISOString().slice(0, 10)}`,
  };
};

const snoozed = (s: DecisionSnapshot, n: ClientNudge): GuideCheck => {
  const until = s.ledger.data.snoozed[n.id];
  const snoozing = until !== undefined && until > s.now;
  return snoozing
    ? { check: 'snoozed', ok: false, detail: `snoozed for ${humanDuration(until - s.now)} more`, until }
    : { check: 'snoozed', ok: true, detail: 'not snoozed' };
};

const nudgeCap = (s: DecisionSnapshot, n: ClientNudge): GuideCheck => {
  const cap = n.cap ?? DEFAULT_CAP;
  const perMs = s.lib.durationMs(cap.per) || DAY;
  const c = s.ledger.countOf('nudge', n.id, perMs, s.now);
  const check: GuideCheck = {
    check: 'nudge cap',
    ok: c.count < cap.times,
    count: c.count,
    limit: cap.times,
    detail: `shown ${c.count} of ${cap.times} ${cap.times === 1 ? 'time' : 'times'} in ${cap.per}${n.cap ? '' : ' (the default cap)'}`,
  };
  if (!check.ok && c.oldest !== undefined) check.until = c.oldest + perMs;
  return check;
};

const holdout = (s: DecisionSnapshot, n: ClientNudge, pct: number): GuideCheck => {
  // The server assigns the arm (progress data.holdout); held out, it passes (it is counted), then isn't drawn.
  const h = s.holdout(n.id);
  const done = h === true && s.exposed.has(n.id);
  return {
    check: 'holdout',
    ok: h !== undefined && !done,
    detail:
      h === undefined
        ? `waiting for the server's holdout assignment (a ${pct}% holdout; needs a user token)`
        : done
          ? `in the ${pct}% holdout: never shown (its exposure on this page is counted)`
          : `${h ? 'in' : 'not in'} the ${pct}% holdout${h ? ': counted as exposed, never shown' : ''}`,
  };
};

/** Every check of one nudge, in the order the trace lists them (the first that fails is its summary). */
function checksOf(s: DecisionSnapshot, n: ClientNudge, shared: readonly GuideCheck[]): GuideCheck[] {
  const checks = [lifecycle(s, n)];
  if (n.audience) checks.push(rule(s, 'audience', n.audience));
  checks.push(rule(s, 'when', n.when), dismissed(s, n), snoozed(s, n), nudgeCap(s, n));
  if (n.holdout) checks.push(holdout(s, n, n.holdout));
  const anchor = s.anchorProblem(n.id);
  if (anchor) checks.push({ check: 'anchor', ok: false, detail: anchor });
  // A hotspot's beacon is not an interruption: the budget is for what opens on its own.
  if (n.kind !== 'hotspot') checks.push(...shared.map((x) => ({ ...x })));
  if (s.uiProblem) checks.push({ check: 'ui', ok: false, detail: s.uiProblem });
  return checks;
}

/** The full decision for every nudge in the config, with no side effects. */
export function decide(s: DecisionSnapshot): Decision {
  const { now, showing, openHotspot, run } = s;
  const shared = interruptionChecks(s);
  const ready: { n: ClientNudge; d: NudgeDecision; order: number }[] = [];
  const hot: ClientNudge[] = [];
  const held: ClientNudge[] = [];
  const decisions = s.nudges.map((n, order): NudgeDecision => {
    if (openHotspot === n.id) {
      hot.push(n);
      return { nudgeId: n.id, status: 'showing', summary: 'open (the user opened its beacon)', checks: [], at: now };
    }
    if (showing?.nudge.id === n.id) {
      return {
        ...showing.decision,
        status: showing.state === 'on-screen' ? 'showing' : 'eligible',
        summary: showing.state === 'on-screen' ? `on screen since ${clock(showing.since)}` : 'chosen; waiting for its anchor to appear',
        at: now,
      };
    }
    const checks = checksOf(s, n, shared);
    const failed = checks.find((x) => !x.ok);
    const d: NudgeDecision = {
      nudgeId: n.id,
      status: failed ? 'blocked' : 'eligible',
      summary: failed ? `blocked by ${failed.check}: ${failed.detail}` : 'eligible',
      checks,
      at: now,
    };
    if (!failed) {
      if (n.kind !== 'hotspot') ready.push({ n, d, order });
      else if (s.holdout(n.id) === true) {
        held.push(n);
        d.summary = 'eligible; held out (counted as exposed, never shown)';
      } else {
        if (!run) hot.push(n);
        d.summary = run ? 'eligible; hidden while a recipe runs' : 'shown as a hotspot beacon';
      }
    }
    return d;
  });
  // Priority, then config order: one interrupting nudge wins, the others say who went first.
  ready.sort((a, b) => (b.n.priority ?? 0) - (a.n.priority ?? 0) || a.order - b.order);
  const [first, ...rest] = ready;
  if (!first) return { decisions, hot, held };
  first.d.summary = 'eligible: every check passes; it shows now';
  for (const r of rest) {
    const detail = `"${first.n.id}" goes first (priority ${first.n.priority ?? 0} vs ${r.n.priority ?? 0})`;
    r.d.checks.push({ check: 'priority', ok: false, detail });
    r.d.status = 'blocked';
    r.d.summary = `blocked by priority: ${detail}`;
  }
  return { decisions, winner: first.n, hot, held };
}
