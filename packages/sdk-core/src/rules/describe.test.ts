import { describe, expect, it } from 'vitest';
import { describeCount, describeRule } from './describe.js';
import type { Rule } from './types.js';

describe('describeRule', () => {
  it.each<[Rule, string]>([
    [{ event: 'feature.used', where: { feature: 'reports' }, within: '7d' }, 'at least 1 "feature.used" where feature = "reports" in the last 7d'],
    [
      { not: { event: 'feature.used', where: { feature: 'reports.create' }, within: '7d' } },
      'no "feature.used" where feature = "reports.create" in the last 7d',
    ],
    [{ event: 'error.raised', where: { area: 'imports' }, count: { gte: 3 }, within: '1d' }, 'at least 3 "error.raised" where area = "imports" in the last 1d'],
    [{ not: { event: 'error.raised', count: { gte: 3 } } }, 'fewer than 3 "error.raised"'],
    [{ not: { event: 'x', count: { lte: 0 } } }, 'more than 0 "x"'],
    [{ not: { event: 'x', count: { eq: 2 } } }, 'not exactly 2 "x"'],
    [{ not: { event: 'x', count: { gte: 1, lte: 3 } } }, 'not (at least 1 and at most 3 "x")'],
    [
      { event: 'x', where: { size: { gte: 3, lt: 10 }, 'user.plan': { in: ['pro', 'team'] }, beta: true } },
      'at least 1 "x" where size >= 3 and < 10 and user.plan in ["pro","team"] and beta = true',
    ],
    [
      { event: 'x', where: { ref: { exists: false }, path: { glob: '/a/**' }, kind: { nin: [1, 2] }, v: { ne: 'a' } } },
      'at least 1 "x" where ref is not set and path matches "/a/**" and kind not in [1,2] and v != "a"',
    ],
    [{ trait: 'role', in: ['owner', 'admin'] }, 'user role in ["owner","admin"]'],
    [{ tenantTrait: 'plan', eq: 'enterprise' }, 'tenant plan = "enterprise"'],
    [{ fact: 'active_users_7d', gte: 5 }, 'fact active_users_7d >= 5'],
    [{ metric: 'dau_over_wau', gte: 0.3 }, 'metric dau_over_wau >= 0.3'],
    [{ page: '/reports/**' }, 'page matches "/reports/**"'],
    [{ lifecycle: 'adopted' }, 'lifecycle = "adopted"'],
    [{ checklist: 'onboarding', items: ['sso', 'first-integration'] }, 'items ["sso","first-integration"] of checklist "onboarding" completed'],
    [{ checklist: 'onboarding', state: 'not_started' }, 'checklist "onboarding" not started'],
    [{ recipe: 'first-report', state: 'started' }, 'recipe "first-report" started'],
    [{ health: { band: 'at-risk' } }, 'health band = "at-risk"'],
    [{ health: { score: { lt: 40 } } }, 'health score < 40'],
    [{ all: [] }, 'always'],
    [{ any: [] }, 'never'],
    [{ not: { all: [] } }, 'not (always)'],
    [
      {
        all: [
          { lifecycle: ['activated', 'adopted'] },
          { any: [{ trait: 'role', eq: 'owner' }, { page: '/admin/*' }] },
          { not: { trait: 'beta', exists: true } },
        ],
      },
      'lifecycle in ["activated","adopted"] and (user role = "owner" or page matches "/admin/*") and not (user beta is set)',
    ],
  ])('%j', (rule, text) => expect(describeRule(rule)).toBe(text));
});

describe('describeCount', () => {
  it.each([
    [undefined, 'at least 1'],
    [{ gte: 1 }, 'at least 1'],
    [{ lte: 0 }, 'no'],
    [{ eq: 0 }, 'no'],
    [{ lt: 1 }, 'no'],
    [{ lt: 2 }, 'fewer than 2'],
    [{ eq: 4 }, 'exactly 4'],
    [{ gt: 2 }, 'more than 2'],
    [{ lte: 5 }, 'at most 5'],
    [{ ne: 0 }, 'not exactly 0'],
    [{ gte: 2, lte: 5 }, 'at least 2 and at most 5'],
    [{}, 'any number of'],
  ])('%j → %s', (c, s) => expect(describeCount(c)).toBe(s));
});
