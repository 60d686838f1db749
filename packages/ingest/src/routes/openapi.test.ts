// /openapi.json: a valid OpenAPI 3 document (checked by an OpenAPI validator) that lists every
// route Fastify registered, collected by an onRoute hook.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { CONFIG_SCHEMA_ID, configJsonSchema, validateConfig } from '@keel/sdk-core/authoring';
import { afterAll, describe, expect, test } from 'vitest';
import { buildApp } from '../app.js';
import { storeServices } from '../store/open.js';
import { openSqliteStore } from '../store/sqlite.js';

const store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-openapi-')));
const app = buildApp({
  store,
  writeKeys: ['wk'],
  adminKeys: ['adm'],
  secretKeys: ['s'],
  logger: false,
  rateLimit: false,
  ...storeServices(store),
  validateConfig: (doc) => validateConfig(doc),
});
const routes: { method: string; url: string; hidden: boolean }[] = [];
app.addHook('onRoute', (r) => {
  for (const method of [r.method].flat()) routes.push({ method, url: r.url, hidden: !!(r.schema as { hide?: boolean } | undefined)?.hide });
});
afterAll(async () => {
  await app.close();
  await store.close();
});

/** Fastify's `/v1/tenants/:id/health` is OpenAPI's `/v1/tenants/{id}/health`. */
const openapiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('GET /openapi.json', () => {
  test('is served without auth and passes an OpenAPI 3 validator', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  test('lists every route Fastify registered, with its method', async () => {
    await app.ready();
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    // HEAD routes are Fastify's automatic twins of GET routes, and the CORS preflight (OPTIONS *) is @fastify/cors's own: neither is part of the API.
    // The script-tag SDK's files (/sdk/keel.js and its chunks, one static route each) are files, not API.
    const api = routes.filter((r) => r.method !== 'HEAD' && !(r.method === 'OPTIONS' && r.url === '*') && !r.url.startsWith('/sdk/'));
    expect(routes.some((r) => r.url === '/sdk/keel.js')).toBe(true);
    expect(api.length).toBeGreaterThan(25);
    const missing = api.filter((r) => !doc.paths[openapiPath(r.url)]?.[r.method.toLowerCase()]).map((r) => `${r.method} ${r.url}`);
    expect(missing).toEqual([]);
    for (const url of ['/v1/batch', '/v1/progress', '/v1/admin/config', '/v1/tenants/{id}/health', '/metrics', '/readyz', '/openapi.json'])
      expect(Object.keys(doc.paths)).toContain(url);
  });

  test('route schemas carry their parts: params, query, body and answers', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const put = doc.paths['/v1/progress'].put;
    expect(put.requestBody.content['application/json'].schema.properties.entries.type).toBe('array');
    expect(put.parameters.map((p: { name: string }) => p.name)).toContain('pendingSince');
    expect(Object.keys(put.responses)).toEqual(expect.arrayContaining(['200', '400', '401']));
    expect(doc.paths['/v1/tenants/{id}/health'].get.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'id', in: 'path', required: true })]),
    );
    // The batch body is the hand-written JSON schema (the route keeps its own validation).
    expect(doc.paths['/v1/batch'].post.requestBody.content['application/json'].schema.required).toEqual(['batch']);
    expect(doc.paths['/v1/batch'].post.responses['200'].content['application/json'].schema.properties.accepted.type).toBe('integer');
    // Who may call it: the auth hooks' schemes.
    expect(Object.keys(doc.components.securitySchemes)).toEqual(['writeKey', 'adminKey', 'userToken']);
    expect(doc.paths['/v1/admin/audit'].get.security).toEqual([{ adminKey: [] }]);
    expect(doc.paths['/v1/tenants/{id}/health'].get.security).toEqual([{ adminKey: [] }, { userToken: [] }]);
    expect(doc.paths['/v1/batch'].post.security).toEqual([{ writeKey: [] }]);
    expect(doc.paths['/metrics'].get.security).toEqual([{ adminKey: [] }]);
    expect(doc.paths['/readyz'].get.security).toBeUndefined();
  });
});

describe('GET /schema/keel-config.json', () => {
  test("serves the config's JSON Schema, cacheable, with its $id, without auth", async () => {
    const res = await app.inject({ method: 'GET', url: '/schema/keel-config.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/schema\+json/);
    expect(res.headers['cache-control']).toBe('public, max-age=3600');
    const schema = res.json();
    expect(schema.$id).toBe(CONFIG_SCHEMA_ID);
    expect(schema).toEqual(configJsonSchema());
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['checklists', 'nudges', 'recipes', 'health', 'lifecycle']));
  });
});
