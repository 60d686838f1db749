/**
 * The guidance engine: which nudge shows now (targeting, trigger, lifecycle, caps, one at a time,
 * priority), the running recipe (steps, advance, resume), and the decision trace behind both.
 * It renders nothing: the UI module, loaded on first need (`GuideLoader`), draws `host.state()`
 * and reports back through `host`. No DOM here: the page's path, focus and storage come in `deps`,
 * so the whole decision logic runs (and is tested) in Node too.
 */
import type { durationMs } from '../rules/duration.js';
import type { evaluate } from '../rules/evaluate.js';
import type { glob } from '../rules/match.js';
import type { memoryContext, MemoryEvent } from '../rules/memory.js';
import type { Rule, RuleContext } from '../rules/types.js';
import { DEFAULT_FATIGUE, type FatiguePolicy, Ledger, type SurfaceKind } from './budget.js';
import { type BudgetSnapshot, type Decision, decide, explainLine, interruptionChecks } from './decide.js';
import type { resolveText, SAFE_LINK } from './text.js';
import type {
  ClientConfig,
  ClientNudge,
  ClientRecipe,
  GuideHost,
  GuideLoader,
  GuideReport,
  GuideState,
  NudgeActionView,
  NudgeCloseReason,
  NudgeDecision,
  NudgeView,
  ProgressEntry,
  RecipeStepView,
  Text,
} from './types.js';

const MAX_TIMER = 2 ** 31 - 1;

export type Outcome = { ok: true } | { ok: false; reason: string };

/**
 * The rule and text functions the engine uses, handed in by the page that already loaded them
 * (the client): imported here, they would be split into a chunk of their own that every
 * checklist page loads as a second file up front (a bundler shares a module between the page and
 * a lazy chunk that way). Only their types are imported.
 */
export interface GuideLib {
  durationMs: typeof durationMs;
  evaluate: typeof evaluate;
  glob: typeof glob;
  memoryContext: typeof memoryContext;
  resolveText: typeof resolveText;
  SAFE_LINK: typeof SAFE_LINK;
}

export interface GuideDeps {
  /** The rule and text functions (see `GuideLib`). */
  lib: GuideLib;
  /** localStorage key of the fatigue ledger. */
  storageKey: string;
  storage: Pick<Storage, 'getItem' | 'setItem'> | undefined;
  now(): number;
  config(): ClientConfig | undefined;
  /** The rule context of the moment (rollups, traits, facts, lifecycle, page). */
  ctx(): RuleContext;
  /** Why the lifecycle state refuses an action (`nudge:x`), or undefined when it allows it. */
  refused(action: string): string | undefined;
  lifecycleState(): string | undefined;
  track(event: string, properties: Record<string, unknown>): void;
  /** The user's synced progress entry for a recipe or nudge. */
  progress(kind: 'recipe' | 'nudge', id: string): ProgressEntry | undefined;
  /** Records progress (synced to `/v1/progress`). */
  saveProgress(kind: 'recipe' | 'nudge', id: string, state: ProgressEntry['state'], data?: Record<string, unknown>): void;
  /** A recipe completed: the checklist items it serves complete (the client re-derives them). */
  recipeCompleted(id: string): void;
  openLink(href: string): void;
  /** The current pathname. */
  path(): string;
  /** What the user is typing in (an input's description), or undefined. */
  typing(): string | undefined;
  /** The page is in a background tab (or minimized): nothing interrupts a page nobody sees. */
  hidden?(): boolean;
  locale(): string | undefined;
  loader?: GuideLoader | undefined;
  /** Code-level overrides of the config's `fatigue` section. */
  fatigue?: Partial<FatiguePolicy> | undefined;
  debug: boolean;
}

interface Showing {
  nudge: ClientNudge;
  view: NudgeView;
  decision: NudgeDecision;
  state: 'offered' | 'on-screen';
  since: number;
}
interface Run {
  recipe: ClientRecipe;
  index: number;
  completedBefore: boolean;
  stepStart: number;
  events: MemoryEvent[];
  skipped: number;
  missing?: string;
}
interface PageMark {
  path: string;
  detail: string;
}

