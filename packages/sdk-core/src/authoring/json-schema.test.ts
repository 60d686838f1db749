// The config's JSON Schema as an editor or a validator other than Keel's sees it: ajv in strict
// mode compiles it without a warning (standard formats and keywords only, besides the two editor
// hints VS Code reads), every field says what it is, the example config passes and typos fail.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_SCHEMA_ID, configJsonSchema } from './json-schema.js';

type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

function compile() {
  const warnings: string[] = [];
  const log = (...args: unknown[]) => warnings.push(args.map(String).join(' '));
  // `type: [string, number]` is standard JSON Schema; ajv's strict mode asks to opt in to it.
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true, logger: { log, warn: log, error: log } });
  addFormats.default(ajv);
  // VS Code's (and yaml-language-server's) completion hints for enum values: annotations only.
  ajv.addKeyword({ keyword: 'enumDescriptions', schemaType: 'array' });
  ajv.addKeyword({ keyword: 'markdownEnumDescriptions', schemaType: 'array' });
  const validate = ajv.compile(configJsonSchema());
  return { validate, warnings };
}

/** Every schema under a `properties` map or in `$defs`, with its JSON pointer. */
function fields(root: Node): { at: string; schema: Node }[] {
  const out: { at: string; schema: Node }[] = [];
  const walk = (v: unknown, at: string) => {
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${at}/${i}`));
    if (!isNode(v)) return;
    for (const [k, child] of Object.entries(v)) {
      if ((k === 'properties' || k === '$defs') && isNode(child))
        for (const [name, s] of Object.entries(child)) if (isNode(s)) out.push({ at: `${at}/${k}/${name}`, schema: s });
      walk(child, `${at}/${k}`);
    }
  };
  walk(root, '#');
  return out;
}

const fixture = parse(readFileSync(new URL('./fixtures/acme.keel.yaml', import.meta.url), 'utf8')) as Node;

describe('the config JSON Schema', () => {
  it('has an $id and compiles under ajv strict mode with no warning', () => {
    const schema = configJsonSchema();
    expect(schema.$id).toBe(CONFIG_SCHEMA_ID);
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const { warnings } = compile();
    expect(warnings).toEqual([]);
  });

  it('uses only formats ajv-formats knows', () => {
    const formats = new Set<string>();
    const walk = (v: unknown) => {
      if (Array.isArray(v)) return v.forEach(walk);
      if (!isNode(v)) return;
      if (typeof v.format === 'string') formats.add(v.format);
      Object.values(v).forEach(walk);
    };
    walk(configJsonSchema());
    const known = new Set(['date', 'time', 'date-time', 'duration', 'uri', 'uri-reference', 'email', 'hostname', 'ipv4', 'ipv6', 'regex', 'uuid']);
    expect([...formats].filter((f) => !known.has(f))).toEqual([]);
  });

  it('describes every field', () => {
    const list = fields(configJsonSchema() as Node);
    expect(list.length).toBeGreaterThan(100);
    const defs = (configJsonSchema() as { $defs: Record<string, Node> }).$defs;
    // A reference may carry its own description, or take its target's.
    const described = (s: Node): boolean =>
      typeof s.description === 'string' ? s.description.length >= 8 : typeof s.$ref === 'string' && described(defs[s.$ref.replace('#/$defs/', '')] ?? {});
    const bare = list.filter(({ schema }) => !described(schema)).map(({ at }) => at);
    expect(bare).toEqual([]);
  });

  it('accepts the example config and names what is wrong in a broken one', () => {
    const { validate } = compile();
    expect(validate(fixture), JSON.stringify(validate.errors)).toBe(true);
    const broken = structuredClone(fixture) as { checklists: { items: Node[] }[] };
    broken.checklists[0]!.items[0]!.titel = 'typo';
    expect(validate(broken)).toBe(false);
    expect(
      validate.errors?.some((e) => e.keyword === 'additionalProperties' && (e.params as { additionalProperty?: string }).additionalProperty === 'titel'),
    ).toBe(true);
    const badRoute = structuredClone(fixture) as Node;
    badRoute.recipes = [{ id: 'r', title: 'R', steps: [{ text: 'go', route: 'reports' }] }];
    expect(validate(badRoute)).toBe(false);
    expect(validate.errors?.some((e) => e.keyword === 'pattern' && e.instancePath.endsWith('/route'))).toBe(true);
  });
});
