import { describe, expect, it } from 'vitest';
import { evaluate, matches } from './evaluate.js';
import { memoryContext, type MemoryEvent } from './memory.js';
import type { Explanation, Rule, RuleContext } from './types.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2025, 0, 31, 12);

const events: MemoryEvent[] = [
  { event: 'feature.used', ts: NOW - 1 * DAY, properties: { feature: 'reports', size: 4 } },
  { event: 'feature.used', ts: NOW - 3 * DAY, properties: { feature: 'reports', size: 1 } },
  { event: 'feature.used', ts: NOW - 20 * DAY, properties: { feature: 'dataset.ingest', user: { plan: 'pro' } } },
  { event: 'error.raised', ts: NOW - 2 * 3_600_000, properties: { area: 'imports' } },
  { event: 'error.raised', ts: NOW - 5 * 3_600_000, properties: { area: 'imports' } },
];

const ctx: RuleContext = memoryContext(events, {
  now: NOW,
  userTraits: { role: 'admin', seats: 3, profile: { country: 'FR' } },
  tenantTraits: { plan: 'enterprise' },
  facts: { active_users_7d: 6 },
  metrics: { dau_over_wau: 0.25 },
  page: { path: '/reports/42/edit' },
  lifecycle: 'activated',
  checklist: (id) =>
    id === 'onboarding'
      ? { completedItems: ['sso', 'first-dataset'], completed: false }
      : id === 'done'
        ? { completedItems: ['a', 'b'], completed: true }
        : id === 'fresh'
          ? { completedItems: [], completed: false }
          : undefined,
  recipe: (id) => (id === 'first-report' ? 'started' : id === 'fix-sso' ? 'completed' : undefined),
  health: { score: 35, band: 'at-risk' },
});
/** A context with nothing but the clock and no events. */
const bare: RuleContext = { now: NOW, countEvents: () => 0 };

/** Evaluates and checks `matches` agrees: every unit case doubles as a consistency check. */
function ev(rule: Rule, c: RuleContext = ctx): Explanation {
  const e = evaluate(rule, c);
  expect(matches(rule, c)).toBe(e.ok);
  return e;
}

describe('event clauses', () => {
  it('default count is at least 1, all time', () => {
    expect(ev({ event: 'feature.used', where: { feature: 'dataset.ingest' } })).toEqual({
      ok: true,
      clause: 'at least 1 "feature.used" where feature = "dataset.ingest"',
      expected: 'at least 1',
      actual: 1,
    });
  });

  it('within limits the window; the count is the actual value', () => {
    expect(ev({ event: 'feature.used', where: { feature: 'dataset.ingest' }, within: '7d' })).toEqual({
      ok: false,
      clause: 'at least 1 "feature.used" where feature = "dataset.ingest" in the last 7d',
      expected: 'at least 1',
      actual: 0,
    });
    expect(ev({ event: 'feature.used', where: { feature: 'reports' }, within: '2d' })).toMatchObject({ ok: true, actual: 1 });
    expect(ev({ event: 'feature.used', where: { feature: 'reports' }, within: '1w' })).toMatchObject({ ok: true, actual: 2 });
  });

  it('count operators, where comparisons and dotted paths', () => {
    expect(ev({ event: 'error.raised', where: { area: 'imports' }, count: { gte: 3 }, within: '1d' })).toEqual({
      ok: false,
      clause: 'at least 3 "error.raised" where area = "imports" in the last 1d',
      expected: 'at least 3',
      actual: 2,
    });
    expect(ev({ event: 'error.raised', count: { eq: 2 } })).toMatchObject({ ok: true, clause: 'exactly 2 "error.raised"', actual: 2 });
    expect(ev({ event: 'error.raised', count: { lte: 0 }, within: '1h' })).toMatchObject({ ok: true, clause: 'no "error.raised" in the last 1h', actual: 0 });
    expect(ev({ event: 'feature.used', where: { size: { gte: 3 } } })).toMatchObject({
      ok: true,
      clause: 'at least 1 "feature.used" where size >= 3',
      actual: 1,
    });
    expect(ev({ event: 'feature.used', where: { 'user.plan': 'pro' } })).toMatchObject({ ok: true, actual: 1 });
    expect(ev({ event: 'feature.used', count: { gt: 1, lt: 3 } })).toMatchObject({
      ok: false,
      clause: 'more than 1 and fewer than 3 "feature.used"',
      actual: 3,
    });
  });

  it('passes the window to countEvents: since = now - within, until = now', () => {
    const seen: unknown[] = [];
    const spy: RuleContext = { now: 1_000_000_000, countEvents: (q) => (seen.push(q), 0) };
    evaluate({ event: 'x', where: { a: 1 }, within: '15m' }, spy);
    evaluate({ event: 'y' }, spy);
    expect(seen).toEqual([
      { event: 'x', where: { a: 1 }, since: 1_000_000_000 - 15 * 60_000, until: 1_000_000_000 },
      { event: 'y', until: 1_000_000_000 },
    ]);
  });

  it('"unused for 7 days" is not + event, rendered as "no …" with the count found', () => {
    const rule: Rule = { not: { event: 'feature.used', where: { feature: 'reports' }, within: '7d' } };
    expect(ev(rule)).toEqual({
      ok: false,
      clause: 'no "feature.used" where feature = "reports" in the last 7d',
      expected: 'no',
      actual: 2,
      children: [{ ok: true, clause: 'at least 1 "feature.used" where feature = "reports" in the last 7d', expected: 'at least 1', actual: 2 }],
    });
    expect(ev({ not: { event: 'feature.used', where: { feature: 'reports.create' }, within: '7d' } })).toMatchObject({
      ok: true,
      clause: 'no "feature.used" where feature = "reports.create" in the last 7d',
      actual: 0,
    });
  });

  it('a malformed window is false with reason invalid, never a throw', () => {
    const bad = { event: 'x', within: '7 days' } as unknown as Rule;
    expect(ev(bad)).toEqual({ ok: false, clause: 'at least 1 "x" in the last 7 days', expected: 'at least 1', reason: 'invalid' });
  });
});