const q = (v: unknown) => JSON.stringify(v) ?? String(v);
const selectorsOf = (a: string | readonly string[] | undefined): readonly string[] => (a === undefined ? [] : typeof a === 'string' ? [a] : a);
export { explainLine };

export interface Guide {
  readonly host: GuideHost;
  /** Decide again soon (coalesced): after events, navigation, focus changes, config or progress. */
  schedule(): void;
  /** Every telemetry message: a recipe step may advance on it. */
  onMessage(event: string, properties: Readonly<Record<string, unknown>> | undefined, ts: number): void;
  explain(nudgeId: string): NudgeDecision;
  report(): GuideReport;
  recipes: {
    start(id: string, options?: { source?: string }): Outcome;
    readonly active: { id: string; step: number; total: number } | undefined;
    exit(): void;
  };
  /**
   * A surface other than a nudge (a checklist reopening itself) asks to interrupt; counted when
   * granted, and "one at a time" until the user closes it (`settled`) or leaves the page.
   */
  interrupt(kind: SurfaceKind, id: string, item?: string): Outcome;
  /** The user closed (or acted on) what `interrupt` opened: the quiet period starts. */
  settled(id: string): void;
  /** Picks up a recipe left running (this browser's ledger, else the synced progress). */
  resume(): void;
  /** Another tab changed the ledger. */
  reload(): void;
  dispose(): void;
}

