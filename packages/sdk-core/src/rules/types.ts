/**
 * The rule language: one small, data-only condition language for every `when:`, `complete:`,
 * `failed:`, `audience:`, `proof:` and alert `when:` in a Keel config.
 *
 * A rule is a plain object whose *kind* is the one clause key it carries (`all`, `any`, `not`,
 * `event`, `trait`, `tenantTrait`, `page`, `lifecycle`, `checklist`, `recipe`, `fact`, `metric`,
 * `health`). TypeScript narrows the union with `'event' in rule`. Exactly one kind per object:
 * the schema (`schema/rule.ts`) rejects `{ event, trait }`; combine conditions with `all`/`any`.
 *
 * Semantics, decided once for the browser and the server:
 * - `all: []` is true, `any: []` is false.
 * - Event counts: default `count` is `{ gte: 1 }`; no `within` means all time. A window `within: d`
 *   evaluated at `now` is the closed interval `[now - d, now]`: both ends inclusive, so an event
 *   exactly `d` ago still counts (see `EventQuery`).
 * - Comparison operators in one object are ANDed (`{ gte: 2, lte: 5 }` is a range). An empty
 *   comparison is true (the schema requires at least one operator).
 * - `where`: a scalar means equality, an object means comparisons. Property paths may be dotted
 *   (`'user.plan'`); a literal key containing the dot wins over the walk. Only own properties are read.
 * - A missing value (`undefined` or `null`) passes only `ne`, `nin` and `exists: false`
 *   (MongoDB-like). Ordering operators (`gt`…`lte`) need both sides to be numbers or both strings.
 * - Missing data is never a crash: a fact, metric, health, page, lifecycle, checklist or recipe the
 *   context doesn't have makes the clause false with `reason: 'missing'`. Logic is two-valued, so
 *   `not` of a missing clause is true; the explanation keeps the `missing` leaf visible.
 */

/** `Nm`, `Nh`, `Nd`, `Nw` (minutes, hours, days, weeks), N a positive integer: `'7d'`. */
export type Duration = `${number}${'m' | 'h' | 'd' | 'w'}`;

export type Scalar = string | number | boolean;

/** Operators a trait, tenant trait, fact, metric or `where` value is compared with. ANDed. */
export interface Comparison {
  eq?: Scalar;
  ne?: Scalar;
  gt?: number | string;
  gte?: number | string;
  lt?: number | string;
  lte?: number | string;
  in?: readonly Scalar[];
  nin?: readonly Scalar[];
  /** `true`: the value is present (not undefined/null); `false`: absent. */
  exists?: boolean;
  /** Glob on a string value: `*` matches within one `/`-segment, `**` any depth. */
  glob?: string;
}

/** Numeric operators, for event counts and the health score. ANDed. */
export interface NumberComparison {
  eq?: number;
  ne?: number;
  gt?: number;
  gte?: number;
  lt?: number;
  lte?: number;
}

/** Event property filter: `{ feature: 'reports', size: { gte: 3 }, 'user.plan': 'pro' }`. */
export type Where = Readonly<Record<string, Scalar | Comparison>>;

export type ProgressState = 'completed' | 'started' | 'not_started';

/**
 * Which stored events a server-side clause counts: `verified` (default) only events the server
 * could verify (a server-side write key, or a user token proving their user and tenant); `any`
 * counts unverified ones too. The browser sees only its own events and ignores it.
 */
export type Evidence = 'verified' | 'any';

export interface AllRule {
  all: readonly Rule[];
}
export interface AnyRule {
  any: readonly Rule[];
}
export interface NotRule {
  not: Rule;
}
export interface EventRule {
  event: string;
  where?: Where;
  /** Default `{ gte: 1 }`. `{ lte: 0 }` means "none". */
  count?: NumberComparison;
  /** Default: all time. */
  within?: Duration;
  evidence?: Evidence;
}
export interface TraitRule extends Comparison {
  trait: string;
}
export interface TenantTraitRule extends Comparison {
  tenantTrait: string;
  evidence?: Evidence;
}
export interface FactRule extends Comparison {
  fact: string;
  evidence?: Evidence;
}
export interface MetricRule extends Comparison {
  metric: string;
}
/** Glob on the current path: `*` one segment, `**` any depth (`/reports/**` also matches `/reports`). */
export interface PageRule {
  page: string;
}
/** True when the current lifecycle state is one of these. */
export interface LifecycleRule {
  lifecycle: string | readonly string[];
}
/**
 * State of a checklist (default `completed`). Without `items` it is about the whole checklist:
 * completed = the checklist is complete, started = some progress but not complete, not_started = no
 * item complete. With `items` it is about those items only: completed = all of them, started = some
 * but not all, not_started = none.
 */
