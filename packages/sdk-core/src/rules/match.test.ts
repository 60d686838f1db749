import { describe, expect, it } from 'vitest';
import { compare, get, glob, matchWhere } from './match.js';

describe('glob', () => {
  it.each([
    ['/reports/*', '/reports/42', true],
    ['/reports/*', '/reports/42/edit', false],
    ['/reports/*', '/reports', false],
    ['/reports/**', '/reports', true],
    ['/reports/**', '/reports/', true],
    ['/reports/**', '/reports/42/edit', true],
    ['/reports/**', '/reportsX', false],
    ['/reports/**', '/other/reports/1', false],
    ['/a/**/b', '/a/b', true],
    ['/a/**/b', '/a/x/y/b', true],
    ['/a/**/b', '/a/x/y/c', false],
    ['**/edit', '/reports/1/edit', true],
    ['**', '/anything/at/all', true],
    ['/settings/sso', '/settings/sso', true],
    ['/settings/sso', '/settings/ssoX', false],
    ['/r/*/edit', '/r/1/edit', true],
    ['/r/*/edit', '/r/1/2/edit', false],
    ['reports.*', 'reports.create', true],
    ['reports.*', 'reportsXcreate', false], // the dot is literal
    ['/a+b/(x)?', '/a+b/(x)?', true], // regex specials are literal
    ['/a+b/(x)?', '/aab/x', false],
  ])('%s ~ %s = %s', (p, s, ok) => expect(glob(p, s)).toBe(ok));
});

describe('get', () => {
  it('reads dotted paths, literal keys first, own properties only', () => {
    const o = { user: { plan: 'pro', seats: { used: 3 } }, 'user.plan': 'literal', list: ['a'] };
    expect(get(o, 'user.plan')).toBe('literal');
    expect(get(o, 'user.seats.used')).toBe(3);
    expect(get(o, 'list.0')).toBe('a');
    expect(get(o, 'user.nope.deeper')).toBeUndefined();
    expect(get(o, 'constructor')).toBeUndefined();
    expect(get(o, 'user.__proto__')).toBeUndefined();
    expect(get(o, 'toString')).toBeUndefined();
    expect(get(undefined, 'a')).toBeUndefined();
    expect(get('str', 'length')).toBeUndefined();
  });
});

describe('compare', () => {
  it('each operator', () => {
    expect(compare(3, { eq: 3 })).toBe(true);
    expect(compare('3', { eq: 3 })).toBe(false); // strict: no coercion
    expect(compare(3, { ne: 4 })).toBe(true);
    expect(compare(3, { gt: 2, lt: 4 })).toBe(true);
    expect(compare(3, { gte: 3, lte: 3 })).toBe(true);
    expect(compare(3, { gt: 3 })).toBe(false);
    expect(compare(3, { lt: 3 })).toBe(false);
    expect(compare('2024-05-01', { gte: '2024-01-01' })).toBe(true); // ISO dates order as strings
    expect(compare('10', { gt: 9 })).toBe(false); // mixed types never order
    expect(compare('owner', { in: ['owner', 'admin'] })).toBe(true);
    expect(compare('viewer', { in: ['owner', 'admin'] })).toBe(false);
    expect(compare('viewer', { nin: ['owner', 'admin'] })).toBe(true);
    expect(compare('x', { exists: true })).toBe(true);
    expect(compare(null, { exists: true })).toBe(false);
    expect(compare(undefined, { exists: false })).toBe(true);
    expect(compare('/a/b', { glob: '/a/*' })).toBe(true);
    expect(compare(5, { glob: '*' })).toBe(false);
    expect(compare(3, { gte: 1, lte: 2 })).toBe(false); // ANDed
    expect(compare(3, {})).toBe(true);
  });

  it('a missing value passes only ne, nin and exists: false', () => {
    for (const v of [undefined, null]) {
      expect(compare(v, { eq: 'x' })).toBe(false);
      expect(compare(v, { gt: 0 })).toBe(false);
      expect(compare(v, { lte: 0 })).toBe(false);
      expect(compare(v, { in: ['x'] })).toBe(false);
      expect(compare(v, { glob: '**' })).toBe(false);
      expect(compare(v, { exists: true })).toBe(false);
      expect(compare(v, { ne: 'x' })).toBe(true);
      expect(compare(v, { nin: ['x'] })).toBe(true);
      expect(compare(v, { exists: false })).toBe(true);
    }
  });
});

describe('matchWhere', () => {
  const props = { feature: 'reports', size: 5, user: { plan: 'pro' } };
  it('scalar = equality, object = comparisons, dotted paths, all keys ANDed', () => {
    expect(matchWhere(undefined, props)).toBe(true);
    expect(matchWhere({}, undefined)).toBe(true);
    expect(matchWhere({ feature: 'reports' }, props)).toBe(true);
    expect(matchWhere({ feature: 'report' }, props)).toBe(false);
    expect(matchWhere({ feature: 'reports', size: { gte: 3 } }, props)).toBe(true);
    expect(matchWhere({ feature: 'reports', size: { gte: 6 } }, props)).toBe(false);
    expect(matchWhere({ 'user.plan': 'pro' }, props)).toBe(true);
    expect(matchWhere({ 'user.plan': { in: ['team', 'enterprise'] } }, props)).toBe(false);
    expect(matchWhere({ missing: { exists: false } }, props)).toBe(true);
    expect(matchWhere({ feature: 'reports' }, undefined)).toBe(false);
    expect(matchWhere({ size: '5' }, props)).toBe(false);
  });
});
