import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { FACTS, KNOWN_EVENTS, METRICS } from './health.js';

const doc = readFileSync(new URL('../../../../docs/health-and-alerts.md', import.meta.url), 'utf8');

test('docs/health-and-alerts.md lists every metric, fact and known event with its definition', () => {
  for (const d of [...METRICS, ...FACTS, ...KNOWN_EVENTS]) expect(doc).toContain(`| \`${d.name}\` | ${d.description.replace(/\|/g, '\\|')} |`);
  const rows = doc.split('\n').filter((l) => /^\| `[a-z_.0-9]+` \|/.test(l));
  expect(rows).toHaveLength(METRICS.length + FACTS.length + KNOWN_EVENTS.length);
});
