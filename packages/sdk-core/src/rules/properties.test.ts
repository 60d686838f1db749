/**
 * Property tests of the rule language over random rules and random contexts (fast-check).
 * The in-memory context (`memoryContext`) is the reference `countEvents`: `since <= ts <= until`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RuleSchema } from '../schema/rule.js';
import { describeRule } from './describe.js';
import { parseDuration } from './duration.js';
import { evaluate, matches } from './evaluate.js';
import { referencedEvents } from './events.js';
import { OPS, matchWhere } from './match.js';
import { memoryContext, type MemoryEvent } from './memory.js';
import type { ChecklistProgress, Comparison, EventRule, NumberComparison, ProgressState, Rule, RuleContext } from './types.js';

const NOW = Date.UTC(2025, 5, 1);
const DAY = 86_400_000;
const EVENTS = ['feature.used', 'error.raised', 'integration.state'];
const STATES = ['onboarding', 'activated', 'adopted'];
const ITEMS = ['sso', 'team', 'first-report'];
const PROGRESS: ProgressState[] = ['completed', 'started', 'not_started'];
const DURATIONS = ['15m', '6h', '1d', '3d', '7d', '2w', '30d'] as const;
const NUM_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte'] as const;

// ---- rules ------------------------------------------------------------------------------------
const scalar = fc.oneof(fc.constantFrom('x', 'y', 'reports'), fc.integer({ min: 0, max: 5 }), fc.boolean());
const ordered = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom('x', 'y'));
const opValue: Record<(typeof OPS)[number], fc.Arbitrary<unknown>> = {
  eq: scalar,
  ne: scalar,
  gt: ordered,
  gte: ordered,
  lt: ordered,
  lte: ordered,
  in: fc.array(scalar, { maxLength: 3 }),
  nin: fc.array(scalar, { maxLength: 3 }),
  exists: fc.boolean(),
  glob: fc.constantFrom('*', 'x*', '**', '/reports/**', 're*'),
};
/** One or two operators, so that comparisons pass often enough to be interesting. */
const ops = <K extends string>(keys: readonly K[], value: (k: K) => fc.Arbitrary<unknown>) =>
  fc
    .uniqueArray(fc.constantFrom(...keys), { minLength: 1, maxLength: 2 })
    .chain((ks) => fc.record(Object.fromEntries(ks.map((k) => [k, value(k)])) as Record<K, fc.Arbitrary<unknown>>));
const comparison = ops(OPS, (k) => opValue[k]) as fc.Arbitrary<Comparison>;
const count = ops(NUM_OPS, () => fc.integer({ min: 0, max: 4 })) as fc.Arbitrary<NumberComparison>;
const where = fc.dictionary(fc.constantFrom('feature', 'size', 'user.plan', 'ref'), fc.oneof(scalar, comparison), { maxKeys: 2 });
const within = fc.constantFrom(...DURATIONS);

const eventRule: fc.Arbitrary<EventRule> = fc.record({ event: fc.constantFrom(...EVENTS), where, count, within }, { requiredKeys: ['event'] });
const compared = (kind: string, names: string[]) => fc.tuple(fc.constantFrom(...names), comparison).map(([n, c]) => ({ [kind]: n, ...c }) as Rule);
const leaf: fc.Arbitrary<Rule> = fc.oneof(
  { arbitrary: eventRule, weight: 4 },
  compared('trait', ['role', 'seats', 'profile.country', 'absent']),
  compared('tenantTrait', ['plan', 'absent']),
  compared('fact', ['active_users_7d', 'absent']),
  compared('metric', ['dau_over_wau', 'absent']),
  fc.record({ page: fc.constantFrom('/reports/**', '/reports/*', '/**', '/settings/sso', '/a/**/b') }),
  fc.record({ lifecycle: fc.oneof(fc.constantFrom(...STATES), fc.uniqueArray(fc.constantFrom(...STATES), { minLength: 1 })) }),
  fc.record(
    {
      checklist: fc.constantFrom('onboarding', 'ghost'),
      items: fc.uniqueArray(fc.constantFrom(...ITEMS), { minLength: 1 }),
      state: fc.constantFrom(...PROGRESS),
    },
    { requiredKeys: ['checklist'] },
  ),
  fc.record({ recipe: fc.constantFrom('first-report', 'ghost'), state: fc.constantFrom(...PROGRESS) }, { requiredKeys: ['recipe'] }),
  fc.record({
    health: fc
      .record(
        {
          band: fc.oneof(fc.constantFrom('healthy', 'at-risk'), fc.uniqueArray(fc.constantFrom('healthy', 'watch', 'at-risk'), { minLength: 1 })),
          score: count,
        },
        { requiredKeys: [] },
      )
      .filter((h) => Object.keys(h).length > 0),
  }),
);
const { rule } = fc.letrec<{ rule: Rule; all: Rule; any: Rule; not: Rule }>((tie) => ({
  rule: fc.oneof({ maxDepth: 4, depthSize: 'small' }, leaf, tie('all'), tie('any'), tie('not')),
  all: fc.record({ all: fc.array(tie('rule'), { maxLength: 3 }) }),
  any: fc.record({ any: fc.array(tie('rule'), { maxLength: 3 }) }),
  not: fc.record({ not: tie('rule') }),
}));

