// The routes and settings document Segment's analytics-next uses, as it sends them (text/plain,
// write key in the body and as HTTP Basic, one message a request or a batch to /v1/b).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { buildApp } from './app.js';
import { openSqliteStore, type SqliteStore } from './store/sqlite.js';

const KEY = 'wk_segment';
let store: SqliteStore;
let app: FastifyInstance;
beforeEach(async () => {
  store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-segment-')));
  app = buildApp({ store, writeKeys: [KEY], serverWriteKeys: ['sk_secret'], allowedOrigins: ['http://app.example'], logger: false });
});
afterEach(async () => {
  await app.close();
  await store.close();
});

const basic = `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`;
let n = 0;
/** A message as analytics-next's normalize() leaves it. */
const ajs = (type: string, over: Record<string, unknown> = {}) => ({
  type,
  messageId: `ajs-next-${++n}`,
  anonymousId: 'anon-1',
  userId: null,
  timestamp: '2026-03-01T10:00:00.000Z',
  context: { page: { path: '/', url: 'http://app.example/' }, library: { name: 'analytics.js', version: 'npm:next-1.84.3' } },
  integrations: {},
  writeKey: KEY,
  sentAt: '2026-03-01T10:00:00.100Z',
  ...over,
});
const post = (url: string, body: unknown) =>
  app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'text/plain', authorization: basic, origin: 'http://app.example' },
    payload: JSON.stringify(body),
  });

test("settings: the Segment.io destination points at this server, nothing else loads, Segment's metrics are off", async () => {
  const res = await app.inject({
    method: 'GET',
    url: `/v1/projects/${KEY}/settings`,
    headers: { host: 'keel.example.com:8443', 'x-forwarded-proto': 'https', origin: 'http://app.example' },
  });
  expect(res.statusCode).toBe(200);
  expect(res.headers['access-control-allow-origin']).toBe('http://app.example');
  const s = res.json();
  expect(s.integrations).toEqual({ 'Segment.io': expect.objectContaining({ apiKey: KEY, apiHost: 'keel.example.com:8443/v1', protocol: 'https' }) });
  expect(s.remotePlugins).toEqual([]);
  expect(s.metrics).toEqual({ sampleRate: 0, host: 'keel.example.com:8443/v1' });
  const plain = (await app.inject({ method: 'GET', url: `/v1/projects/${KEY}/settings`, headers: { host: '127.0.0.1:4318' } })).json();
  expect(plain.integrations['Segment.io']).toMatchObject({ apiHost: '127.0.0.1:4318/v1', protocol: 'http' });
});

test('settings refuse unknown write keys, server write keys and a Host that is not one, naming the problem', async () => {
  const get = (key: string, host = 'keel.example.com') => app.inject({ method: 'GET', url: `/v1/projects/${key}/settings`, headers: { host } });
  expect((await get('nope')).statusCode).toBe(404);
  expect((await get('nope')).json().error).toBe('unknown_write_key');
  const secret = await get('sk_secret');
  expect(secret.statusCode).toBe(403);
  expect(secret.json().message).toMatch(/secret/);
  const bad = await get(KEY, 'evil.example/<script>');
  expect(bad.statusCode).toBe(400);
  expect(bad.json().error).toBe('invalid_host');
});

test('/v1/t, /p, /i, /g, /a, /s each store one message of their type; /v1/b a batch; the write key is not stored in the event', async () => {
  const sent = [
    ['/v1/i', ajs('identify', { userId: 'u1', traits: { email: 'a@x' } })],
    ['/v1/g', ajs('group', { userId: 'u1', groupId: 'acme', traits: { plan: 'pro' } })],
    ['/v1/t', ajs('track', { userId: 'u1', event: 'Report Created', properties: { rows: 3 } })],
    ['/v1/p', ajs('page', { userId: 'u1', name: 'Home', properties: { path: '/' } })],
    ['/v1/s', ajs('screen', { userId: 'u1', name: 'Settings' })],
    ['/v1/a', ajs('alias', { userId: 'u1', previousId: 'anon-1' })],
  ] as const;
  for (const [url, body] of sent) {
    const res = await post(url, body);
    expect(res.statusCode, url).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 1 });
  }
  const batch = await post('/v1/b', {
    writeKey: KEY,
    sentAt: '2026-03-01T10:00:01.000Z',
    batch: [ajs('track', { userId: 'u1', event: 'A' }), ajs('track', { userId: 'u1', event: 'B' })],
  });
  expect(batch.json()).toMatchObject({ accepted: 2, duplicates: 0 });
  const stored = await store.list({ writeKey: KEY });
  expect(stored.map((r) => r.type)).toEqual(['identify', 'group', 'track', 'page', 'screen', 'alias', 'track', 'track']);
  expect(stored.every((r) => !('writeKey' in JSON.parse(r.payload)))).toBe(true);
  // Every message after the group call is its user's: attributed to acme without context.groupId.
  expect(stored.slice(1).map((r) => r.groupId)).toEqual(Array(7).fill('acme'));
});

test('a message sent to the wrong letter is refused with the route to use; /v1/m is accepted and ignored', async () => {
  const wrong = await post('/v1/t', ajs('page', { name: 'x' }));
  expect(wrong.statusCode).toBe(400);
  expect(wrong.json().message).toMatch(/send it to \/v1\/batch, or to \/v1\/page/);
  const metrics = await app.inject({
    method: 'POST',
    url: '/v1/m',
    headers: { 'content-type': 'text/plain' },
    payload: JSON.stringify({ series: [{ type: 'Counter', metric: 'analytics_js.invoke', value: 1, tags: {} }] }),
  });
  expect(metrics.statusCode).toBe(200);
  expect(await store.count({ writeKey: KEY })).toBe(0);
});

test('the CORS preflight analytics-next triggers (Authorization, X-Retry-Count) is allowed for an allowed origin', async () => {
  const res = await app.inject({
    method: 'OPTIONS',
    url: '/v1/t',
    headers: {
      origin: 'http://app.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type,x-retry-count',
    },
  });
  expect(res.statusCode).toBe(204);
  expect(res.headers['access-control-allow-headers']).toMatch(/x-retry-count/);
});
