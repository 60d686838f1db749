// Deciding a rule: what each leaf reads and how it tests, and `matches` (no explanation). The
// browser's checklists need only this; the explanations are ./explain.ts.
import { durationMs } from './duration.js';
import { COMPARED, compare, get, glob } from './match.js';
import type { EventQuery, EventRule, LeafRule, Rule, RuleContext } from './types.js';

export const INVALID: unique symbol = Symbol('invalid');
const SOURCE = { trait: 'userTraits', tenantTrait: 'tenantTraits', fact: 'facts', metric: 'metrics' } as const;

/** Reads the value a leaf is about: the count, the trait, the path, the checklist state… `any`: counting unverified events too. */
export function fetch(r: LeafRule, ctx: RuleContext, any = false): unknown {
  const anyEv = any || (r as EventRule).evidence === 'any';
  if ('event' in r) {
    const q: EventQuery = { event: r.event, until: ctx.now };
    if (r.where) q.where = r.where;
    if (anyEv) q.evidence = 'any';
    if (r.within !== undefined) {
      const ms = durationMs(r.within);
      if (ms !== ms) return INVALID;
      q.since = ctx.now - ms;
    }
    return ctx.countEvents(q);
  }
  for (const k of COMPARED) {
    if (!(k in r)) continue;
    const wide = anyEv ? ctx.anyEvidence?.[SOURCE[k] as 'facts'] : undefined;
    return get(wide ?? ctx[SOURCE[k]], (r as unknown as Record<string, string>)[k] as string);
  }
  if ('page' in r) return ctx.page?.path;
  if ('lifecycle' in r) return ctx.lifecycle;
  if ('recipe' in r) return ctx.recipe?.(r.recipe);
  if ('health' in r) return ctx.health;
  if ('checklist' in r) {
    const c = ctx.checklist?.(r.checklist);
    if (!c) return c;
    const done = r.accept === 'attested' && c.attestedItems?.length ? [...c.completedItems, ...c.attestedItems] : c.completedItems;
    const k = r.items?.filter((i) => done.includes(i)).length;
    const whole = done === c.completedItems || !c.allItems ? c.completed : c.allItems.every((i) => done.includes(i));
    return (r.items ? k === r.items.length : whole) ? 'completed' : (r.items ? k : done.length) ? 'started' : 'not_started';
  }
  return INVALID;
}

/** Decides a leaf from its value. Traits compare even when absent; everything else needs data. */
export function test(r: LeafRule, v: unknown): boolean {
  if ('trait' in r || 'tenantTrait' in r) return compare(v, r);
  if (v == null || v === INVALID) return false;
  if ('event' in r) return compare(v, r.count ?? { gte: 1 });
  if ('page' in r) return typeof v === 'string' && glob(r.page, v);
  if ('lifecycle' in r) return [r.lifecycle].flat().includes(v as string);
  if ('checklist' in r || 'recipe' in r) return v === (r.state ?? 'completed');
  if ('health' in r) {
    const { band, score } = r.health;
    const h = v as { band: unknown; score: unknown };
    return (band === undefined || [band].flat().includes(h.band as string)) && (!score || compare(h.score, score));
  }
  return compare(v, r);
}

/**
 * An event clause over a window that an absence would satisfy (its count test passes at 0, or,
 * `negated`, fails at 0), evaluated while the known history is shorter than that window: the
 * note saying so (`first seen 3 minutes ago`), else undefined. Such a clause is false whatever the count.
 */
export function shortHistory(r: Rule, ctx: RuleContext, negated: boolean): string | undefined {
  const age = ctx.now - ctx.historySince!;
  if (!('event' in r) || !(age < durationMs(r.within)) || compare(0, r.count ?? { gte: 1 }) === negated) return undefined;
  const m = age / 60_000;
  const [x, unit] = m < 120 ? [m, 'minute'] : m < 2880 ? [m / 60, 'hour'] : [m / 1440, 'day'];
  const n = Math.floor(x);
  return `history shorter than the window: first seen ${n < 1 ? 'less than a minute' : `${n} ${unit}${n > 1 ? 's' : ''}`} ago`;
}

/**
 * Does the rule hold? Short-circuits and allocates no explanation: for hot paths. Always equals
 * `evaluate(rule, ctx).ok`.
 */
export const matches = (r: Rule, ctx: RuleContext): boolean =>
  'all' in r
    ? r.all.every((c) => matches(c, ctx))
    : 'any' in r
      ? r.any.some((c) => matches(c, ctx))
      : 'not' in r
        ? !shortHistory(r.not, ctx, true) && !matches(r.not, ctx)
        : !shortHistory(r, ctx, false) && test(r, fetch(r, ctx));