// ---- contexts ---------------------------------------------------------------------------------
const event: fc.Arbitrary<MemoryEvent> = fc.record({
  event: fc.constantFrom(...EVENTS),
  ts: fc.integer({ min: NOW - 40 * DAY, max: NOW + DAY }),
  properties: fc.record(
    { feature: fc.constantFrom('x', 'y', 'reports'), size: fc.integer({ min: 0, max: 5 }), user: fc.record({ plan: fc.constantFrom('x', 'y') }), ref: scalar },
    { requiredKeys: [] },
  ),
});
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const progress: fc.Arbitrary<ChecklistProgress> = fc.record({ completedItems: fc.subarray(ITEMS), completed: fc.boolean() });
const parts = fc.record({
  events: fc.array(event, { maxLength: 12 }),
  userTraits: fc.record(
    { role: scalar, seats: fc.integer({ min: 0, max: 5 }), profile: fc.record({ country: fc.constantFrom('x', 'FR') }) },
    { requiredKeys: [] },
  ),
  tenantTraits: maybe(fc.record({ plan: scalar }, { requiredKeys: [] })),
  facts: maybe(fc.record({ active_users_7d: fc.integer({ min: 0, max: 5 }) }, { requiredKeys: [] })),
  metrics: maybe(fc.record({ dau_over_wau: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom('x')) }, { requiredKeys: [] })),
  page: maybe(fc.record({ path: fc.constantFrom('/reports', '/reports/1', '/reports/1/edit', '/settings/sso', '/a/b', '/a/x/y/b') })),
  lifecycle: maybe(fc.constantFrom(...STATES)),
  onboarding: maybe(progress),
  recipe: maybe(fc.constantFrom(...PROGRESS)),
  health: maybe(fc.record({ score: fc.integer({ min: 0, max: 5 }), band: fc.constantFrom('healthy', 'watch', 'at-risk') })),
});
type Parts = typeof parts extends fc.Arbitrary<infer P> ? P : never;
const build = ({ events, onboarding, recipe, ...rest }: Parts, extra: MemoryEvent[] = []): RuleContext =>
  memoryContext([...events, ...extra], {
    ...rest,
    now: NOW,
    checklist: (id) => (id === 'onboarding' ? onboarding : undefined),
    recipe: (id) => (id === 'first-report' ? recipe : undefined),
  });
const ctx = parts.map((p) => build(p));

const RUNS = { numRuns: 400 };

