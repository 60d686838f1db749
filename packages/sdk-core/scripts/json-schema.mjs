// Writes keel-config.schema.json (run after rollup) from the zod schema, through the same
// function `keel serve` uses for /schema/keel-config.json.
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../dist/authoring.js';

const schema = configJsonSchema();
writeFileSync(new URL('../keel-config.schema.json', import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);
console.log(`keel-config.schema.json: ${Object.keys(schema.properties ?? {}).length} top-level properties`);
