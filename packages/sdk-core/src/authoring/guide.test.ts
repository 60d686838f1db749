// docs/authoring.md stays true: its YAML examples, put together, are one config the validator accepts.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { expect, test } from 'vitest';
import { validateConfig } from './validate.js';

const guide = readFileSync(new URL('../../../../docs/authoring.md', import.meta.url), 'utf8');
const blocks = [...guide.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

test("the authoring guide's examples form a config that validates, every section of it", () => {
  expect(blocks.length).toBeGreaterThan(5);
  const doc: Record<string, unknown> = {};
  for (const b of blocks) {
    const v = parse(b) as Record<string, unknown>;
    // A fragment (one key inside an entry, such as a per-locale title) is not a section.
    if ('title' in v && Object.keys(v).length === 1) continue;
    for (const [k, val] of Object.entries(v)) {
      expect(doc, `section ${k} appears in two examples`).not.toHaveProperty(k);
      doc[k] = val;
    }
  }
  const r = validateConfig(doc);
  expect(r.problems).toEqual([]);
  expect(Object.keys(doc).sort()).toEqual([
    'checklists',
    'errors',
    'fatigue',
    'health',
    'lifecycle',
    'nudges',
    'product',
    'recipes',
    'status',
    'timeline',
    'version',
  ]);
});
