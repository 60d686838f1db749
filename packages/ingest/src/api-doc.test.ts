import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { openApiDocument, renderApiDoc } from './api-doc.js';

test('docs/api.md is what the route schemas generate (run `npm run docs:api` after changing a route)', async () => {
  const doc = await openApiDocument();
  const md = renderApiDoc(doc);
  expect(md).toContain('### POST /v1/batch');
  expect(md).toContain('### GET /v1/tenants/{id}/health');
  expect(readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8')).toBe(md);
});
