/** Tests of `../schema/rule.ts` (kept here, beside the language it validates). */
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as z from 'zod';
import { DurationSchema, RuleSchema, WhereSchema } from '../schema/rule.js';
import type { Rule } from './types.js';

const issues = (input: unknown) => {
  const r = RuleSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => [i.path.join('.'), i.message]);
};

describe('RuleSchema accepts the rule language', () => {
  // Every condition of shared/examples/acme.keel.yaml, as the YAML parser would hand it over.
  const acme: Record<string, unknown> = {
    audience: { trait: 'role', in: ['owner', 'admin'] },
    'sso.complete': { event: 'integration.state', where: { integration: 'sso', state: 'connected' } },
    'sso.failed': { event: 'integration.state', where: { integration: 'sso', state: 'failed' } },
    'first-integration': { event: 'integration.state', where: { state: 'connected' }, count: { gte: 1 } },
    'first-dataset': { event: 'feature.used', where: { feature: 'dataset.ingest' } },
    team: { fact: 'active_users_7d', gte: 5 },
    'reports-unused': {
      all: [
        { lifecycle: ['activated', 'adopted'] },
        { event: 'feature.used', where: { feature: 'dataset.ingest' }, within: '30d' },
        { not: { event: 'feature.used', where: { feature: 'reports.create' }, within: '7d' } },
      ],
    },
    'error-spike-help': { event: 'error.raised', where: { area: 'imports' }, count: { gte: 3 }, within: '1d' },
    'recipe.advance': { event: 'feature.used', where: { feature: 'reports.create' } },
    'onboarding-stalled': { fact: 'hours_since_checklist_progress', gte: 72 },
    'unpaid-invoice': { metric: 'invoices_overdue', gte: 1 },
    activated: { checklist: 'onboarding', items: ['sso', 'first-integration', 'first-dataset'] },
    adopted: {
      all: [
        { fact: 'active_users_7d', gte: 5 },
        { metric: 'dau_over_wau', gte: 0.3 },
      ],
    },
    expanding: { fact: 'seats_used_ratio', gte: 0.9 },
    'at-risk': { health: { band: 'at-risk' } },
    renewing: { fact: 'days_to_renewal', lte: 120 },
  };
  it.each(Object.entries(acme))('acme: %s', (_, rule) => {
    expect(issues(rule)).toEqual([]);
    expect(RuleSchema.parse(rule)).toEqual(rule);
  });

  it.each<Rule>([
    { tenantTrait: 'plan', eq: 'enterprise' },
    { page: '/reports/**' },
    { lifecycle: 'adopted' },
    { checklist: 'onboarding', state: 'completed' },
    { recipe: 'first-report', state: 'not_started' },
    { health: { score: { lt: 40 } } },
    { health: { band: ['watch', 'at-risk'], score: { gte: 10, lt: 40 } } },
    { trait: 'signup', gte: '2024-01-01', exists: true },
    { event: 'x', where: { 'user.plan': { in: ['pro', 'team'] }, path: { glob: '/a/**' }, n: { ne: 2 }, ok: true }, count: { lte: 0 } },
    { all: [] },
    { any: [{ not: { any: [] } }] },
  ])('%j', (rule) => expect(RuleSchema.parse(rule)).toEqual(rule));

  it('the parsed type is a Rule', () => {
    expectTypeOf<z.output<typeof RuleSchema>>().toEqualTypeOf<Rule>();
    const r: Rule = RuleSchema.parse({ event: 'x' });
    expect('event' in r && r.event).toBe('x');
  });
});

