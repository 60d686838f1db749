// One link rule, tested from one table (./link-cases.ts): the rule itself, the config schema (and
// the JSON Schema editors get from it), validateConfig (what the ingest API runs before it stores a
// config), the links inside nudge and recipe text, and the nudge renderer's byte-saving copy. Real
// clicks on actions with these links run in Chromium: packages/nudge-widget/src/links.browser.test.ts;
// the ingest API publishing them: packages/ingest/src/config-links.test.ts.
import * as z from 'zod';
import { describe, expect, test } from 'vitest';
import { INLINE, SAFE_URL, safeHref } from '../../../nudge-widget/src/markdown.js';
import { MARKDOWN_INLINE, validateConfig, validateConfigText } from '../authoring/validate.js';
import { SAFE_LINK as CLIENT_SAFE_LINK } from '../client/text.js';
import { ActionSchema, ConfigSchema } from './document.js';
import { LINK_CASES } from './link-cases.js';
import { SAFE_LINK } from './link.js';

const cases = LINK_CASES.map((c) => [c.why, JSON.stringify(c.link), c] as const);
const WHEN = { event: 'feature.used' };

/** A config with the link in every place config can carry one: nudge action, checklist launch and recovery, nudge body, recipe step text. */
const configWith = (link: string) => ({
  version: 1,
  product: 'acme',
  checklists: [
    {
      id: 'onboarding',
      title: 'Setup',
      items: [{ id: 'sso', title: 'SSO', complete: WHEN, failed: WHEN, launch: { label: 'Go', link }, recovery: { label: 'Fix', link } }],
    },
  ],
  nudges: [{ id: 'tip', kind: 'banner', body: `Read [the guide](${link}).`, when: WHEN, actions: [{ label: 'Open', link }] }],
  recipes: [{ id: 'tour', title: 'Tour', steps: [{ text: `See [this](${link}).` }] }],
});

test('the table has both kinds, and every refusal the issue names', () => {
  expect(LINK_CASES.filter((c) => c.ok).length).toBeGreaterThan(5);
  const refused = LINK_CASES.filter((c) => !c.ok).map((c) => c.link);
  for (const ch of ['"', "'", '<', '>', '\\', '\u0000', '\u007f', '\t', ' ', '\n'])
    expect(
      refused.some((l) => l.includes(ch)),
      JSON.stringify(ch),
    ).toBe(true);
  expect(refused).toContain('/x"><svg/onload=alert(1)>');
});

