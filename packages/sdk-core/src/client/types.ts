import type { Explanation, Rule } from '../rules/types.js';

/** Human text: a string or a per-locale map (`{ en: 'Connect SSO', fr: 'Connecter le SSO' }`). */
export type Text = string | Readonly<Record<string, string>>;

export interface ItemAction {
  label?: Text;
  recipe?: string;
  link?: string;
}

/** The parts of a published config the browser client reads (validated server-side). */
export interface ClientChecklistItem {
  id: string;
  title: Text;
  description?: Text;
  due?: { day: number };
  scope?: 'user' | 'tenant';
  complete: Rule;
  failed?: Rule;
  recovery?: ItemAction;
  launch?: ItemAction;
  /** Who may mark it done from the browser (stored by the server as attested): see the config schema. */
  attest?: 'user' | { roles: readonly string[] };
}
export interface ClientChecklist {
  id: string;
  title: Text;
  audience?: Rule;
  items: readonly ClientChecklistItem[];
}
export interface ClientConfig {
  version?: number;
  product?: string;
  checklists?: readonly ClientChecklist[];
  nudges?: readonly ClientNudge[];
  recipes?: readonly ClientRecipe[];
  fatigue?: FatigueConfig;
  [section: string]: unknown;
}

export interface ChecklistItemView {
  id: string;
  title: Text;
  description?: Text;
  state: 'done' | 'pending' | 'failed';
  dueDay?: number;
  overdue?: boolean;
  scope?: 'user' | 'tenant';
  launch?: ItemAction;
  recovery?: ItemAction;
}
export interface ChecklistView {
  id: string;
  title: Text;
  items: ChecklistItemView[];
}

/** What `<keel-checklist>` reads from and reports to. */
export interface ChecklistSource {
  checklist(id: string): ChecklistView | undefined;
  subscribe(listener: () => void): () => void;
  act?(checklistId: string, itemId: string, kind: 'launch' | 'recovery', action: ItemAction): void;
  /** UI state that should survive a reload (collapsed, dismissed), kept per browser. */
  uiState?(checklistId: string): { collapsed?: boolean; dismissed?: boolean } | undefined;
  setUiState?(checklistId: string, state: { collapsed?: boolean; dismissed?: boolean }): void;
  /**
   * A collapsed checklist asks to reopen itself because an item just failed (to show its
   * recovery): an interruption, granted or refused by the same fatigue budget as nudges.
   */
  interrupt?(checklistId: string, itemId: string): Promise<boolean>;
}

export type { ProgressEntry } from '../progress/merge.js';

// ── Guidance: nudges, recipes and the fatigue budget they share ──────────────────────────────

export type NudgeKind = 'tooltip' | 'hotspot' | 'modal' | 'banner';
export type Placement =
  'top' | 'bottom' | 'left' | 'right' | 'top-start' | 'top-end' | 'bottom-start' | 'bottom-end' | 'left-start' | 'left-end' | 'right-start' | 'right-end';

/** A nudge button: what it does when chosen (any combination; a label alone just closes). */
export interface NudgeAction {
  label: Text;
  /** Tracked as an event (`support.requested`). */
  event?: string;
  /** Starts this recipe. */
  recipe?: string;
  /** Opens this link (http(s) or a same-site path). */
  link?: string;
  /** Not shown again for this long (`3d`). */
  snooze?: string;
  /** Never shown again to this user (synced across devices). */
  dismiss?: true;
}

export interface ClientNudge {
  id: string;
  kind: NudgeKind;
  /** Ranked CSS selectors: the first that matches is the anchor (open shadow roots included). */
  anchor?: string | readonly string[];
  placement?: Placement;
  title?: Text;
  body: Text;
  /** Targeting: who may see it. */
  audience?: Rule;
  /** Trigger: when it should show. */
  when: Rule;
  actions?: readonly NudgeAction[];
  /** Higher shows first. Default 0. */
  priority?: number;
  /** At most `times` shows in `per`. Default: once a day. */
  cap?: { times: number; per: string };
  /** What it is for: `event` within `within` after exposure (measured by the server). */
  goal?: { event: string; where?: Record<string, unknown>; within: string };
  /** Percent of eligible users counted but not shown (the server says who: progress `data.holdout`). */
  holdout?: number;
}

export interface ClientRecipeStep {
  id?: string;
  anchor?: string | readonly string[];
  /** The step waits for this path (glob) before looking for its anchor. */
  route?: string;
  placement?: Placement;
  title?: Text;
  text: Text;
  /** `click` on the anchor, `next` (the button), or a rule (an event since the step began). Default `next`. */
  advance?: 'click' | 'next' | Rule;
}
export interface ClientRecipe {
  id: string;
  title: Text;
  steps: readonly ClientRecipeStep[];
}

/** The config's `fatigue` section (see `FatiguePolicy` for the defaults). */
export interface FatigueConfig {
  perSession?: number;
  perDay?: number;
  quiet?: string;
}