describe('RuleSchema errors: one readable message at the real path', () => {
  it.each<[string, unknown, [string, string][]]>([
    [
      'two kinds in one clause',
      { event: 'x', trait: 'role', eq: 'a' },
      [['', 'a clause has one kind, found "event" and "trait": combine conditions with all/any']],
    ],
    [
      'two kinds, nested',
      { any: [{ page: '/a' }, { lifecycle: 'x', checklist: 'c' }] },
      [['any.1', 'a clause has one kind, found "lifecycle" and "checklist": combine conditions with all/any']],
    ],
    [
      'unknown operator',
      { trait: 'role', gtee: 3 },
      [['', 'unknown key "gtee" in a "trait" clause; expected eq, ne, gt, gte, lt, lte, in, nin, exists, glob']],
    ],
    [
      'unknown operator in where',
      { event: 'x', where: { size: { gtee: 3 } } },
      [['where.size', 'unknown key "gtee" in a comparison; expected eq, ne, gt, gte, lt, lte, in, nin, exists, glob']],
    ],
    ['bad operand in where', { event: 'x', where: { size: { gte: {} } } }, [['where.size', 'gte: expected a number or string, found object']]],
    [
      'list as a where value',
      { event: 'x', where: { size: [1, 2] } },
      [['where.size', 'expected a value (string, number, boolean) or a comparison such as { gte: 3 }, found array']],
    ],
    ['bad duration', { all: [{ event: 'x', within: '7 days' }] }, [['all.0.within', 'expected "7d"-style duration, found "7 days"']]],
    ['zero duration', { event: 'x', within: '0d' }, [['within', 'expected "7d"-style duration, found "0d"']]],
    [
      'forgot where',
      { event: 'feature.used', feature: 'reports' },
      [['', 'unknown key "feature" in an "event" clause; expected where, count, within, evidence']],
    ],
    ['unknown count operator', { event: 'x', count: { atleast: 1 } }, [['count', 'unknown key "atleast" in a count; expected eq, ne, gt, gte, lt, lte']]],
    ['fractional count', { event: 'x', count: { gte: 1.5 } }, [['count.gte', 'expected a whole number']]],
    ['empty count', { event: 'x', count: {} }, [['count', 'needs an operator: eq, ne, gt, gte, lt, lte']]],
    ['trait without operator', { trait: 'role' }, [['', 'a "trait" clause needs an operator: eq, ne, gt, gte, lt, lte, in, nin, exists, glob']]],
    ['key of another kind', { trait: 'role', eq: 'x', within: '7d' }, [['within', '"within" does not belong in a "trait" clause']]],
    ['items on a recipe', { recipe: 'r', items: ['a'] }, [['items', '"items" does not belong in a "recipe" clause']]],
    [
      'no kind',
      { foo: 1 },
      [['', 'unknown key "foo" in a rule; expected all, any, not, event, trait, tenantTrait, fact, metric, page, lifecycle, checklist, recipe, health']],
    ],
    ['empty object', {}, [['', 'a rule needs one of all, any, not, event, trait, tenantTrait, fact, metric, page, lifecycle, checklist, recipe, health']]],
    ['not an object', 'feature.used', [['', 'expected a rule such as { event: "feature.used" } or { all: [...] }, found string']]],
    ['not an object, nested', { not: null }, [['not', 'expected a rule such as { event: "feature.used" } or { all: [...] }, found null']]],
    ['all is not a list', { all: { event: 'x' } }, [['all', 'expected a list of rules']]],
    ['empty event name', { event: '' }, [['event', 'an event name must not be empty']]],
    ['event name not a string', { event: 3 }, [['event', 'expected an event name (a string), found number']]],
    ['bad lifecycle', { lifecycle: 3 }, [['lifecycle', 'expected a lifecycle state or a list of them, found number']]],
    ['bad state', { checklist: 'a', state: 'done' }, [['state', 'expected "completed", "started", "not_started", found "done"']]],
    ['empty items', { checklist: 'a', items: [] }, [['items', 'list at least one checklist item id']]],
    ['empty health', { health: {} }, [['health', 'health needs band and/or score']]],
    ['unknown health key', { health: { band: 'x', grade: 'A' } }, [['health', 'unknown key "grade" in health; expected band, score']]],
    ['bad page', { not: { any: [{ page: 5 }] } }, [['not.any.0.page', 'expected a path glob such as "/reports/**", found number']]],
    ['bad exists', { trait: 'beta', exists: 'yes' }, [['exists', 'expected true or false']]],
    ['bad in', { trait: 'role', in: 'owner' }, [['in', 'expected a list of values, found string']]],
    [
      'null where value',
      { event: 'x', where: { a: null } },
      [['where.a', 'expected a value (string, number, boolean) or a comparison such as { gte: 3 }, found null']],
    ],
    ['null count', { event: 'x', count: null }, [['count', 'expected a comparison such as { gte: 1 }, found null']]],
    ['null health', { health: null }, [['health', 'expected health such as { band: "at-risk" } or { score: { lt: 40 } }, found null']]],
    ['where not an object', { event: 'x', where: 'feature' }, [['where', 'expected property filters such as { feature: "reports" }, found string']]],
    ['empty lifecycle list', { lifecycle: [] }, [['lifecycle', 'list at least one lifecycle state']]],
    ['empty band list', { health: { band: [] } }, [['health.band', 'list at least one band']]],
    ['extra key on a page clause', { page: '/a', foo: 1 }, [['', 'unknown key "foo": a "page" clause has no other key']]],
    ['within on a not', { not: { event: 'x' }, within: '7d' }, [['within', '"within" does not belong in a "not" clause']]],
    [
      'several problems, all reported',
      {
        all: [
          { event: 'x', within: '1 week' },
          { fact: 'f', gte: 5, lte: 'a', within: '7d' },
          { recipe: 'r', state: 'finished' },
        ],
      },
      [
        ['all.0.within', 'expected "7d"-style duration, found "1 week"'],
        ['all.1.within', '"within" does not belong in a "fact" clause'],
        ['all.2.state', 'expected "completed", "started", "not_started", found "finished"'],
      ],
    ],
  ])('%s', (_, input, expected) => expect(issues(input)).toEqual(expected));

  it('the acme alert shapes the language does not have are rejected, not silently ignored', () => {
    expect(issues({ score_change_wow: { lte: '-20%' } })).toEqual([
      [
        '',
        'unknown key "score_change_wow" in a rule; expected all, any, not, event, trait, tenantTrait, fact, metric, page, lifecycle, checklist, recipe, health',
      ],
    ]);
    expect(issues({ metric: 'errors_per_session_1d', above: 'cohort_p95' })).toEqual([
      ['', 'unknown key "above" in a "metric" clause; expected eq, ne, gt, gte, lt, lte, in, nin, exists, glob'],
    ]);
  });

  it('prettifies to a list an author can act on', () => {
    const r = RuleSchema.safeParse({ all: [{ event: 'x', within: '7 days' }] });
    expect(r.success).toBe(false);
    if (!r.success) expect(z.prettifyError(r.error)).toBe('✖ expected "7d"-style duration, found "7 days"\n  → at all[0].within');
  });
});

