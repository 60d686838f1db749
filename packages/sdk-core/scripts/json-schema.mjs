// Writes keel-config.schema.json from the zod schema (run after rollup): editors use it for
// completion and errors in keel.yaml (`# yaml-language-server: $schema=…`) and JSON configs.
import { writeFileSync } from 'node:fs';
import * as z from 'zod';
import { ConfigSchema } from '../dist/schema.js';

const schema = z.toJSONSchema(ConfigSchema, { target: 'draft-2020-12', unrepresentable: 'any', cycles: 'ref', io: 'input' });
schema.title = 'Keel config';
schema.description = 'Checklists, nudges, recipes, health, lifecycle and status for Keel, authored by CS teams.';
writeFileSync(new URL('../keel-config.schema.json', import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);
console.log(`keel-config.schema.json: ${Object.keys(schema.properties ?? {}).length} top-level properties`);