export function createGuide(deps: GuideDeps): Guide {
  const { durationMs, evaluate, glob, memoryContext, resolveText, SAFE_LINK } = deps.lib;
  const ledger = new Ledger(deps.storage, deps.storageKey, deps.now());
  const listeners = new Set<() => void>();
  let showing: Showing | undefined;
  let openHotspot: string | undefined;
  /** A checklist that reopened itself (granted by `interrupt`) and that the user has not closed yet. */
  let reopened: { id: string; at: number } | undefined;
  let hotspots: NudgeView[] = [];
  let run: Run | undefined;
  /** Per page (path): nudges whose anchor never appeared, or that the host app prevented. */
  const skippedOn = new Map<string, PageMark>();
  let ui: Promise<void> | undefined;
  let uiError: string | undefined;
  let unmount: (() => void) | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: ReturnType<typeof setTimeout> | undefined;
  let routePoll: ReturnType<typeof setInterval> | undefined;
  let lastPath = '';
  let disposed = false;

  const policy = (): FatiguePolicy => {
    const f = deps.config()?.fatigue;
    const quiet = f?.quiet ? durationMs(f.quiet) : NaN;
    return {
      perSession: deps.fatigue?.perSession ?? f?.perSession ?? DEFAULT_FATIGUE.perSession,
      perDay: deps.fatigue?.perDay ?? f?.perDay ?? DEFAULT_FATIGUE.perDay,
      quietMs: deps.fatigue?.quietMs ?? (quiet === quiet ? quiet : DEFAULT_FATIGUE.quietMs),
    };
  };

  const notify = () => {
    for (const l of listeners) l();
  };

  function ensureUI() {
    if (ui || !deps.loader || disposed) return;
    ui = deps.loader().then(
      (m) => {
        if (!disposed) unmount = m.mountGuide(host, { debug: deps.debug });
      },
      (e: unknown) => {
        uiError = e instanceof Error ? e.message : String(e);
        console.warn(`Keel: the nudge and recipe UI failed to load (${uiError}); nothing will be shown`);
        showing = undefined;
        notify();
      },
    );
  }

  const t = (x: Text | undefined) => resolveText(x, deps.locale() ?? 'en');
  const viewOf = (n: ClientNudge): NudgeView => {
    const v: NudgeView = {
      id: n.id,
      kind: n.kind,
      anchor: selectorsOf(n.anchor),
      body: t(n.body),
      actions: (n.actions ?? []).map((a) => ({ ...a, label: t(a.label) })),
    };
    if (n.placement) v.placement = n.placement;
    if (n.title !== undefined) v.title = t(n.title);
    return v;
  };

  const isDismissed = (id: string) =>
    ledger.data.dismissed[id] ?? (deps.progress('nudge', id)?.state === 'dismissed' ? Date.parse(deps.progress('nudge', id)!.updatedAt) : undefined);

  /** The budget's state now, for `interruptionChecks` (read only). */
  const budgetAt = (now: number): BudgetSnapshot => ({
    now,
    policy: policy(),
    ledger,
    typing: deps.typing(),
    hidden: deps.hidden?.() ?? false,
    showing,
    run,
    openHotspot,
    reopened,
  });

  /**
   * Exposure, for a nudge with a goal: the moment the engine decides it shows (offered to the UI,
   * or a hotspot's beacon placed), and for a held-out user the same moment, when it is not drawn.
   * The same point in both arms, so the server compares like with like. Once a page load each; a
   * held-out one also counts against its own cap (not the interruption budget).
   */
  const exposed = new Set<string>();
  function expose(n: ClientNudge, held: boolean, now: number) {
    if (!n.goal || exposed.has(n.id)) return;
    exposed.add(n.id);
    if (held) {
      ledger.record('nudge', n.id, now, false);
      deps.track('nudge.held_out', { nudge: n.id, kind: n.kind, holdout: n.holdout, ...versionOf() });
      schedule(); // decided again: the next nudge may show
    } else deps.track('nudge.offered', { nudge: n.id, kind: n.kind, ...versionOf() });
  }

  /** The config version an exposure happened under (outcomes are per version). */
  const versionOf = () => {
    const v = deps.config()?.version;
    return v === undefined ? {} : { version: v };
  };

  /** The full decision for every nudge in the config, with no side effects (decide.ts). */
  function decideAt(now: number): Decision {
    const path = deps.path();
    return decide({
      ...budgetAt(now),
      ledger,
      nudges: deps.config()?.nudges ?? [],
      ctx: deps.ctx(),
      lifecycleState: deps.lifecycleState(),
      lib: deps.lib,
      refused: deps.refused,
      dismissedAt: isDismissed,
      holdout: (id) => deps.progress('nudge', id)?.data?.holdout as boolean | undefined,
      exposed,
      anchorProblem: (id) => {
        const mark = skippedOn.get(id);
        return mark && mark.path === path ? mark.detail : undefined;
      },
      uiProblem: !deps.loader
        ? 'no UI to show it: pass ui: () => import("@keel/nudge-widget/ui") to init()'
        : uiError
          ? `the UI module failed to load: ${uiError}`
          : undefined,
    });
  }

  /** Decides and acts: offers the winner to the UI, updates hotspots, sets a timer for the next change. */
  function apply() {
    timer = undefined;
    if (disposed) return;
    const now = deps.now();
    ledger.touch(now);
    if (!run) resume(); // the config (or the synced progress) that names it may have just arrived
    const path = deps.path();
    let changed = false;
    if (path !== lastPath) {
      if (lastPath) {
        reopened = undefined;
        // Chosen for the page the user just left and not on screen yet (waiting for its anchor,
        // or for the user to stop typing): withdrawn, and decided again for this page.
        if (showing?.state === 'offered') {
          showing = undefined;
          changed = true;
        }
      }
      lastPath = path;
      for (const [id, m] of skippedOn) if (m.path !== path) skippedOn.delete(id);
    }
    const { decisions, winner, hot, held } = decideAt(now);
    // Held out: the moment it would have shown is its exposure (counted against its cap, not the
    // interruption budget), and nothing is drawn. Decided again for whatever comes next.
    held.forEach((n) => expose(n, true, now));
    if (!showing && winner && deps.progress('nudge', winner.id)?.data?.holdout === true) expose(winner, true, now);
    else if (!showing && winner) {
      expose(winner, false, now);
      const d = decisions.find((x) => x.nudgeId === winner.id)!;
      showing = { nudge: winner, view: viewOf(winner), decision: d, state: 'offered', since: now };
      changed = true;
    }
    for (const n of hot) expose(n, false, now);
    const hotIds = hot.map((n) => n.id).join();
    if (hotIds !== hotspots.map((n) => n.id).join()) {
      hotspots = hot.map(viewOf);
      changed = true;
    }
    if (showing || hotspots.length || run || deps.debug) ensureUI();
    // Wake up when the earliest time-bound block ends (quiet period, snooze, a cap's window).
    const next = Math.min(...decisions.flatMap((d) => d.checks.filter((c) => !c.ok && c.until !== undefined && c.until > now).map((c) => c.until!)));
    clearTimeout(wake);
    if (Number.isFinite(next)) wake = setTimeout(schedule, Math.min(MAX_TIMER, next - now + 25));
    watchRoute();
    if (changed) notify();
    else if (deps.debug) notify(); // the overlay shows live counts
  }

  function schedule() {
    if (timer === undefined && !disposed) timer = setTimeout(apply, 16);
  }

  // ── recipes ───────────────────────────────────────────────────────────────────────────────
  const recipeOf = (id: string) => deps.config()?.recipes?.find((r) => r.id === id);

  function stepView(): RecipeStepView | undefined {
    if (!run) return undefined;
    const s = run.recipe.steps[run.index]!;
    const v: RecipeStepView = {
      recipeId: run.recipe.id,
      recipeTitle: t(run.recipe.title),
      index: run.index,
      total: run.recipe.steps.length,
      anchor: selectorsOf(s.anchor),
      text: t(s.text),
      advance: s.advance === 'click' ? 'click' : s.advance && typeof s.advance === 'object' ? 'event' : 'next',
    };
    if (s.id) v.id = s.id;
    if (s.title !== undefined) v.title = t(s.title);
    if (s.placement) v.placement = s.placement;
    if (s.route && !glob(s.route, deps.path())) v.waitingForRoute = s.route;
    return v;
  }

  /** While a step waits for its route, look at the path a few times a second (SPA or not, no history patching). */
  function watchRoute() {
    const waiting = run?.recipe.steps[run.index]?.route !== undefined;
    if (waiting && !routePoll) {
      let seen = deps.path();
      routePoll = setInterval(() => {
        const p = deps.path();
        if (p !== seen) {
          seen = p;
          notify();
          schedule();
        }
      }, 250);
    } else if (!waiting && routePoll) {
      clearInterval(routePoll);
      routePoll = undefined;
    }
  }

  function persistRun(now: number) {
    if (!run) return;
    ledger.setRecipe({ id: run.recipe.id, step: run.index, active: true, at: now });
    if (!run.completedBefore) deps.saveProgress('recipe', run.recipe.id, 'started', { step: run.index, active: true, skipped: run.skipped });
  }

  function begin(recipe: ClientRecipe, index: number, completedBefore: boolean) {
    const now = deps.now();
    const saved = deps.progress('recipe', recipe.id)?.data?.skipped;
    const skipped = !completedBefore && typeof saved === 'number' ? saved : 0;
    run = { recipe, index: Math.min(Math.max(0, index), recipe.steps.length - 1), completedBefore, stepStart: now, events: [], skipped };
    if (showing) endNudge('replaced');
    openHotspot = undefined;
    hotspots = [];
    persistRun(now);
    ensureUI();
    watchRoute();
    notify();
  }

  function start(id: string, options: { source?: string } = {}): Outcome {
    const recipe = recipeOf(id);
    if (!recipe) {
      const known = (deps.config()?.recipes ?? []).map((r) => r.id);
      return { ok: false, reason: `no recipe "${id}" in the published config (recipes: ${known.join(', ') || 'none'})` };
    }
    const refusal = deps.refused(`recipe:${id}`);
    if (refusal) {
      deps.track('lifecycle.action_refused', { action: `recipe:${id}`, state: deps.lifecycleState(), source: options.source });
      return { ok: false, reason: refusal };
    }
    if (run?.recipe.id === id) return { ok: true };
    if (run) stopRun('replaced');
    const mark = ledger.data.recipe?.id === id ? ledger.data.recipe : undefined;
    const prog = deps.progress('recipe', id);
    const completedBefore = prog?.state === 'completed';
    const saved = typeof prog?.data?.step === 'number' ? prog.data.step : 0;
    const index = completedBefore ? 0 : mark ? mark.step : saved;
    const now = deps.now();
    ledger.record('recipe', id, now, true);
    begin(recipe, index, completedBefore);
    deps.track('recipe.started', { recipe: id, source: options.source ?? 'api', step: run!.index + 1, steps: recipe.steps.length, resumed: run!.index > 0 });
    return { ok: true };
  }

  function resume() {
    if (run || disposed) return;
    const mark = ledger.data.recipe;
    let id: string | undefined;
    let index = 0;
    if (mark?.active) {
      id = mark.id;
      index = mark.step;
    } else {
      // Another device left one running, and this browser has no newer word on it.
      for (const r of deps.config()?.recipes ?? []) {
        const p = deps.progress('recipe', r.id);
        if (
          p?.state === 'started' &&
          p.data?.active === true &&
          typeof p.data.step === 'number' &&
          !(mark?.id === r.id && mark.at >= Date.parse(p.updatedAt))
        ) {
          id = r.id;
          index = p.data.step;
          break;
        }
      }
    }
    const recipe = id ? recipeOf(id) : undefined;
    if (!recipe || !id || deps.refused(`recipe:${id}`)) return;
    const prog = deps.progress('recipe', id);
    const completedBefore = prog?.state === 'completed';
    if (completedBefore && mark?.active && Date.parse(prog.completedAt ?? prog.updatedAt) > mark.at) {
      ledger.setRecipe(undefined); // finished on another device since this one last ran it
      return;
    }
    begin(recipe, index, completedBefore);
    deps.track('recipe.resumed', { recipe: id, step: run!.index + 1, steps: recipe.steps.length });
  }

  function stopRun(why: 'exited' | 'replaced') {
    if (!run) return;
    const now = deps.now();
    const { recipe, index, completedBefore } = run;
    deps.track('recipe.exited', { recipe: recipe.id, step: index + 1, steps: recipe.steps.length, reason: why });
    ledger.setRecipe({ id: recipe.id, step: index, active: false, at: now });
    if (!completedBefore) deps.saveProgress('recipe', recipe.id, 'started', { step: index, active: false });
    run = undefined;
    if (why === 'exited') ledger.closed(now);
    watchRoute();
    notify();
    schedule();
  }

  function advance(how: 'next' | 'click' | 'event' | 'skip') {
    if (!run) return;
    const now = deps.now();
    const { recipe, index } = run;
    const step = recipe.steps[index]!;
    const last = index + 1 === recipe.steps.length;
    const skipped = run.skipped + (how === 'skip' ? 1 : 0);
    // State first, events after: a tracked event comes straight back through onMessage.
    if (last) {
      run = undefined;
      // An inactive mark, not none: another tab must not resume it from its own older progress.
      ledger.setRecipe({ id: recipe.id, step: recipe.steps.length, active: false, at: now });
      ledger.closed(now);
    } else {
      run = { ...run, index: index + 1, stepStart: now, events: [], skipped };
      delete run.missing;
      persistRun(now);
    }
    watchRoute();
    deps.track('recipe.step_completed', { recipe: recipe.id, step: index + 1, steps: recipe.steps.length, ...(step.id ? { stepId: step.id } : {}), how });
    if (last) {
      deps.track('recipe.completed', { recipe: recipe.id, steps: recipe.steps.length, ...(skipped ? { skipped } : {}) });
      // Finished with skipped steps: the walkthrough is over, but it proves nothing was done.
      deps.saveProgress('recipe', recipe.id, 'completed', { step: recipe.steps.length, active: false, skipped });
      deps.recipeCompleted(recipe.id);
      schedule();
    }
    notify();
  }

  function onMessage(event: string, properties: Readonly<Record<string, unknown>> | undefined, ts: number) {
    if (!run) return;
    const rule = run.recipe.steps[run.index]?.advance;
    if (!rule || typeof rule !== 'object') return;
    run.events.push(properties ? { event, ts, properties } : { event, ts });
    if (run.events.length > 200) run.events.shift();
    const base = deps.ctx();
    const ctx = memoryContext(
      run.events.filter((e) => e.ts >= run!.stepStart - 1000),
      base,
    );
    if (evaluate(rule as Rule, ctx).ok) advance('event');
  }

  // ── nudges: what the UI reports ───────────────────────────────────────────────────────────
  function endNudge(reason: NudgeCloseReason | 'action') {
    if (!showing) return;
    const now = deps.now();
    if (showing.state === 'on-screen' && (reason === 'escape' || reason === 'close' || reason === 'action')) ledger.closed(now);
    showing = undefined;
    notify();
    schedule();
  }

  const kindOfAction = (a: NudgeActionView) =>
    a.recipe ? 'recipe' : a.link ? 'link' : a.dismiss ? 'dismiss' : a.snooze ? 'snooze' : a.event ? 'event' : 'close';
  const nudgeOf = (id: string) => deps.config()?.nudges?.find((n) => n.id === id);

  const host: GuideHost = {
    state(): GuideState {
      const s: GuideState = { hotspots };
      if (showing) s.nudge = showing.view;
      const step = stepView();
      if (step) s.step = step;
      return s;
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    shown(id, anchor) {
      const now = deps.now();
      const n = nudgeOf(id);
      if (!n) return;
      if (showing?.nudge.id === id) {
        showing.state = 'on-screen';
        showing.since = now;
        ledger.record('nudge', id, now, true);
      } else if (n.kind === 'hotspot') {
        openHotspot = id;
        ledger.record('nudge', id, now, false);
      } else return;
      deps.track('nudge.sent', {
        nudge: id,
        kind: n.kind,
        anchor,
        priority: n.priority ?? 0,
        ...(n.kind === 'hotspot' ? { opened: 'by the user' } : {}),
        ...versionOf(),
      });
      if (deps.debug) notify();
    },
    skipped(id, why) {
      const path = deps.path();
      if (why.reason === 'anchor.missing') {
        deps.track('anchor.missing', { nudge: id, selectors: [...why.selectors], waitedMs: why.waitedMs, path });
        skippedOn.set(id, { path, detail: `not found on ${path} after ${why.waitedMs} ms: ${why.selectors.map(q).join(', ')}` });
      } else {
        skippedOn.set(id, { path, detail: `the host app prevented it on ${path} (keel-nudge-show was cancelled)` });
      }
      if (showing?.nudge.id === id) {
        showing = undefined;
        notify();
      }
      if (hotspots.some((h) => h.id === id)) {
        hotspots = hotspots.filter((h) => h.id !== id);
        notify();
      }
      schedule();
    },
    acted(id, action) {
      const n = nudgeOf(id);
      if (!n) return;
      const now = deps.now();
      deps.track('nudge.acted', { nudge: id, kind: n.kind, action: kindOfAction(action), label: action.label });
      if (action.event) deps.track(action.event, { nudge: id });
      if (action.snooze) {
        const ms = durationMs(action.snooze);
        if (ms === ms) ledger.snooze(id, now + ms);
      }
      if (action.dismiss) {
        ledger.dismiss(id, now);
        deps.saveProgress('nudge', id, 'dismissed');
      }
      if (openHotspot === id) {
        openHotspot = undefined;
        ledger.closed(now);
        schedule();
      }
      if (showing?.nudge.id === id) endNudge('action');
      if (action.recipe) {
        const r = start(action.recipe, { source: `nudge:${id}` });
        if (!r.ok) console.warn(`Keel: ${r.reason}`);
      } else if (action.link && SAFE_LINK.test(action.link)) deps.openLink(action.link);
    },
    closed(id, reason) {
      const n = nudgeOf(id);
      const byUser = reason === 'escape' || reason === 'close';
      if (n && byUser) deps.track('nudge.acted', { nudge: id, kind: n.kind, action: 'close', via: reason });
      if (reason === 'disconnected') {
        // Removed by the host app (a re-render that cleared <body>, say): not on this page again.
        // (The page it was on: a navigation that clears <body> often changes the URL first.)
        const on = lastPath || deps.path();
        skippedOn.set(id, { path: on, detail: `the host app removed it from ${on}` });
      }
      if (openHotspot === id) {
        openHotspot = undefined;
        if (byUser) ledger.closed(deps.now());
        schedule();
      }
      if (!byUser && hotspots.some((h) => h.id === id)) {
        // Its beacon is gone with its anchor (or the host app removed it): offered afresh, it
        // waits for the anchor to come back (a re-render) and is skipped on this page if it doesn't.
        hotspots = hotspots.filter((h) => h.id !== id);
        notify();
        schedule();
      }
      if (showing?.nudge.id === id) endNudge(reason);
    },
    typing: () => deps.typing(),
    recipe: {
      next: (cause) => advance(cause),
      back() {
        if (!run || run.index === 0) return;
        run = { ...run, index: run.index - 1, stepStart: deps.now(), events: [] };
        ledger.setRecipe({ id: run.recipe.id, step: run.index, active: true, at: deps.now() });
        watchRoute();
        notify();
      },
      skip: () => advance('skip'),
      exit: () => stopRun('exited'),
      missing(selectors, waitedMs) {
        if (!run) return;
        const path = deps.path();
        run.missing = `step ${run.index + 1}: not found on ${path} after ${waitedMs} ms: ${selectors.map(q).join(', ')}`;
        deps.track('anchor.missing', { recipe: run.recipe.id, step: run.index + 1, selectors: [...selectors], waitedMs, path });
        if (deps.debug) notify();
      },
    },
    debug: () => report(),
  };

  function report(): GuideReport {
    const now = deps.now();
    const p = policy();
    const quietUntil = ledger.data.closedAt ? ledger.data.closedAt + p.quietMs : 0;
    const r: GuideReport = {
      nudges: decideAt(now).decisions,
      budget: { session: { count: ledger.sessionCount(now), limit: p.perSession }, day: { count: ledger.dayCount(now), limit: p.perDay } },
    };
    const version = deps.config()?.version;
    if (version !== undefined) r.configVersion = version;
    if (quietUntil > now) r.budget.quietUntil = quietUntil;
    const step = stepView();
    if (run && step)
      r.recipe = {
        id: run.recipe.id,
        step: run.index + 1,
        total: step.total,
        active: true,
        ...(step.waitingForRoute ? { waitingForRoute: step.waitingForRoute } : {}),
      };
    return r;
  }

  return {
    host,
    schedule,
    onMessage,
    explain(id) {
      const now = deps.now();
      const d = decideAt(now).decisions.find((x) => x.nudgeId === id);
      if (d) return d;
      const known = (deps.config()?.nudges ?? []).map((n) => n.id);
      return {
        nudgeId: id,
        status: 'unknown',
        summary: `no nudge "${id}" in config version ${deps.config()?.version ?? '(none loaded yet)'} (nudges: ${known.join(', ') || 'none'})`,
        checks: [],
        at: now,
      };
    },
    report,
    recipes: {
      start,
      get active() {
        return run ? { id: run.recipe.id, step: run.index + 1, total: run.recipe.steps.length } : undefined;
      },
      exit: () => stopRun('exited'),
    },
    interrupt(kind, id, item) {
      const now = deps.now();
      // A checklist reopening itself in a background tab is seen when the user comes back (it
      // asks once, when the item fails): visibility is not one of its checks.
      const failed = interruptionChecks(budgetAt(now)).find((c) => !c.ok && c.check !== 'page visible');
      if (failed) return { ok: false, reason: `${failed.check}: ${failed.detail}` };
      ledger.record(kind, id, now, true);
      if (kind === 'checklist') {
        reopened = { id, at: now };
        deps.track('checklist.reopened', { checklist: id, item, reason: 'failed' });
      }
      return { ok: true };
    },
    settled(id) {
      if (reopened?.id !== id) return;
      const now = deps.now();
      const held = now < reopened.at + policy().quietMs; // collapsed hours later: nothing to close
      reopened = undefined;
      if (held) ledger.closed(now);
      schedule();
    },
    resume,
    reload() {
      ledger.reload(deps.now());
      // Another tab moved, exited or finished the walkthrough this one shows: follow it, quietly
      // (that tab tracked it). A recipe started there is picked up by resume().
      const mark = ledger.data.recipe;
      if (run && (mark?.id !== run.recipe.id || !mark.active)) {
        run = undefined;
        watchRoute();
        notify();
      } else if (run && mark && mark.step !== run.index && mark.step < run.recipe.steps.length) {
        run = { ...run, index: mark.step, stepStart: deps.now(), events: [] };
        delete run.missing;
        watchRoute();
        notify();
      }
      schedule();
    },
    dispose() {
      disposed = true;
      clearTimeout(timer);
      clearTimeout(wake);
      clearInterval(routePoll);
      unmount?.();
      listeners.clear();
    },
  };
}
