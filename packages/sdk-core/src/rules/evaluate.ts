import { describeLeaf, describeRule } from './describe.js';
import { durationMs } from './duration.js';
import { COMPARED, compare, get, glob } from './match.js';
import type { EventQuery, EventRule, Explanation, LeafRule, Rule, RuleContext } from './types.js';

const INVALID: unique symbol = Symbol('invalid');
const SOURCE = { trait: 'userTraits', tenantTrait: 'tenantTraits', fact: 'facts', metric: 'metrics' } as const;

/** Reads the value a leaf is about: the count, the trait, the path, the checklist state… `any`: counting unverified events too. */
function fetch(r: LeafRule, ctx: RuleContext, any = false): unknown {
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
    return (r.items ? k === r.items.length : whole) ? 'completed'
      : (r.items ? k : done.length) ? 'started' : 'not_started';
  }
  return INVALID;
}

/** Decides a leaf from its value. Traits compare even when absent; everything else needs data. */
function test(r: LeafRule, v: unknown): boolean {
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
function shortHistory(r: Rule, ctx: RuleContext, negated: boolean): string | undefined {
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
  'all' in r ? r.all.every((c) => matches(c, ctx))
  : 'any' in r ? r.any.some((c) => matches(c, ctx))
  : 'not' in r ? !shortHistory(r.not, ctx, true) && !matches(r.not, ctx)
  : !shortHistory(r, ctx, false) && test(r, fetch(r, ctx));

/**
 * Evaluates every clause (no short-circuit) and returns the tree of which passed or failed and
 * with what value. all/any nodes report `actual` = children passing; `not` of a leaf carries the
 * leaf's value as `actual`, and `not` of a one-operator event count reads as the opposite count
 * (`no "x" in the last 7d`, expected `no`).
 */
export function evaluate(r: Rule, ctx: RuleContext): Explanation {
  if ('all' in r || 'any' in r) {
    const all = 'all' in r;
    const children = (all ? r.all : r.any).map((c) => evaluate(c, ctx));
    const n = children.filter((c) => c.ok).length;
    const len = children.length;
    return { ok: all ? n === len : n > 0, clause: `${all ? 'all' : 'any'} of ${len}`, actual: n, expected: all ? `${len}` : 'at least 1', children };
  }
  if ('not' in r) {
    const c = evaluate(r.not, ctx);
    const leaf = describeLeaf(r);
    const short = shortHistory(r.not, ctx, true);
    const e: Explanation = { ok: !short && !c.ok, clause: leaf?.[0] ?? describeRule(r), children: [c] };
    if ('actual' in c && !('all' in r.not || 'any' in r.not)) e.actual = c.actual;
    if (leaf) e.expected = leaf[1];
    if (short) Object.assign(e, { reason: 'history', note: short });
    return e;
  }
  const v = fetch(r, ctx);
  const short = shortHistory(r, ctx, false);
  const ok = !short && test(r, v);
  const [clause, expected] = describeLeaf(r) ?? ['', ''];
  const e: Explanation = { ok, clause, expected };
  if (v !== undefined && v !== INVALID) e.actual = v;
  if (short) Object.assign(e, { reason: 'history', note: short });
  else if (!ok && (v == null || v === INVALID)) e.reason = v === INVALID ? 'invalid' : 'missing';
  if ('checklist' in r && r.accept) {
    const used = ctx.checklist?.(r.checklist)?.attestedItems?.filter((i) => !r.items || r.items.includes(i));
    if (used?.length) e.attested = used;
  }
  // Server side: say when leaving unverified events out made a difference.
  const x = ctx.anyEvidence?.explain;
  if (x && !short && (r as EventRule).evidence !== 'any') {
    const w = fetch(r, ctx, true);
    if (w !== v) e.note = x(r, v, w, test(r, w));
  }
  return e;
}
