// docs/api.md from the OpenAPI document the route schemas generate: `npm run docs:api` writes it
// (scripts/api-doc.mjs), and api-doc.test.ts fails when the committed file is out of date.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from './app.js';
import { storeServices } from './store/open.js';
import { openSqliteStore } from './store/sqlite.js';

type Json = Record<string, unknown>;
interface Operation {
  summary?: string;
  tags?: string[];
  parameters?: { name: string; in: string; required?: boolean; description?: string; schema?: Json }[];
  requestBody?: { content?: Record<string, { schema?: Json }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Json }> }>;
  security?: Record<string, unknown>[];
}

const SCHEMES: Record<string, string> = { writeKey: 'write key', adminKey: 'admin key', userToken: 'user token' };

/** The OpenAPI document of an app with every service (what `keel serve` runs), from a throw-away store. */
export async function openApiDocument(): Promise<Json> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-api-doc-'));
  const store = await openSqliteStore(dir);
  const app = buildApp({
    store,
    writeKeys: ['wk'],
    adminKeys: ['adm'],
    secretKeys: ['s'],
    logger: false,
    rateLimit: false,
    ...storeServices(store),
    validateConfig: () => ({ ok: true, problems: [] }),
  });
  try {
    await app.ready();
    return app.swagger() as unknown as Json;
  } finally {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const typeOf = (s: Json | undefined): string => {
  if (!s) return '';
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.type === 'array') return `${typeOf(s.items as Json | undefined) || 'any'}[]`;
  if (Array.isArray(s.anyOf)) return (s.anyOf as Json[]).map(typeOf).join(' \\| ');
  const t = Array.isArray(s.type) ? s.type.join(' \\| ') : ((s.type as string | undefined) ?? 'any');
  return s.format ? `${t} (${s.format as string})` : t;
};
const cell = (s: unknown) =>
  String(s ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');

/** The fields of an object schema as a table (one level: deeper ones are named by type). */
function fields(s: Json | undefined): string[] {
  const props = s?.properties as Record<string, Json> | undefined;
  if (!props || !Object.keys(props).length) return s ? [`${typeOf(s)}${s.description ? `: ${s.description as string}` : ''}`, ''] : [];
  const required = new Set((s?.required as string[] | undefined) ?? []);
  return [
    '| field | type | required | description |',
    '|---|---|---|---|',
    ...Object.entries(props).map(([k, v]) => `| \`${k}\` | ${typeOf(v)} | ${required.has(k) ? 'yes' : ''} | ${cell(v.description)} |`),
    '',
  ];
}

/** Markdown: the operations by tag, each with its parameters, body and answers. */
export function renderApiDoc(doc: Json): string {
  const info = doc.info as { title: string; version: string; description?: string };
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const tags = (doc.tags as { name: string; description?: string }[] | undefined) ?? [];
  const out = [
    `# ${info.title} (${info.version})`,
    '',
    '<!-- Generated from the route schemas (GET /openapi.json) by `npm run docs:api`; do not edit by hand. -->',
    '',
    info.description ?? '',
    '',
    'Errors answer `{"ok": false, "error": "<code>", "message": "<what went wrong>"}`; a 503 or 429 carries `Retry-After`.',
    'The same document, machine-readable, is served at `GET /openapi.json`.',
    '',
  ];
  const ops = Object.entries(paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));
  for (const tag of tags) {
    const mine = ops.filter((o) => (o.op.tags ?? [])[0] === tag.name);
    if (!mine.length) continue;
    out.push(`## ${tag.name}`, '', tag.description ?? '', '');
    for (const { path, method, op } of mine) {
      out.push(`### ${method.toUpperCase()} ${path}`, '', op.summary ?? '', '');
      const auth = (op.security ?? []).map((s) =>
        Object.keys(s)
          .map((k) => SCHEMES[k] ?? k)
          .join(' and '),
      );
      out.push(`Auth: ${auth.length ? auth.join(', or ') : 'none'}.`, '');
      const params = op.parameters ?? [];
      if (params.length) {
        out.push('| parameter | in | type | required | description |', '|---|---|---|---|---|');
        for (const p of params)
          out.push(`| \`${p.name}\` | ${p.in} | ${typeOf(p.schema)} | ${p.required ? 'yes' : ''} | ${cell(p.description ?? p.schema?.description)} |`);
        out.push('');
      }
      const body = op.requestBody?.content?.['application/json']?.schema;
      if (body) out.push('Body:', '', ...fields(body));
      out.push('Answers:', '');
      for (const [code, r] of Object.entries(op.responses ?? {})) {
        const schema = Object.values(r.content ?? {})[0]?.schema;
        const keys = schema?.properties
          ? Object.keys(schema.properties as Json)
              .map((k) => `\`${k}\``)
              .join(', ')
          : typeOf(schema);
        out.push(`- **${code}**${keys ? `: ${keys}` : ''}${r.description && r.description !== 'Default Response' ? ` (${r.description})` : ''}`);
      }
      out.push('');
    }
  }
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`;
}