export interface ChecklistRule {
  checklist: string;
  items?: readonly string[];
  state?: ProgressState;
  /**
   * `attested`: items a user attested (config `attest:` on the item) count as completed too, and
   * the explanation lists them (`attested`). Default: only completions the evaluator decided count.
   */
  accept?: 'attested';
}
/** The recipe's state equals `state` (default `completed`). */
export interface RecipeRule {
  recipe: string;
  state?: ProgressState;
}
/** Band equality (or one of a list) and/or score comparison, ANDed. */
export interface HealthRule {
  health: { band?: string | readonly string[]; score?: NumberComparison };
}

export type LeafRule = EventRule | TraitRule | TenantTraitRule | FactRule | MetricRule | PageRule | LifecycleRule | ChecklistRule | RecipeRule | HealthRule;
export type Rule = AllRule | AnyRule | NotRule | LeafRule;

/**
 * What `countEvents` is asked: events named `event`, matching `where` (see `matchWhere`), with a
 * timestamp `ts` such that `since <= ts <= until` (both inclusive; no `since` = from the beginning).
 */
export interface EventQuery {
  event: string;
  where?: Where;
  since?: number;
  until: number;
  evidence?: Evidence;
}

export interface ChecklistProgress {
  completedItems: readonly string[];
  completed: boolean;
  /** Items completed only by a user's attestation (not in `completedItems`); read by `accept: attested`. */
  attestedItems?: readonly string[];
  /** Every item id of the checklist, so `accept: attested` can tell when the whole checklist is done. */
  allItems?: readonly string[];
}

export interface Health {
  score: number;
  band: string;
}

/**
 * The data a rule reads. Implemented by the browser (local rollups) and the server (SQL
 * aggregates). Anything optional may be absent: the clauses reading it are then false with
 * `reason: 'missing'` (traits: absent = undefined, see `Comparison`).
 */
export interface RuleContext {
  /** Evaluation time, ms since the epoch. */
  now: number;
  countEvents(query: EventQuery): number;
  userTraits?: Readonly<Record<string, unknown>>;
  tenantTraits?: Readonly<Record<string, unknown>>;
  /** Server-computed tenant facts (`active_users_7d`). */
  facts?: Readonly<Record<string, unknown>>;
  /** Server-computed metrics (`dau_over_wau`). */
  metrics?: Readonly<Record<string, unknown>>;
  /** The current pathname (no query, no hash), browser side. */
  page?: { path: string };
  lifecycle?: string;
  /** `undefined` = unknown checklist (missing). A known, untouched one is `{ completedItems: [], completed: false }`. */
  checklist?(id: string): ChecklistProgress | undefined;
  /** `undefined` = unknown recipe (missing). A known, untouched one is `'not_started'`. */
  recipe?(id: string): ProgressState | undefined;
  health?: Health;
  /**
   * Server side, where events carry trust: `countEvents` honours `query.evidence`, `facts` and
   * `tenantTraits` are from verified events, and these are the same counting unverified ones
   * too (for `evidence: 'any'` clauses, and to explain what was left out).
   */
  anyEvidence?: {
    facts?: Readonly<Record<string, unknown>>;
    tenantTraits?: Readonly<Record<string, unknown>>;
    /** The explanation's `note` for a leaf whose value counting unverified events is `withAny` (it would then pass or not: `okWithAny`). */
    explain?(leaf: LeafRule, value: unknown, withAny: unknown, okWithAny: boolean): string | undefined;
  };
  /**
   * Start of the known history (ms since the epoch): the first event the server has for this user
   * (or tenant), or this browser's first run, whichever is older. A clause that an absence would
   * satisfy (`not` an event `within` a window, or an event count `within` a window that 0 satisfies,
   * such as `count: { lte: 0 }`) is false with `reason: 'history'` while `now - historySince` is
   * shorter than the window: "unused for 7 days" can't be proven by a user first seen a minute ago.
   * Absent: no such check (tests, previews over a known event list).
   */
  historySince?: number;
}

/**
 * `missing`: the context lacks the data; `invalid`: the rule itself is malformed (unvalidated input);
 * `history`: an absence over a window longer than the known history (see `historySince`).
 */
export type Reason = 'missing' | 'invalid' | 'history';

/** Which clause passed or failed, and with what value. */
export interface Explanation {
  ok: boolean;
  /** Human rendering: `at least 1 "feature.used" where feature = "reports" in the last 7d`. */
  clause: string;
  /** The value found: the count, the trait value, the path, the lifecycle state… For all/any: how many children passed. */
  actual?: unknown;
  /** What was required: `at least 1`, `in ["owner","admin"]`, `completed`… */
  expected?: string;
  reason?: Reason;
  /**
   * Why, in words, when the value alone doesn't say it: `history shorter than the window: first
   * seen 3 minutes ago`, or (server side) what counting unverified events too would have changed.
   */
  note?: string;
  /** A checklist clause with `accept: attested`: the items that counted only because a user attested them. */
  attested?: readonly string[];
  children?: Explanation[];
}