test('one rule: the client, the schema entry point and the renderer copy are the same pattern, with no flags (so editors read it the same)', () => {
  expect(CLIENT_SAFE_LINK).toBe(SAFE_LINK);
  expect(SAFE_URL.source).toBe(SAFE_LINK.source);
  expect(SAFE_URL.flags).toBe('');
  expect(SAFE_LINK.flags).toBe('');
  // The JSON Schema (keel-config.schema.json) carries the same pattern for every link field.
  const json = JSON.stringify(z.toJSONSchema(ConfigSchema, { target: 'draft-2020-12', unrepresentable: 'any', cycles: 'ref', io: 'input' }));
  const linkPatterns = [...json.matchAll(/"link":\{"type":"string","pattern":("(?:[^"\\]|\\.)*")/g)].map((m) => JSON.parse(m[1]!) as string);
  expect(linkPatterns.length).toBeGreaterThanOrEqual(2); // item actions and nudge actions
  for (const p of linkPatterns) expect(p).toBe(SAFE_LINK.source);
  // validate's copy of the renderer's inline syntax (for links inside text) is the renderer's.
  expect(MARKDOWN_INLINE.source).toBe(INLINE.source);
});

describe.each(cases)('%s: %s', (_why, _shown, c) => {
  test('the rule', () => {
    expect(SAFE_LINK.test(c.link)).toBe(c.ok);
    // Editors evaluate JSON Schema patterns with or without the u flag: the same answer either way.
    expect(new RegExp(SAFE_LINK.source, 'u').test(c.link)).toBe(c.ok);
  });

  test('the renderer copy (markdown.ts): safeHref keeps exactly the allowed links, unchanged', () => {
    expect(safeHref(c.link)).toBe(c.ok ? c.link : undefined);
  });

  test('the action schema', () => {
    const r = ActionSchema.safeParse({ label: 'Open', link: c.link });
    expect(r.success).toBe(c.ok);
    if (!r.success)
      expect(r.error.issues[0]?.message).toBe(
        `expected a link: http:// or https:// and a host, or a path on this site starting with a single /; no spaces, quotes, angle brackets, backslashes or control characters; found ${JSON.stringify(c.link)}`,
      );
  });

  test('validateConfig (what the ingest API runs before storing a config) names every place the link is refused', () => {
    const r = validateConfig(configWith(c.link));
    const linkProblems = r.problems.filter((p) => /link/.test(p.message)).map((p) => p.path);
    expect(r.problems.filter((p) => !/link/.test(p.message))).toEqual([]);
    if (c.ok) {
      expect(r.ok).toBe(true);
      expect(linkProblems).toEqual([]);
      return;
    }
    expect(r.ok).toBe(false);
    const actions = ['checklists[0].items[0].recovery.link', 'checklists[0].items[0].launch.link', 'nudges[0].actions[0].link'];
    // Text links: what the renderer reads as a link's target ends at the first ")" and has no
    // whitespace (`[x](/a b)` is no link at all); that target is checked with the same rule.
    const target = /\]\(([^)\s]+)\)/.exec(`[x](${c.link})`)?.[1];
    const inText = target !== undefined && !SAFE_LINK.test(target) ? ['nudges[0].body', 'recipes[0].steps[0].text'] : [];
    // Shape and text-link problems are reported in one pass: the text links of every entry whose
    // shape is valid (here the recipe; the nudge's own action link makes that nudge invalid).
    expect(linkProblems.sort()).toEqual((r.config ? inText : [...actions, ...inText.filter((p) => p.startsWith('recipes'))]).sort());
    if (!r.config) {
      const text = validateConfig({
        ...configWith('/ok'),
        nudges: [{ id: 'tip', kind: 'banner', body: `Read [the guide](${c.link}).`, when: WHEN }],
        recipes: [{ id: 'tour', title: 'Tour', steps: [{ text: `See [this](${c.link}).` }] }],
      });
      expect(text.problems.map((p) => p.path)).toEqual(inText);
    }
  });
});

test('a refused link in a YAML config is reported with its path and line', () => {
  const r = validateConfigText(
    [
      'version: 1',
      'product: acme',
      'nudges:',
      '  - id: tip',
      '    kind: banner',
      '    body: Hi',
      '    when: { event: x }',
      '    actions:',
      `      - { label: Open, link: '/x"><svg/onload=alert(1)>' }`,
      '  - id: two',
      '    kind: banner',
      '    body: { en: "See [it](javascript:alert(1))", fr: "Voir [ça](/ok)" }',
      '    when: { event: x }',
    ].join('\n'),
  );
  expect(r.ok).toBe(false);
  // Shape and text links in one pass: the action's link (a shape problem) and the second nudge's text link.
  expect(r.problems).toEqual([
    { path: 'nudges[0].actions[0].link', line: 9, message: expect.stringContaining('found "/x\\"><svg/onload=alert(1)>"') },
    { path: 'nudges[1].body.en', line: 12, message: expect.stringContaining('a link Keel will not open (it would show as plain text): "javascript:alert(1"') },
  ]);
  const text = validateConfigText(
    [
      'version: 1',
      'product: acme',
      'nudges:',
      '  - id: two',
      '    kind: banner',
      '    body: { en: "See [it](javascript:alert(1))", fr: "Voir [ça](/ok)" }',
      '    when: { event: x }',
    ].join('\n'),
  );
  expect(text.problems).toEqual([
    { path: 'nudges[0].body.en', line: 6, message: expect.stringContaining('a link Keel will not open (it would show as plain text): "javascript:alert(1"') },
  ]);
});

test('a link inside `code` or **bold** is not a link (the renderer shows it as text), so it is not checked', () => {
  const r = validateConfig({
    version: 1,
    product: 'acme',
    nudges: [{ id: 'tip', kind: 'banner', body: 'Type `[x](javascript:alert(1))` or **[y](javascript:1)**', when: WHEN }],
  });
  expect(r.problems).toEqual([]);
});