describe('traits', () => {
  it('user trait with in, dotted path, numeric comparison', () => {
    expect(ev({ trait: 'role', in: ['owner', 'admin'] })).toEqual({
      ok: true,
      clause: 'user role in ["owner","admin"]',
      expected: 'in ["owner","admin"]',
      actual: 'admin',
    });
    expect(ev({ trait: 'profile.country', eq: 'DE' })).toEqual({ ok: false, clause: 'user profile.country = "DE"', expected: '= "DE"', actual: 'FR' });
    expect(ev({ trait: 'seats', gte: 2, lt: 10 })).toMatchObject({ ok: true, clause: 'user seats >= 2 and < 10', actual: 3 });
  });

  it('an absent trait is missing when it fails, and still passes exists: false / ne', () => {
    expect(ev({ trait: 'department', eq: 'sales' })).toEqual({
      ok: false,
      clause: 'user department = "sales"',
      expected: '= "sales"',
      reason: 'missing',
    });
    expect(ev({ trait: 'department', exists: false })).toEqual({ ok: true, clause: 'user department is not set', expected: 'is not set' });
    expect(ev({ trait: 'department', ne: 'sales' })).toMatchObject({ ok: true });
    expect(ev({ trait: 'role', eq: 'admin' }, bare)).toMatchObject({ ok: false, reason: 'missing' });
  });

  it('tenant trait', () => {
    expect(ev({ tenantTrait: 'plan', eq: 'enterprise' })).toEqual({
      ok: true,
      clause: 'tenant plan = "enterprise"',
      expected: '= "enterprise"',
      actual: 'enterprise',
    });
    expect(ev({ tenantTrait: 'plan', ne: 'enterprise' })).toMatchObject({ ok: false, actual: 'enterprise' });
  });
});

describe('page', () => {
  it('glob on the current path', () => {
    expect(ev({ page: '/reports/**' })).toEqual({
      ok: true,
      clause: 'page matches "/reports/**"',
      expected: 'matches "/reports/**"',
      actual: '/reports/42/edit',
    });
    expect(ev({ page: '/reports/*' })).toMatchObject({ ok: false, actual: '/reports/42/edit' });
    expect(ev({ page: '/reports/*/edit' })).toMatchObject({ ok: true });
  });
  it('no page (server side) is missing', () => {
    expect(ev({ page: '/**' }, bare)).toEqual({ ok: false, clause: 'page matches "/**"', expected: 'matches "/**"', reason: 'missing' });
  });
});

