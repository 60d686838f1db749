// Writes docs/api.md from the OpenAPI document the ingest routes generate (the built package:
// `npm run docs:api` builds it first). packages/ingest/src/api-doc.test.ts fails when it is stale.
import { writeFileSync } from 'node:fs';
import { openApiDocument, renderApiDoc } from '../packages/ingest/dist/index.js';

const out = new URL('../docs/api.md', import.meta.url);
writeFileSync(out, renderApiDoc(await openApiDocument()));
console.log(`wrote ${out.pathname}`);
