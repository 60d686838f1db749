// docs/elements.md stays what the packages' Custom Elements Manifests say.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { elementsDoc } from '../../scripts/elements-doc.mjs';

test('docs/elements.md is what the custom-elements.json files generate (run `npm run docs:elements` after changing an element)', () => {
  const doc = (elementsDoc as () => string)();
  expect(readFileSync(new URL('../../docs/elements.md', import.meta.url), 'utf8')).toBe(doc);
  for (const tag of ['keel-checklist', 'keel-nudge', 'keel-recipe', 'keel-health-badge', 'keel-status']) expect(doc).toContain(`## \`<${tag}>\``);
});