describe('lifecycle', () => {
  it('one state or a list', () => {
    expect(ev({ lifecycle: ['activated', 'adopted'] })).toEqual({
      ok: true,
      clause: 'lifecycle in ["activated","adopted"]',
      expected: 'in ["activated","adopted"]',
      actual: 'activated',
    });
    expect(ev({ lifecycle: 'adopted' })).toEqual({ ok: false, clause: 'lifecycle = "adopted"', expected: '= "adopted"', actual: 'activated' });
    expect(ev({ lifecycle: 'adopted' }, bare)).toMatchObject({ ok: false, reason: 'missing' });
  });
});

describe('checklist', () => {
  it('listed items must all be complete', () => {
    expect(ev({ checklist: 'onboarding', items: ['sso', 'first-dataset'] })).toEqual({
      ok: true,
      clause: 'items ["sso","first-dataset"] of checklist "onboarding" completed',
      expected: 'completed',
      actual: 'completed',
    });
    expect(ev({ checklist: 'onboarding', items: ['sso', 'first-integration', 'first-dataset'] })).toMatchObject({ ok: false, actual: 'started' });
    expect(ev({ checklist: 'onboarding', items: ['sso', 'first-integration'], state: 'started' })).toMatchObject({ ok: true });
    expect(ev({ checklist: 'onboarding', items: ['team', 'review'], state: 'not_started' })).toMatchObject({
      ok: true,
      clause: 'items ["team","review"] of checklist "onboarding" not started',
      actual: 'not_started',
    });
  });
  it('no items: the whole checklist', () => {
    expect(ev({ checklist: 'onboarding' })).toEqual({ ok: false, clause: 'checklist "onboarding" completed', expected: 'completed', actual: 'started' });
    expect(ev({ checklist: 'done', state: 'completed' })).toMatchObject({ ok: true, actual: 'completed' });
    expect(ev({ checklist: 'done', state: 'started' })).toMatchObject({ ok: false });
    expect(ev({ checklist: 'fresh', state: 'not_started' })).toMatchObject({ ok: true, actual: 'not_started' });
  });
  it('an unknown checklist is missing', () => {
    expect(ev({ checklist: 'nope', state: 'not_started' })).toEqual({
      ok: false,
      clause: 'checklist "nope" not started',
      expected: 'not started',
      reason: 'missing',
    });
    expect(ev({ checklist: 'onboarding' }, bare)).toMatchObject({ ok: false, reason: 'missing' });
  });
});

describe('recipe', () => {
  it('state equality, default completed', () => {
    expect(ev({ recipe: 'fix-sso' })).toEqual({ ok: true, clause: 'recipe "fix-sso" completed', expected: 'completed', actual: 'completed' });
    expect(ev({ recipe: 'first-report', state: 'started' })).toMatchObject({ ok: true, actual: 'started' });
    expect(ev({ recipe: 'first-report' })).toMatchObject({ ok: false, actual: 'started' });
    expect(ev({ recipe: 'ghost', state: 'not_started' })).toMatchObject({ ok: false, reason: 'missing' });
  });
});

describe('facts, metrics and health (server data)', () => {
  it('fact and metric comparisons', () => {
    expect(ev({ fact: 'active_users_7d', gte: 5 })).toEqual({ ok: true, clause: 'fact active_users_7d >= 5', expected: '>= 5', actual: 6 });
    expect(ev({ metric: 'dau_over_wau', gte: 0.3 })).toEqual({ ok: false, clause: 'metric dau_over_wau >= 0.3', expected: '>= 0.3', actual: 0.25 });
  });
  it('an undelivered fact or metric is false with reason missing, even for ne / exists: false', () => {
    expect(ev({ fact: 'days_to_renewal', lte: 120 })).toEqual({ ok: false, clause: 'fact days_to_renewal <= 120', expected: '<= 120', reason: 'missing' });
    expect(ev({ fact: 'days_to_renewal', ne: 3 })).toMatchObject({ ok: false, reason: 'missing' });
    expect(ev({ metric: 'dau_over_wau', gte: 0 }, bare)).toMatchObject({ ok: false, reason: 'missing' });
  });
  it('health band and score', () => {
    expect(ev({ health: { band: 'at-risk' } })).toEqual({
      ok: true,
      clause: 'health band = "at-risk"',
      expected: 'band = "at-risk"',
      actual: { score: 35, band: 'at-risk' },
    });
    expect(ev({ health: { score: { lt: 40 } } })).toMatchObject({ ok: true, clause: 'health score < 40' });
    expect(ev({ health: { band: ['healthy', 'watch'], score: { lt: 40 } } })).toMatchObject({
      ok: false,
      clause: 'health band in ["healthy","watch"] and score < 40',
    });
    expect(ev({ health: { band: 'at-risk' } }, bare)).toMatchObject({ ok: false, reason: 'missing' });
  });
});

