import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { buildApp } from '../app.js';
import { openSqliteStore } from '../store/sqlite.js';
import { signUserToken } from '../token.js';

test('incidents: admin only, validated; /v1/status: a user token, ETag and 304, tenant-scoped', async () => {
  const store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-status-')));
  await store.config.publish({
    document: JSON.stringify({ version: 1, product: 'acme', status: { components: [{ id: 'api', name: 'API' }] } }),
    hash: 'h',
    publishedAt: new Date().toISOString(),
    publishedBy: 't',
    summary: 'first version',
  });
  const app = buildApp({ store, writeKeys: ['wk'], adminKeys: ['adm'], secretKeys: ['s'], status: store.status, logger: false });
  const post = (body: unknown, auth = 'adm') =>
    app.inject({ method: 'POST', url: '/v1/admin/incidents', headers: { authorization: `Bearer ${auth}` }, payload: JSON.stringify(body) });
  expect((await post({ title: 'x' }, 'nope')).statusCode).toBe(401);
  const bad = await post({ title: '', impact: 'meh', colour: 'red' });
  expect(bad.statusCode).toBe(400);
  expect(bad.json().message).toMatch(/title.*impact.*unrecognized|Unrecognized key/is);
  const token = (tenant: string) => ({ authorization: `Bearer ${signUserToken({ sub: 'u', tenant }, 's')}` });
  expect((await app.inject({ method: 'GET', url: '/v1/status' })).json().error).toBe('missing_user_token');
  const first = await app.inject({ method: 'GET', url: '/v1/status', headers: token('acme') });
  expect(first.json()).toMatchObject({ overall: 'operational', components: [{ id: 'api', status: 'operational' }], incidents: [] });
  const etag = first.headers.etag as string;
  expect((await app.inject({ method: 'GET', url: '/v1/status', headers: { ...token('acme'), 'if-none-match': etag } })).statusCode).toBe(304);
  expect((await post({ id: 'acme-api', title: 'API errors', components: ['api'], impact: 'outage', tenants: ['acme'] })).statusCode).toBe(201);
  const changed = await app.inject({ method: 'GET', url: '/v1/status', headers: { ...token('acme'), 'if-none-match': etag } });
  expect(changed.json()).toMatchObject({ overall: 'outage', components: [{ status: 'outage' }], incidents: [{ id: 'acme-api' }] });
  expect(changed.json().incidents[0].tenants).toBeUndefined(); // who else is affected is not disclosed
  expect((await app.inject({ method: 'GET', url: '/v1/status', headers: token('globex') })).json().overall).toBe('operational');
  await app.close();
  await store.close();
});
