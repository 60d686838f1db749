import type { Duration, LeafRule, Rule, Where } from './types.js';

/** Calls `f` on every leaf of a rule, depth first, left to right. */
export function walkRule(r: Rule, f: (leaf: LeafRule) => void): void {
  if ('all' in r || 'any' in r) for (const c of 'all' in r ? r.all : r.any) walkRule(c, f);
  else if ('not' in r) walkRule(r.not, f);
  else f(r);
}

/** One event clause a rule depends on: what a local rollup must count, and for how long. */
export interface EventRef {
  event: string;
  where?: Where;
  within?: Duration;
}

/**
 * The event clauses a rule depends on (deduplicated, in order): an incoming event that
 * `matchWhere`s one of them may change the rule's value. A ref with `within` may also change
 * as time passes (the window slides), without any new event.
 */
export function referencedEvents(rule: Rule): EventRef[] {
  const seen = new Map<string, EventRef>();
  walkRule(rule, (r) => {
    if ('event' in r) {
      const ref: EventRef = { event: r.event };
      if (r.where) ref.where = r.where;
      if (r.within) ref.within = r.within;
      seen.set(JSON.stringify(ref), ref);
    }
  });
  return [...seen.values()];
}

/**
 * Every id a rule refers to, per leaf clause kind, deduplicated, in order: for the config
 * validator to flag unknown ones. `lifecycle`: state names; `health`: band names; `page`: globs;
 * `items`: checklist id → the item ids named in `items:`.
 */
export interface RuleIds {
  event: string[];
  trait: string[];
  tenantTrait: string[];
  fact: string[];
  metric: string[];
  page: string[];
  lifecycle: string[];
  checklist: string[];
  recipe: string[];
  health: string[];
  items: Record<string, string[]>;
}

export function referencedIds(rule: Rule): RuleIds {
  const ids: RuleIds = {
    event: [],
    trait: [],
    tenantTrait: [],
    fact: [],
    metric: [],
    page: [],
    lifecycle: [],
    checklist: [],
    recipe: [],
    health: [],
    items: Object.create(null) as Record<string, string[]>,
  };
  const add = (list: string[], xs: unknown) => {
    for (const x of [xs].flat() as string[]) if (x !== undefined && !list.includes(x)) list.push(x);
  };
  walkRule(rule, (r) => {
    for (const k in r) {
      if (Object.hasOwn(ids, k) && k !== 'items')
        add(ids[k as Exclude<keyof RuleIds, 'items'>], k === 'health' ? (r as { health: { band?: unknown } }).health.band : r[k as keyof typeof r]);
    }
    if ('checklist' in r && r.items) add((ids.items[r.checklist] ??= []), r.items);
  });
  return ids;
}