describe('all / any / not', () => {
  it('empty all is true, empty any is false', () => {
    expect(ev({ all: [] })).toEqual({ ok: true, clause: 'all of 0', actual: 0, expected: '0', children: [] });
    expect(ev({ any: [] })).toEqual({ ok: false, clause: 'any of 0', actual: 0, expected: 'at least 1', children: [] });
  });

  it('the acme reports-unused nudge: every child is explained, none skipped', () => {
    const rule: Rule = {
      all: [
        { lifecycle: ['activated', 'adopted'] },
        { event: 'feature.used', where: { feature: 'dataset.ingest' }, within: '30d' },
        { not: { event: 'feature.used', where: { feature: 'reports' }, within: '7d' } },
      ],
    };
    const e = ev(rule);
    expect(e).toMatchObject({ ok: false, clause: 'all of 3', actual: 2, expected: '3' });
    expect(e.children?.map((c) => [c.ok, c.clause, c.actual])).toEqual([
      [true, 'lifecycle in ["activated","adopted"]', 'activated'],
      [true, 'at least 1 "feature.used" where feature = "dataset.ingest" in the last 30d', 1],
      [false, 'no "feature.used" where feature = "reports" in the last 7d', 2],
    ]);
  });

  it('any passes with one child, reports how many passed', () => {
    expect(
      ev({
        any: [
          { trait: 'role', eq: 'owner' },
          { tenantTrait: 'plan', eq: 'enterprise' },
          { fact: 'x', gte: 1 },
        ],
      }),
    ).toMatchObject({
      ok: true,
      clause: 'any of 3',
      actual: 1,
      expected: 'at least 1',
      children: [{ ok: false }, { ok: true }, { ok: false, reason: 'missing' }],
    });
  });

  it('not of a non-event clause', () => {
    expect(ev({ not: { lifecycle: 'activated' } })).toEqual({
      ok: false,
      clause: 'not (lifecycle = "activated")',
      actual: 'activated',
      children: [{ ok: true, clause: 'lifecycle = "activated"', expected: '= "activated"', actual: 'activated' }],
    });
    // two-valued logic: not of a missing clause is true, and the missing leaf stays visible
    expect(ev({ not: { fact: 'ghost', gte: 1 } })).toMatchObject({ ok: true, children: [{ ok: false, reason: 'missing' }] });
    expect(ev({ not: { any: [{ lifecycle: 'activated' }] } })).not.toHaveProperty('actual');
    expect(ev({ not: { event: 'feature.used', count: { gte: 1, lte: 2 } } })).toMatchObject({
      ok: true,
      clause: 'not (at least 1 and at most 2 "feature.used")',
      actual: 3,
    });
  });

  it('matches short-circuits: later clauses are not read once the answer is known', () => {
    let reads = 0;
    const counting: RuleContext = { now: NOW, countEvents: () => (reads++, 1) };
    expect(matches({ any: [{ event: 'a' }, { event: 'b' }, { event: 'c' }] }, counting)).toBe(true);
    expect(reads).toBe(1);
    expect(matches({ all: [{ event: 'a', count: { eq: 0 } }, { event: 'b' }] }, counting)).toBe(false);
    expect(reads).toBe(2);
    evaluate({ any: [{ event: 'a' }, { event: 'b' }, { event: 'c' }] }, counting);
    expect(reads).toBe(5); // evaluate explains everything
  });

  it('an unknown clause kind is false with reason invalid', () => {
    expect(ev({ bogus: 1 } as unknown as Rule)).toEqual({ ok: false, clause: 'unknown clause ["bogus"]', expected: '["bogus"]', reason: 'invalid' });
  });
});