/** A nudge action as the UI renders it: its label resolved for the page's locale. */
export type NudgeActionView = Omit<NudgeAction, 'label'> & { label: string };

/** A nudge as the UI renders it (texts resolved for the page's locale). */
export interface NudgeView {
  id: string;
  kind: NudgeKind;
  /** Ranked selectors; empty for modals and banners. */
  anchor: readonly string[];
  placement?: Placement;
  title?: string;
  /** The safe markdown subset; the UI builds DOM nodes from it, never HTML. */
  body: string;
  actions: readonly NudgeActionView[];
}

/** The current step of the running recipe, as the UI renders it. */
export interface RecipeStepView {
  recipeId: string;
  recipeTitle: string;
  /** 0-based; the UI shows `index + 1` of `total`. */
  index: number;
  total: number;
  id?: string;
  anchor: readonly string[];
  placement?: Placement;
  title?: string;
  text: string;
  advance: 'click' | 'next' | 'event';
  /** Set while the step waits for the user to reach its route (nothing is shown meanwhile). */
  waitingForRoute?: string;
}

/** What should be on screen now. */
export interface GuideState {
  /** The one interrupting nudge (tooltip, modal or banner), if any. */
  nudge?: NudgeView;
  /** Hotspot beacons: not interrupting, opened by the user. */
  hotspots: readonly NudgeView[];
  step?: RecipeStepView;
}

/**
 * `escape` and `close` are the user's (they start the quiet period); `anchor-removed` (its element
 * left the page) and `disconnected` (the host app removed the nudge itself) are not.
 */
export type NudgeCloseReason = 'escape' | 'close' | 'anchor-removed' | 'replaced' | 'disconnected';

/**
 * The contract between the engine (`Keel.init`) and the UI module it loads lazily
 * (`@keel/nudge-widget/ui`): the UI renders `state()` and reports what happened.
 */
export interface GuideHost {
  state(): GuideState;
  subscribe(listener: () => void): () => void;
  /** The nudge is on screen (the engine counts it and tracks `nudge.sent`). */
  shown(nudgeId: string, anchor: string | null): void;
  /** It could not be shown: its anchor never appeared (`anchor.missing` is tracked), or the host app prevented it. */
  skipped(nudgeId: string, why: { reason: 'anchor.missing'; selectors: readonly string[]; waitedMs: number } | { reason: 'prevented' }): void;
  /** An action was chosen (the engine tracks `nudge.acted` and does what the action says). */
  acted(nudgeId: string, action: NudgeActionView): void;
  /** Closed without an action (✕, Escape, its anchor removed, the nudge element removed). */
  closed(nudgeId: string, reason: NudgeCloseReason): void;
  /** What the user is typing in, if anything: an interrupting nudge chosen earlier waits until they stop. */
  typing(): string | undefined;
  recipe: {
    /** Advance: the user pressed Next or clicked the step's anchor. */
    next(cause: 'next' | 'click'): void;
    back(): void;
    skip(): void;
    /** ✕ or Escape: the recipe stops here and can be resumed. */
    exit(): void;
    /** The step's anchor never appeared (the UI still shows the step, unanchored, with Skip). */
    missing(selectors: readonly string[], waitedMs: number): void;
  };
  /** Everything `?keel_debug=1` shows. */
  debug(): GuideReport;
}

/** The lazily loaded UI module: `() => import('@keel/nudge-widget/ui')`. */
export type GuideLoader = () => Promise<{ mountGuide(host: GuideHost, options: { debug: boolean }): () => void }>;

/** One check of a nudge's decision trace. */
export interface GuideCheck {
  check:
    | 'lifecycle'
    | 'audience'
    | 'when'
    | 'dismissed'
    | 'snoozed'
    | 'nudge cap'
    | 'holdout'
    | 'session cap'
    | 'day cap'
    | 'quiet period'
    | 'one at a time'
    | 'typing'
    | 'page visible'
    | 'priority'
    | 'anchor'
    | 'ui';
  ok: boolean;
  /** One readable line: `1 of 3 interruptions this session`. */
  detail: string;
  count?: number;
  limit?: number;
  /** When a time-bound block ends (ms since the epoch). */
  until?: number;
  /** The rule's explanation (audience, when): each clause with its value. */
  explanation?: Explanation;
}

/** Why a nudge is (not) showing: `keel.debug.explain(nudgeId)`. */
export interface NudgeDecision {
  nudgeId: string;
  /** `showing`: on screen; `eligible`: chosen, being shown; `blocked`: a check failed; `unknown`: not in the config. */
  status: 'showing' | 'eligible' | 'blocked' | 'unknown';
  /** The outcome in one sentence: the first failing check, or why it shows. */
  summary: string;
  checks: GuideCheck[];
  /** When this was decided. */
  at: number;
}

export interface GuideReport {
  configVersion?: number;
  nudges: NudgeDecision[];
  recipe?: { id: string; step: number; total: number; active: boolean; waitingForRoute?: string };
  budget: {
    session: { count: number; limit: number };
    day: { count: number; limit: number };
    quietUntil?: number;
  };
}