describe('rule language properties', () => {
  it('(a) matches(rule, ctx) === evaluate(rule, ctx).ok', () => {
    fc.assert(
      fc.property(rule, ctx, (r, c) => matches(r, c) === evaluate(r, c).ok),
      RUNS,
    );
  });

  it('(a) the generators reach both outcomes (the properties are not vacuous)', () => {
    const seen = new Set(fc.sample(fc.tuple(rule, ctx), 300).map(([r, c]) => matches(r, c)));
    expect(seen).toEqual(new Set([true, false]));
  });

  it('(b) De Morgan: not(all(a, b)) ≡ any(not a, not b) and not(any(a, b)) ≡ all(not a, not b)', () => {
    fc.assert(
      fc.property(rule, rule, ctx, (a, b, c) => {
        const l1 = { not: { all: [a, b] } };
        const r1 = { any: [{ not: a }, { not: b }] };
        const l2 = { not: { any: [a, b] } };
        const r2 = { all: [{ not: a }, { not: b }] };
        expect(evaluate(l1, c).ok).toBe(evaluate(r1, c).ok);
        expect(matches(l1, c)).toBe(matches(r1, c));
        expect(evaluate(l2, c).ok).toBe(evaluate(r2, c).ok);
        expect(matches(l2, c)).toBe(matches(r2, c));
      }),
      RUNS,
    );
  });

  it('(c) window edges: exactly at now - window counts (inclusive), 1 ms inside counts, 1 ms outside does not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 }), fc.constantFrom('m', 'h', 'd', 'w'), fc.integer({ min: 0, max: 4e12 }), (n, unit, now) => {
        const within = `${n}${unit}` as const;
        const start = now - parseDuration(within);
        const at = (ts: number, tag: string): MemoryEvent => ({ event: 'e', ts, properties: { tag } });
        const c = memoryContext([at(start, 'edge'), at(start + 1, 'inside'), at(start - 1, 'outside'), at(now, 'now'), at(now + 1, 'future')], { now });
        const counted = (tag: string) => evaluate({ event: 'e', where: { tag }, within }, c);
        expect(counted('edge')).toMatchObject({ ok: true, actual: 1 });
        expect(counted('inside')).toMatchObject({ ok: true, actual: 1 });
        expect(counted('outside')).toMatchObject({ ok: false, actual: 0 });
        expect(counted('now')).toMatchObject({ ok: true, actual: 1 });
        expect(counted('future')).toMatchObject({ ok: false, actual: 0 });
        expect(matches({ not: { event: 'e', where: { tag: 'edge' }, within } }, c)).toBe(false);
        expect(matches({ not: { event: 'e', where: { tag: 'outside' }, within } }, c)).toBe(true);
      }),
      RUNS,
    );
  });

  it('(c) within monotonicity: a larger window never counts fewer events; all time counts the most', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), within, within, where, (events, d1, d2, w) => {
        const c = memoryContext(events, { now: NOW });
        const [small, large] = parseDuration(d1) <= parseDuration(d2) ? [d1, d2] : [d2, d1];
        const n = (within?: (typeof DURATIONS)[number]) =>
          evaluate(within ? { event: 'feature.used', where: w, within } : { event: 'feature.used', where: w }, c).actual as number;
        expect(n(small)).toBeLessThanOrEqual(n(large));
        expect(n(large)).toBeLessThanOrEqual(n());
      }),
      RUNS,
    );
  });

  it('(d) not of an event-count rule flips exactly, and carries the same count', () => {
    fc.assert(
      fc.property(eventRule, ctx, (r, c) => {
        const yes = evaluate(r, c);
        const no = evaluate({ not: r }, c);
        expect(no.ok).toBe(!yes.ok);
        expect(no.actual).toBe(yes.actual);
        expect(matches({ not: r }, c)).toBe(!matches(r, c));
        expect(matches({ not: { not: r } }, c)).toBe(matches(r, c));
      }),
      RUNS,
    );
  });

  it('(e) the schema accepts every generated rule unchanged; describeRule and evaluate never throw', () => {
    fc.assert(
      fc.property(rule, ctx, (r, c) => {
        const parsed = RuleSchema.safeParse(r);
        if (!parsed.success) throw new Error(JSON.stringify(parsed.error.issues));
        expect(parsed.data).toEqual(r);
        const text = describeRule(r);
        expect(text.length).toBeGreaterThan(0);
        expect(text).not.toMatch(/undefined|\[object Object\]|NaN/);
        expect(() => evaluate(r, c)).not.toThrow();
      }),
      RUNS,
    );
  });

  it('(e) the schema never throws on junk: any key of the language with any value, nested', () => {
    const KEYS = [
      'all',
      'any',
      'not',
      'event',
      'where',
      'count',
      'within',
      'trait',
      'fact',
      'eq',
      'gte',
      'in',
      'exists',
      'glob',
      'page',
      'lifecycle',
      'checklist',
      'items',
      'state',
      'recipe',
      'health',
      'band',
      'score',
      'feature',
      'bogus',
    ];
    const { junk } = fc.letrec<{ junk: unknown }>((tie) => ({
      junk: fc.oneof(
        { maxDepth: 4 },
        fc.anything(),
        fc.dictionary(fc.constantFrom(...KEYS), tie('junk'), { maxKeys: 4 }),
        fc.array(tie('junk'), { maxLength: 3 }),
        rule,
      ),
    }));
    fc.assert(
      fc.property(junk, (v) => {
        const r = RuleSchema.safeParse(v);
        for (const i of r.error?.issues ?? []) expect(i.message).not.toMatch(/^Invalid input$/);
      }),
      { numRuns: 1500 },
    );
  });

  it('referencedEvents is a sound trigger list: an event matching none of them never changes the result', () => {
    fc.assert(
      fc.property(rule, parts, event, (r, p, extra) => {
        const refs = referencedEvents(r);
        fc.pre(!refs.some((ref) => ref.event === extra.event && matchWhere(ref.where, extra.properties)));
        expect(matches(r, build(p, [extra]))).toBe(matches(r, build(p)));
      }),
      RUNS,
    );
  });
});
