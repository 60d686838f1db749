import { describe, expect, it } from 'vitest';
import { referencedEvents, referencedIds } from './events.js';
import type { Rule } from './types.js';

const rule: Rule = {
  all: [
    { lifecycle: ['activated', 'adopted'] },
    { event: 'feature.used', where: { feature: 'dataset.ingest' }, within: '30d' },
    { not: { event: 'feature.used', where: { feature: 'reports.create' }, within: '7d' } },
    {
      any: [
        { event: 'feature.used', where: { feature: 'dataset.ingest' }, within: '30d' },
        { event: 'error.raised', count: { gte: 3 } },
      ],
    },
    { checklist: 'onboarding', items: ['sso', 'first-dataset'] },
    { checklist: 'onboarding', items: ['sso', 'team'], state: 'started' },
    { checklist: 'other' },
    { recipe: 'first-report', state: 'started' },
    { fact: 'active_users_7d', gte: 5 },
    { metric: 'dau_over_wau', gte: 0.3 },
    { health: { band: ['at-risk', 'watch'], score: { lt: 40 } } },
    { health: { score: { gt: 1 } } },
    { trait: 'role', in: ['owner'] },
    { tenantTrait: 'plan', eq: 'enterprise' },
    { page: '/reports/**' },
    { lifecycle: 'adopted' },
  ],
};

describe('referencedEvents', () => {
  it('lists each distinct event clause once, in order, with where and within', () => {
    expect(referencedEvents(rule)).toEqual([
      { event: 'feature.used', where: { feature: 'dataset.ingest' }, within: '30d' },
      { event: 'feature.used', where: { feature: 'reports.create' }, within: '7d' },
      { event: 'error.raised' },
    ]);
    expect(referencedEvents({ trait: 'role', eq: 'x' })).toEqual([]);
  });
});

describe('referencedIds', () => {
  it('collects every id per clause kind, deduplicated', () => {
    expect(referencedIds(rule)).toEqual({
      event: ['feature.used', 'error.raised'],
      trait: ['role'],
      tenantTrait: ['plan'],
      fact: ['active_users_7d'],
      metric: ['dau_over_wau'],
      page: ['/reports/**'],
      lifecycle: ['activated', 'adopted'],
      checklist: ['onboarding', 'other'],
      items: { onboarding: ['sso', 'first-dataset', 'team'] },
      recipe: ['first-report'],
      health: ['at-risk', 'watch'],
    });
  });
});
