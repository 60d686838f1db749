import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import { describe, expect, test } from 'vitest';
import { ConfigSchema } from '../schema/document.js';
import { formatProblems, validateConfig, validateConfigText } from './validate.js';

const ACME = readFileSync(new URL('./fixtures/acme.keel.yaml', import.meta.url), 'utf8');
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

/** The valid fixture with one edit: each broken fixture differs from it in one place. */
function broken(from: string, to: string) {
  expect(ACME).toContain(from);
  return ACME.replace(from, to);
}

test('the Acme fixture (the shared example with its recipes defined) is valid', () => {
  const r = validateConfigText(ACME);
  expect(r.problems).toEqual([]);
  expect(r.ok).toBe(true);
  expect(r.config?.checklists?.[0]?.items.map((i) => i.id)).toEqual(['sso', 'first-integration', 'first-dataset', 'team', 'first-report', 'review']);
});

describe('broken configs: each problem named with its path, what was expected and found, and its line', () => {
  test.each([
    [
      'an id that is not a slug',
      '      - id: sso\n',
      '      - id: SSO Setup\n',
      'checklists[0].items[0].id',
      'expected an id of lower-case letters, digits and dashes such as "first-report", found "SSO Setup"',
      '- id: SSO Setup',
    ],
    [
      'an unknown key',
      '    title: Get Acme running',
      '    titel: Get Acme running',
      'checklists[0]',
      'unknown key "titel" in a checklist; expected id, title, audience, items',
      'titel: Get Acme running',
    ],
    [
      'a wrong type',
      'due: { day: 14 }',
      'due: { day: fourteen }',
      'checklists[0].items[4].due.day',
      'expected the due day as a number (7, 14, 30…)',
      'day: fourteen',
    ],
    ['a bad duration', 'within: 30d', 'within: 30 days', 'nudges[0].when.all[1].within', 'expected "7d"-style duration, found "30 days"', 'within: 30 days'],
    [
      'an unknown recipe',
      'launch:   { recipe: first-report }',
      'launch:   { recipe: first-reprot }',
      'checklists[0].items[4].launch.recipe',
      'unknown recipe "first-reprot"; recipes: fix-sso, first-dataset, first-report',
      'first-reprot',
    ],
    [
      'an unknown checklist item in a rule',
      'items: [sso, first-integration, first-dataset]',
      'items: [sso, first-integrations, first-dataset]',
      'lifecycle.states.activated.proof.items',
      'checklist "onboarding" has no item "first-integrations"',
      'first-integrations',
    ],
    [
      'an unknown lifecycle state in a rule',
      'lifecycle: [activated, adopted]',
      'lifecycle: [activated, adoptd]',
      'nudges[0].when.all[0].lifecycle',
      'unknown lifecycle state "adoptd"',
      'lifecycle: [activated, adoptd]',
    ],
    [
      'an unreachable lifecycle state',
      '    - { from: [adopted, expanding, at-risk], to: renewing }\n',
      '',
      'lifecycle.states.renewing',
      'lifecycle state "renewing" can never be reached from "onboarding": add a transition to it',
      'renewing:',
    ],
    [
      'weights that do not sum to 100',
      'metric: features_used_ratio_30d, weight: 25',
      'metric: features_used_ratio_30d, weight: 35',
      'health.weights',
      'weights: sum-to-100, but the component weights sum to 110; fix them or say weights: normalise',
      'weights: sum-to-100',
    ],
    [
      'a duplicate id',
      '      - id: review\n',
      '      - id: sso  # again\n',
      'checklists[0].items[5].id',
      'duplicate item id "sso" in checklist "onboarding"',
      'id: sso  # again',
    ],
    [
      'a locale that is not one',
      '    title: Get Acme running',
      '    title: { english: Get Acme running }',
      'checklists[0].title',
      'english: expected a locale such as "en" or "en-GB", found "english"',
      'english',
    ],
    [
      'a click step without an anchor',
      '      - anchor: \'nav a[href="/reports"]\'\n        text: Open Reports.',
      '      - text: Open Reports.',
      'recipes[2].steps[0].advance',
      'a step that advances on "click" needs an "anchor"',
      'advance: click',
    ],
    [
      'a fatigue cap that is not a whole number',
      'perSession: 2',
      'perSession: 2.5',
      'fatigue.perSession',
      'expected interruptions per session (a whole number)',
      'perSession: 2.5',
    ],
    [
      'a quiet period that is not a duration',
      'quiet: 10m',
      'quiet: 10 minutes',
      'fatigue.quiet',
      'expected "7d"-style duration, found "10 minutes"',
      'quiet: 10 minutes',
    ],
    [
      'an unknown placement',
      '    priority: 50',
      '    placement: below\n    priority: 50',
      'nudges[0].placement',
      'expected a placement (top, bottom,',
      'placement: below',
    ],
    [
      'a javascript: link',
      'link: /settings/sso',
      'link: "javascript:alert(1)"',
      'checklists[0].items[0].launch.link',
      'expected a link: http:// or https:// and a host, or a path on this site starting with a single /; no spaces, quotes, angle brackets, backslashes or control characters; found "javascript:alert(1)"',
      'javascript:',
    ],
    [
      'a link to another site dressed as a path',
      'link: /settings/sso',
      'link: "/\\\\evil.example"',
      'checklists[0].items[0].launch.link',
      'found "/\\\\evil.example"',
      'evil.example',
    ],
  ])('%s', (_name, from, to, path, message, lineNeedle) => {
    const text = broken(from, to);
    const r = validateConfigText(text);
    expect(r.ok).toBe(false);
    const p = r.problems.find((x) => x.path === path && x.message.includes(message));
    expect(p, JSON.stringify(r.problems, null, 1)).toBeDefined();
    const want = lineOf(text, lineNeedle.split('\n')[0]!);
    expect(p!.line).toBe(want);
  });

  test('a YAML syntax error names its line', () => {
    const r = validateConfigText('version: 1\nproduct: acme\nchecklists:\n  - id: x\n    title: [unclosed\n');
    expect(r.ok).toBe(false);
    expect(r.problems[0]!.message).toMatch(/^syntax error/);
    expect(r.problems[0]!.line).toBeGreaterThanOrEqual(5);
  });

  test('JSON is accepted too, with lines for its problems', () => {
    const json = JSON.stringify(parseYaml(ACME), null, 2);
    expect(validateConfigText(json).ok).toBe(true);
    const bad = json.replace('"id": "first-report",\n      "title": "Create your first report"', '"id": "first-report",\n      "title": 42');
    const r = validateConfigText(bad);
    expect(r.problems).toEqual([expect.objectContaining({ path: 'recipes[2].title', line: lineOf(bad, '"title": 42') })]);
  });

  test('every problem of a file is listed, not only the first: shape and reference problems in one pass', () => {
    const text = broken('within: 30d', 'within: 30 days').replace('recipe: first-report }', 'recipe: nope }');
    const r = validateConfigText(text);
    // The bad duration (shape) and the unknown recipe (reference) together, in file order: one run shows both.
    expect(r.problems.map((p) => p.path)).toEqual(['checklists[0].items[4].launch.recipe', 'nudges[0].when.all[1].within']);
    expect(r.problems[0]!.message).toContain('unknown recipe "nope"');
    expect(r.problems[0]!.line).toBeLessThan(r.problems[1]!.line!);
    expect(formatProblems('acme.keel.yaml', r.problems)).toMatch(/^acme\.keel\.yaml:\d+ {2}checklists\[0\]\.items\[4\]\.launch\.recipe: unknown recipe "nope"/);
    // A reference inside the very entry whose shape is broken is checked once that entry parses.
    const r2 = validateConfigText(text.replace('within: 30 days', 'within: 30d'));
    expect(r2.problems.map((p) => p.message)).toEqual([expect.stringContaining('unknown recipe "nope"')]);
  });

  test('a checklist item with a shape problem hides nothing: its own references and its siblings are checked too', () => {
    const text = broken('complete: { event: feature.used, where: { feature: reports.create } }', 'complete: { event: feature.used, within: 7 days }')
      .replace('launch:   { recipe: first-report }', 'launch:   { recipe: frist-report }')
      .replace('complete: { fact: active_users_7d, gte: 5 }', 'complete: { fact: active_user_7d, gte: 5 }');
    const r = validateConfigText(text);
    expect(r.problems.map((p) => [p.path, p.message.split(';')[0]])).toEqual([
      ['checklists[0].items[3].complete.fact', 'unknown fact "active_user_7d"'],
      ['checklists[0].items[4].complete.within', 'expected "7d"-style duration, found "7 days"'],
      ['checklists[0].items[4].launch.recipe', 'unknown recipe "frist-report"'],
    ]);
  });

  test('a malformed failed rule is reported once, not also as a missing one', () => {
    const text = broken(
      'failed:   { event: integration.state, where: { integration: sso, state: failed } }',
      'failed:   { event: integration.state, within: 2 days }',
    );
    expect(validateConfigText(text).problems.map((p) => p.path)).toEqual(['checklists[0].items[0].failed.within']);
  });

  test('a holdout needs a goal, and is a percentage from 0 to 50', () => {
    const cfg = (n: Record<string, unknown>) => ({ version: 1, product: 'acme', nudges: [{ id: 'n', kind: 'modal', body: 'x', when: { event: 'x' }, ...n }] });
    const goal = { event: 'report.created', within: '7d' };
    expect(validateConfig(cfg({ goal, holdout: 20 })).problems).toEqual([]);
    expect(validateConfig(cfg({ holdout: 20 })).problems).toEqual([
      { path: 'nudges[0].holdout', message: 'a holdout needs a goal to measure: add goal: { event: …, within: 7d }' },
    ]);
    expect(validateConfig(cfg({ goal, holdout: 80 })).problems).toEqual([{ path: 'nudges[0].holdout', message: 'expected a holdout from 0 to 50 (percent)' }]);
    expect(validateConfig(cfg({ goal: { event: 'x' } })).problems.map((p) => p.path)).toEqual(['nudges[0].goal.within']);
  });

  test('error repairs: their shape, their references, and the nudge id each is served as', () => {
    const cfg = (errors: unknown[], nudges: unknown[] = []) => ({ version: 1, product: 'acme', nudges, errors });
    const ok = { id: 'no-dataset', match: { code: 'E_NO_DATASET' }, body: 'Import a dataset first.', actions: [{ label: 'Retry', event: 'report.retry' }] };
    expect(validateConfig(cfg([ok])).problems).toEqual([]);
    expect(validateConfig(cfg([{ ...ok, event: 'page' }])).problems).toEqual([
      { path: 'errors[0].event', message: 'expected event "error.raised" or "integration.state", found "page"' },
    ]);
    expect(validateConfig(cfg([{ ...ok, match: 'E_NO_DATASET' }])).problems.map((p) => p.path)).toEqual(['errors[0].match']);
    expect(validateConfig(cfg([ok, ok])).problems).toEqual([{ path: 'errors[1].id', message: 'duplicate error repair id "no-dataset" (also at errors[0])' }]);
    expect(validateConfig(cfg([{ ...ok, actions: [{ label: 'Show me', recipe: 'nope' }] }])).problems).toEqual([
      { path: 'errors[0].actions[0].recipe', message: 'unknown recipe "nope"; recipes: none defined' },
    ]);
    expect(validateConfig(cfg([ok], [{ id: 'repair-no-dataset', kind: 'modal', body: 'x', when: { event: 'x' } }])).problems).toEqual([
      { path: 'nudges[0].id', message: 'nudge id "repair-no-dataset" is taken: errors "no-dataset" is served as that nudge; rename one' },
    ]);
  });

  test('metric, fact and near-miss event names are checked against what the server computes', () => {
    const text = broken('metric: dau_over_wau,            weight: 15', 'metric: dau_over_wauu,           weight: 15')
      .replace('{ fact: hours_since_checklist_progress, gte: 72 }', '{ fact: hours_since_checklist_progres, gte: 72 }')
      .replace('{ metric: invoices_overdue, gte: 1 }', '{ metric: invoice_overdue, gte: 1 }')
      .replace('metric: errors_per_session_1d, above: cohort_p95', 'metric: errors_per_sesion_1d, above: cohort_p95')
      .replace('within: 30d', 'within: 30 days'); // and a shape problem elsewhere: all are listed together
    const r = validateConfigText(text);
    expect(r.ok).toBe(false);
    const byPath = Object.fromEntries(r.problems.map((p) => [p.path, p.message]));
    expect(byPath['health.components[2].metric']).toMatch(
      /^unknown metric "dau_over_wauu"; did you mean "dau_over_wau"\? The server computes: features_used_ratio_30d, /,
    );
    expect(byPath['health.alerts[2].when.fact']).toMatch(/unknown fact "hours_since_checklist_progres"; did you mean "hours_since_checklist_progress"/);
    expect(byPath['health.alerts[3].when.metric']).toMatch(/unknown metric "invoice_overdue"; did you mean "invoices_overdue"/);
    expect(byPath['health.alerts[1].when.metric']).toMatch(/unknown metric "errors_per_sesion_1d"/);
    expect(byPath['nudges[0].when.all[1].within']).toBeDefined();
    const ev = validateConfigText(
      broken('complete: { event: feature.used, where: { feature: dataset.ingest } }', 'complete: { event: feature.usd, where: { feature: dataset.ingest } }'),
    );
    expect(ev.problems.map((p) => p.message)).toEqual([expect.stringMatching(/unknown event "feature.usd": did you mean "feature.used"/)]);
    // A product's own event names are free: only near misses of the ones Keel reads are refused.
    expect(
      validateConfigText(broken('complete: { event: feature.used, where: { feature: dataset.ingest } }', 'complete: { event: dataset.uploaded }')).ok,
    ).toBe(true);
  });
});

test('the JSON Schema generated from the zod schema describes every section for editors', () => {
  const schema = z.toJSONSchema(ConfigSchema, { unrepresentable: 'any', cycles: 'ref', io: 'input' }) as {
    properties: Record<string, { items?: { properties?: Record<string, unknown> } }>;
    required: string[];
    additionalProperties: boolean;
  };
  expect(Object.keys(schema.properties)).toEqual([
    '$schema',
    'version',
    'product',
    'checklists',
    'nudges',
    'recipes',
    'health',
    'lifecycle',
    'status',
    'fatigue',
    'errors',
    'timeline',
  ]);
  // Metric and fact names are enums with a description each, so editors complete and explain them.
  const text = JSON.stringify(schema);
  expect(text).toContain('"enum":["features_used_ratio_30d","active_users_over_seats","dau_over_wau"');
  expect(text).toContain('"enum":["active_users_7d","active_users_30d","integrations_connected"');
  expect(text).toContain('the mean of daily active users over the 7 UTC calendar days');
  expect(schema.required).toEqual(['version', 'product']);
  expect(schema.additionalProperties).toBe(false);
  expect(Object.keys(schema.properties.checklists!.items!.properties!)).toEqual(['id', 'title', 'audience', 'items']);
});