describe('helper schemas and JSON Schema export', () => {
  it('DurationSchema and WhereSchema', () => {
    expect(DurationSchema.parse('3d')).toBe('3d');
    expect(DurationSchema.safeParse('3 d').error?.issues[0]?.message).toBe('expected "7d"-style duration, found "3 d"');
    expect(DurationSchema.safeParse(3).error?.issues[0]?.message).toBe('expected "7d"-style duration, found 3');
    expect(WhereSchema.parse({ a: 1, b: { in: ['x'] } })).toEqual({ a: 1, b: { in: ['x'] } });
  });

  it('exports a recursive JSON Schema for editors', () => {
    type Obj = { properties: Record<string, { items?: unknown; pattern?: string; $ref?: string }>; additionalProperties: boolean };
    const root = z.toJSONSchema(RuleSchema) as { $ref: string; $defs: Record<string, Obj & { items?: unknown }> };
    // Named definitions: `rule` itself, and the `all` list (the first list in its cycle).
    expect(root.$ref).toBe('#/$defs/rule');
    const js = root.$defs.rule!;
    expect(Object.keys(js.properties)).toEqual(expect.arrayContaining(['all', 'any', 'not', 'event', 'where', 'count', 'within', 'trait', 'gte', 'health']));
    expect(js.properties.all?.$ref).toBe('#/$defs/all-rules');
    expect(root.$defs['all-rules']?.items).toEqual({ $ref: '#/$defs/rule' });
    expect(js.properties.any?.items).toEqual({ $ref: '#/$defs/rule' });
    expect(js.properties.within?.pattern).toBe('^([1-9]\\d*)([mhdw])$');
    expect(js.additionalProperties).toBe(false);
  });
});
