import { COMPARED, OPS } from './match.js';
import type { Comparison, NumberComparison, Rule, Where } from './types.js';

const q = (v: unknown): string => JSON.stringify(v) ?? String(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

const SYM: Record<string, string> = { eq: '=', ne: '!=', gt: '>', gte: '>=', lt: '<', lte: '<=', in: 'in', nin: 'not in', glob: 'matches' };
const LABEL = { trait: 'user', tenantTrait: 'tenant', fact: 'fact', metric: 'metric' };
const CNT = { eq: 'exactly', ne: 'not exactly', gt: 'more than', gte: 'at least', lt: 'fewer than', lte: 'at most' } as const;
const NEG = { eq: 'ne', ne: 'eq', gt: 'lte', gte: 'lt', lt: 'gte', lte: 'gt' } as const;
type NumOp = keyof typeof CNT;
const numOps = (c: NumberComparison) => (Object.keys(CNT) as NumOp[]).filter((k) => c[k] !== undefined);

/** `>= 3 and <= 5`, `in ["owner","admin"]`, `is set`. */
export const describeComparison = (c: Comparison): string =>
  OPS.filter((k) => c[k] !== undefined)
    .map((k) => (k === 'exists' ? (c.exists ? 'is set' : 'is not set') : `${SYM[k]} ${q(c[k])}`))
    .join(' and ');

/** `at least 1`, `no`, `exactly 2`, `at least 2 and at most 5`. */
export function describeCount(c: NumberComparison = { gte: 1 }): string {
  const ks = numOps(c);
  const [k] = ks;
  if (ks.length === 1 && k && c[k] === (k === 'lt' ? 1 : k === 'lte' || k === 'eq' ? 0 : NaN)) return 'no';
  return ks.map((k) => `${CNT[k]} ${c[k]}`).join(' and ') || 'any number of';
}

const where = (w: Where) =>
  Object.entries(w)
    .map(([k, v]) => `${k} ${isObj(v) ? describeComparison(v) : '= ' + q(v)}`)
    .join(' and ');
const state = (s = 'completed') => s.replace('_', ' ');

/**
 * A leaf clause (or `not` of a single-operator event count, rendered as the opposite count) as
 * `[full text, predicate]`: `['at least 1 "x" in the last 7d', 'at least 1']`. `undefined` for
 * all/any/other nots.
 */
export function describeLeaf(r: Rule): [clause: string, expected: string] | undefined {
  if ('all' in r || 'any' in r) return undefined;
  if ('not' in r) {
    const c = r.not;
    const ks = 'event' in c ? numOps(c.count ?? { gte: 1 }) : [];
    const [k] = ks;
    return 'event' in c && ks.length === 1 && k ? describeLeaf({ ...c, count: { [NEG[k]]: (c.count ?? { gte: 1 })[k] } }) : undefined;
  }
  if ('event' in r) {
    const p = describeCount(r.count);
    const w = r.where && where(r.where);
    return [`${p} ${q(r.event)}${w ? ' where ' + w : ''}${r.within ? ' in the last ' + r.within : ''}`, p];
  }
  const k = COMPARED.find((k) => k in r);
  const [s, p]: [string, string] = k
    ? [`${LABEL[k]} ${(r as unknown as Record<string, string>)[k]}`, describeComparison(r as Comparison)]
    : 'page' in r
      ? ['page', `matches ${q(r.page)}`]
      : 'lifecycle' in r
        ? ['lifecycle', describeComparison(typeof r.lifecycle === 'string' ? { eq: r.lifecycle } : { in: r.lifecycle })]
        : 'checklist' in r
          ? [
              `${r.items ? `items ${q(r.items)} of ` : ''}checklist ${q(r.checklist)}${r.accept === 'attested' ? ' (attested items accepted)' : ''}`,
              state(r.state),
            ]
          : 'recipe' in r
            ? [`recipe ${q(r.recipe)}`, state(r.state)]
            : 'health' in r
              ? [
                  'health',
                  [
                    r.health.band !== undefined &&
                      `band ${describeComparison(typeof r.health.band === 'string' ? { eq: r.health.band } : { in: r.health.band })}`,
                    r.health.score && `score ${describeComparison(r.health.score)}`,
                  ]
                    .filter(Boolean)
                    .join(' and '),
                ]
              : ['unknown clause', q(Object.keys(r))];
  return [`${s} ${p}`, p];
}

const group = (rs: readonly Rule[], sep: string, empty: string) =>
  rs.map((c) => ('all' in c || 'any' in c ? `(${describeRule(c)})` : describeRule(c))).join(sep) || empty;

/**
 * Human rendering of a rule: `at least 1 "feature.used" where feature = "reports" in the last 7d`,
 * `no "feature.used" where feature = "reports.create" in the last 7d` (for `not` of that),
 * `lifecycle in ["activated","adopted"] and (user role = "owner" or tenant plan = "pro")`.
 * `all: []` reads `always`, `any: []` reads `never`.
 */
export function describeRule(r: Rule): string {
  return 'all' in r
    ? group(r.all, ' and ', 'always')
    : 'any' in r
      ? group(r.any, ' or ', 'never')
      : (describeLeaf(r)?.[0] ?? `not (${describeRule((r as { not: Rule }).not)})`);
}
