/**
 * The config's JSON Schema (draft 2020-12), generated from the zod schema so the two can't
 * drift: editors use it for completion and errors in keel.yaml (`# yaml-language-server:
 * $schema=…`); the build writes it to keel-config.schema.json and `keel serve` serves it at
 * /schema/keel-config.json. Every field carries a description (json-schema.test.ts checks it).
 */
import * as z from 'zod';
import { ConfigSchema } from '../schema/document.js';

/** A stable identifier, not a download location (each deployment serves its own copy). */
export const CONFIG_SCHEMA_ID = 'urn:keel:schema:config:1';

let cached: Record<string, unknown> | undefined;

/** The JSON Schema of a config document (the same object on every call: don't mutate it). */
export function configJsonSchema(): Readonly<Record<string, unknown>> {
  if (cached) return cached;
  const { $schema, ...rest } = z.toJSONSchema(ConfigSchema, { target: 'draft-2020-12', unrepresentable: 'any', cycles: 'ref', io: 'input' });
  cached = {
    $schema,
    $id: CONFIG_SCHEMA_ID,
    title: 'Keel config',
    description: 'Checklists, nudges, recipes, health, lifecycle, status, fatigue and timeline for Keel, authored by CS teams.',
    ...rest,
  };
  return cached;
}
