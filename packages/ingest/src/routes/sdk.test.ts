// /sdk/: the script-tag SDK's files from @keel/embed's build, and nothing else.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { buildApp } from '../app.js';
import { openSqliteStore } from '../store/sqlite.js';
import { embedDist } from './sdk.js';

const store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-sdk-')));
const app = buildApp({ store, writeKeys: ['wk'], logger: false, rateLimit: false, allowedOrigins: ['https://app.example.com'] });
const off = buildApp({ store, writeKeys: ['wk'], logger: false, rateLimit: false, sdkDir: false });
afterAll(async () => {
  await app.close();
  await off.close();
  await store.close();
});

test('keel.js: any origin, no credentials, revalidated after 5 minutes, brotli or gzip as accepted', async () => {
  expect(embedDist(), '@keel/embed is built by `pnpm run build`').toBeDefined();
  const plain = await app.inject({ method: 'GET', url: '/sdk/keel.js', headers: { origin: 'https://elsewhere.example' } });
  expect(plain.statusCode).toBe(200);
  expect(plain.headers).toMatchObject({
    'content-type': expect.stringMatching(/^(application|text)\/javascript/),
    'cache-control': 'public, max-age=300, must-revalidate',
    'access-control-allow-origin': '*',
    'cross-origin-resource-policy': 'cross-origin',
    'x-content-type-options': 'nosniff',
  });
  expect(plain.headers['access-control-allow-credentials']).toBeUndefined();
  expect(plain.body).toContain('data-write-key');
  const br = await app.inject({ method: 'GET', url: '/sdk/keel.js', headers: { 'accept-encoding': 'br, gzip' } });
  expect([br.headers['content-encoding'], Number(br.headers['content-length'])]).toEqual(['br', expect.any(Number)]);
  expect(Number(br.headers['content-length'])).toBeLessThan(plain.body.length);
  const gz = await app.inject({ method: 'GET', url: '/sdk/keel.js', headers: { 'accept-encoding': 'gzip' } });
  expect(gz.headers['content-encoding']).toBe('gzip');
});

test('chunks are immutable; the manifest lists every file with its SRI hash', async () => {
  const m = (await app.inject({ method: 'GET', url: '/sdk/manifest.json' })).json() as { files: Record<string, { integrity: string }> };
  expect(m.files['keel.js']!.integrity).toMatch(/^sha384-[A-Za-z0-9+/]+=*$/);
  const chunk = Object.keys(m.files).find((f) => f.startsWith('chunks/'))!;
  const r = await app.inject({ method: 'GET', url: `/sdk/${chunk}` });
  expect([r.statusCode, r.headers['cache-control']]).toEqual([200, 'public, max-age=31536000, immutable']);
});

test.each(['/sdk/../package.json', '/sdk/%2e%2e/package.json', '/sdk/nope.js', '/sdk/keel.js.gz', '/sdk/', '/sdk/chunks/'])(
  '%s: 404, never a file outside the build',
  async (url) => {
    const r = await app.inject({ method: 'GET', url });
    expect(r.statusCode).toBe(404);
    expect(r.body).not.toContain('"name": "@keel/embed"');
  },
);

test('sdkDir: false serves nothing under /sdk/', async () => {
  expect((await off.inject({ method: 'GET', url: '/sdk/keel.js' })).statusCode).toBe(404);
});
