// Access control over the real app and a real SQLite store: the admin key refused from browsers,
// CORS by @fastify/cors (none on /v1/admin/*), the origin allowlist, rate limits, load shedding.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, test } from 'vitest';
import { type AppOptions, buildApp } from './app.js';
import { openSqliteStore, type SqliteStore } from './store/sqlite.js';
import { signUserToken } from './token.js';

const KEY = 'wk_access';
const ADMIN = 'admin-access-secret';
const SECRET = 'token-secret';
const APP_ORIGIN = 'https://app.example';
const EVIL = 'http://evil.example';
const BROWSER_MESSAGE = 'the admin key is for servers; never put it in a page';

const open: { app: FastifyInstance; store: SqliteStore }[] = [];
afterEach(async () => {
  for (const { app, store } of open.splice(0)) {
    await app.close();
    await store.close();
  }
});

async function make(over: Partial<AppOptions> = {}) {
  const store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-access-')));
  const app = buildApp({
    store,
    writeKeys: [KEY, 'wk_b'],
    adminKeys: [ADMIN],
    secretKeys: [SECRET],
    allowedOrigins: [APP_ORIGIN],
    logger: false,
    config: store.config,
    progress: store.progress,
    facts: store.facts,
    status: store.status,
    timeline: store.timeline,
    ...over,
  });
  open.push({ app, store });
  return { app, store };
}

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
const bearer = (k: string) => `Bearer ${k}`;
let n = 0;
const batch = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    batch: [{ type: 'track', event: 'feature.used', messageId: `acc-${++n}`, anonymousId: 'a1', timestamp: new Date().toISOString(), ...over }],
  });
const postBatch = (app: FastifyInstance, headers: Record<string, string> = {}, body = batch(), remoteAddress?: string) =>
  app.inject({
    method: 'POST',
    url: '/v1/batch',
    headers: { 'content-type': 'text/plain', authorization: basic(KEY), ...headers },
    payload: body,
    ...(remoteAddress ? { remoteAddress } : {}),
  });

describe('the admin key is refused from browsers', () => {
  const browsers: [string, Record<string, string>][] = [
    ['an allowed Origin', { origin: APP_ORIGIN }],
    ['Sec-Fetch-Site alone (a same-origin page)', { 'sec-fetch-site': 'same-origin' }],
    ['a foreign Origin on a read', { origin: EVIL }],
  ];

  test.each(browsers)('%s: the audit log is refused with a 403 that says why', async (_label, headers) => {
    const { app } = await make();
    const res = await app.inject({ method: 'GET', url: '/v1/admin/audit', headers: { authorization: bearer(ADMIN), ...headers } });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ ok: false, error: 'admin_key_from_browser', message: BROWSER_MESSAGE });
    expect(app.accessStats.adminKeyFromBrowser).toBe(1);
  });

  test('an incident can not be created from a page, config not published; from a server both work', async () => {
    const { app, store } = await make();
    const incident = JSON.stringify({ id: 'fake', title: 'We were hacked' });
    const fromPage = await app.inject({
      method: 'POST',
      url: '/v1/admin/incidents',
      headers: { authorization: bearer(ADMIN), origin: APP_ORIGIN, 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' },
      payload: incident,
    });
    expect(fromPage.statusCode).toBe(403);
    expect(fromPage.json().message).toBe(BROWSER_MESSAGE);
    expect((await store.status.forTenant('acme')).status.incidents).toEqual([]);
    const publish = await app.inject({
      method: 'POST',
      url: '/v1/admin/config',
      headers: { authorization: bearer(ADMIN), 'sec-fetch-site': 'same-origin' },
      payload: JSON.stringify({ config: { version: 1, product: 'x' } }),
    });
    expect(publish.statusCode).toBe(403);
    expect(await store.config.latest()).toBeUndefined();
    expect((await store.config.audit()).length).toBe(0);

    const fromServer = await app.inject({
      method: 'POST',
      url: '/v1/admin/incidents',
      headers: { authorization: bearer(ADMIN), 'content-type': 'application/json' },
      payload: incident,
    });
    expect(fromServer.statusCode).toBe(201);
    expect((await store.status.forTenant('acme')).status.incidents.map((i) => i.id)).toEqual(['fake']);
    const audit = await app.inject({ method: 'GET', url: '/v1/admin/audit', headers: { authorization: bearer(ADMIN) } });
    expect(audit.statusCode).toBe(200);
  });

  test('wherever else the admin key is accepted (tenant routes, GET /v1/config) a browser is refused; user tokens from pages still work', async () => {
    const { app } = await make();
    const page = { origin: APP_ORIGIN, 'sec-fetch-site': 'cross-site' };
    const tl = await app.inject({ method: 'GET', url: '/v1/tenants/acme/timeline', headers: { authorization: bearer(ADMIN), ...page } });
    expect(tl.statusCode).toBe(403);
    expect(tl.json()).toMatchObject({ error: 'admin_key_from_browser', message: BROWSER_MESSAGE });
    expect((await app.inject({ method: 'GET', url: '/v1/tenants/acme/timeline', headers: { authorization: bearer(ADMIN) } })).statusCode).toBe(200);

    const cfg = await app.inject({ method: 'GET', url: '/v1/config', headers: { authorization: bearer(ADMIN), ...page } });
    expect(cfg.statusCode).toBe(403);
    expect(cfg.json().error).toBe('admin_key_from_browser');
    expect((await app.inject({ method: 'GET', url: '/v1/config', headers: { authorization: bearer(ADMIN) } })).json().error).toBe('no_config');
    // A page reads config with the write key, as the SDK does.
    expect((await app.inject({ method: 'GET', url: `/v1/config?writeKey=${KEY}`, headers: page })).json().error).toBe('no_config');

    const token = signUserToken({ sub: 'ada', tenant: 'acme', role: 'admin' }, SECRET);
    const mine = await app.inject({ method: 'GET', url: '/v1/tenants/acme/timeline', headers: { authorization: bearer(token), ...page } });
    expect(mine.statusCode).toBe(200);
    expect(mine.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(app.accessStats.adminKeyFromBrowser).toBe(2);
  });

  test('CORS never grants Authorization on /v1/admin/*, however the path is spelled; other routes still grant it', async () => {
    const { app } = await make({ allowedOrigins: ['*'] });
    const preflight = (url: string) =>
      app.inject({
        method: 'OPTIONS',
        url,
        headers: { origin: APP_ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
    for (const url of ['/v1/admin/audit', '/v1/admin/incidents', '/v1//admin/audit', '/v1/%61dmin/audit', '/v1/admin/audit?x=1']) {
      const res = await preflight(url);
      expect(res.statusCode, url).toBe(403);
      expect(res.headers['access-control-allow-origin'], url).toBeUndefined();
      expect(res.headers['access-control-allow-headers'], url).toBeUndefined();
      expect(res.headers['access-control-allow-credentials'], url).toBeUndefined();
      expect(res.json().error).toBe('admin_not_for_browsers');
    }
    // An actual admin request from a page gets no CORS grant either (the page can't read it).
    const read = await app.inject({ method: 'GET', url: '/v1/admin/audit', headers: { origin: APP_ORIGIN, authorization: bearer(ADMIN) } });
    expect(read.headers['access-control-allow-origin']).toBeUndefined();

    const user = await preflight('/v1/tenants/acme/timeline');
    expect(user.statusCode).toBe(204);
    expect(user.headers['access-control-allow-headers']).toContain('authorization');
  });
});

describe('CORS by @fastify/cors, as the hand-written hook did', () => {
  test('an allowed origin: preflight with methods, headers, credentials and max-age; answers expose etag and retry-after', async () => {
    const { app } = await make();
    const pre = await app.inject({
      method: 'OPTIONS',
      url: '/v1/batch',
      headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers).toMatchObject({
      'access-control-allow-origin': APP_ORIGIN,
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, POST, PUT, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type, content-encoding, if-none-match, x-retry-count',
      'access-control-max-age': '86400',
    });
    expect(String(pre.headers.vary)).toContain('Origin');
    // The SDK's batch: text/plain, the key in the body, no custom header: no preflight needed.
    const res = await app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { origin: APP_ORIGIN, 'content-type': 'text/plain;charset=UTF-8' },
      payload: JSON.stringify({ ...JSON.parse(batch()), writeKey: KEY }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-expose-headers']).toBe('etag, retry-after');
  });

  test('`*` reflects any origin; no Origin (a server) gets no CORS headers', async () => {
    const { app } = await make({ allowedOrigins: ['*'] });
    const res = await postBatch(app, { origin: 'https://anyone.example' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://anyone.example');
    const server = await postBatch(app);
    expect(server.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('the origin allowlist means something', () => {
  test('a browser write from another origin: 403 naming it, not stored, counted and logged at warn; servers and the allowed origin unaffected', async () => {
    const lines: string[] = [];
    const { app, store } = await make({ logger: { level: 'warn', stream: { write: (l: string) => void lines.push(l) } } });
    const evil = await postBatch(app, { origin: EVIL });
    expect(evil.statusCode).toBe(403);
    expect(evil.json()).toMatchObject({ ok: false, error: 'origin_not_allowed' });
    expect(evil.json().message).toContain(`"${EVIL}"`);
    const single = await app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: { origin: EVIL, 'content-type': 'text/plain' },
      payload: JSON.stringify({ writeKey: KEY, event: 'x', messageId: 'evil-1', anonymousId: 'a' }),
    });
    expect(single.statusCode).toBe(403);
    const token = signUserToken({ sub: 'ada', tenant: 'acme' }, SECRET);
    const progress = await app.inject({
      method: 'PUT',
      url: '/v1/progress',
      headers: { origin: EVIL, authorization: bearer(token) },
      payload: JSON.stringify({ entries: [] }),
    });
    expect(progress.statusCode).toBe(403);
    const pre = await app.inject({ method: 'OPTIONS', url: '/v1/batch', headers: { origin: EVIL, 'access-control-request-method': 'POST' } });
    expect(pre.statusCode).toBe(403);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    expect(await store.count({ writeKey: KEY })).toBe(0);
    expect(app.accessStats.refusedOrigins).toBe(4);
    const warned = lines.map((l) => JSON.parse(l) as { level: number; origin?: string; msg: string }).filter((l) => l.origin === EVIL);
    expect(warned).toHaveLength(4);
    expect(warned.every((l) => l.level === 40 && /allowed-origin/.test(l.msg))).toBe(true);

    expect((await postBatch(app)).statusCode).toBe(200); // server-to-server: no Origin
    expect((await postBatch(app, { origin: APP_ORIGIN })).statusCode).toBe(200);
    // Reads are not writes: a foreign page can't read them anyway (no CORS grant).
    const read = await app.inject({ method: 'GET', url: `/v1/config?writeKey=${KEY}`, headers: { origin: EVIL } });
    expect(read.statusCode).toBe(404);
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
    expect(await store.count({ writeKey: KEY })).toBe(2);
  });

  test('without --allowed-origin (or with *) browser writes from anywhere are stored, as before', async () => {
    for (const allowedOrigins of [[], ['*']]) {
      const { app, store } = await make({ allowedOrigins });
      expect((await postBatch(app, { origin: EVIL })).statusCode).toBe(200);
      expect(await store.count({ writeKey: KEY })).toBe(1);
      expect(app.accessStats.refusedOrigins).toBe(0);
    }
  });
});

describe('rate limits (@fastify/rate-limit)', () => {
  test('300 requests with a bad key: 401s, then 429 with Retry-After, never only 401s; a good key from the same address is not refused', async () => {
    const { app } = await make(); // the defaults
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof postBatch>> | undefined;
    for (let i = 0; i < 300; i++) {
      const res = await postBatch(app, { authorization: basic('wk_guess') });
      statuses.push(res.statusCode);
      if (res.statusCode === 429) limited ??= res;
    }
    expect(statuses.filter((s) => s === 401).length).toBe(30);
    expect(statuses.filter((s) => s === 429).length).toBe(270);
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(Number(limited!.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited!.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited!.json()).toMatchObject({ ok: false, error: 'too_many_auth_failures' });
    expect(limited!.json().message).toMatch(/failed authentications/);
    expect(app.accessStats.authFailuresLimited).toBe(270);
    // Bad user tokens count too.
    const tok = await app.inject({ method: 'GET', url: '/v1/progress', headers: { authorization: 'Bearer not.a.jwt' } });
    expect(tok.statusCode).toBe(429);
    expect((await postBatch(app)).statusCode).toBe(200);
    // Another address is not slowed down by this one.
    expect((await postBatch(app, { authorization: basic('wk_typo') }, batch(), '10.1.2.3')).statusCode).toBe(401);
  });

  test('normal load from a good key under the defaults is never limited', async () => {
    const { app } = await make();
    const results = [];
    for (let i = 0; i < 50; i++) results.push(...(await Promise.all(Array.from({ length: 20 }, () => postBatch(app)))).map((r) => r.statusCode));
    expect(results).toHaveLength(1000);
    expect(results.every((s) => s === 200)).toBe(true);
    expect(app.accessStats.rateLimited).toBe(0);
  });

  test('per IP: past the limit 429 + Retry-After naming the address; other addresses and /healthz unaffected', async () => {
    const { app } = await make({ rateLimit: { perIp: 5 } });
    for (let i = 0; i < 5; i++) expect((await postBatch(app, {}, batch(), '10.0.0.1')).statusCode).toBe(200);
    const res = await postBatch(app, {}, batch(), '10.0.0.1');
    expect(res.statusCode).toBe(429);
    expect(res.json()).toMatchObject({ error: 'rate_limited' });
    expect(res.json().message).toContain('10.0.0.1');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    // From the SDK's page: the 429 carries the CORS grant, so the page can read Retry-After.
    const fromPage = await postBatch(app, { origin: APP_ORIGIN }, batch(), '10.0.0.1');
    expect(fromPage.statusCode).toBe(429);
    expect(fromPage.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(fromPage.headers['access-control-expose-headers']).toContain('retry-after');
    expect((await postBatch(app, {}, batch(), '10.0.0.2')).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/healthz', remoteAddress: '10.0.0.1' })).statusCode).toBe(200);
    expect(app.accessStats.rateLimited).toBe(2);
  });

  test('behind a proxy (trustProxy) the limit is per client, from X-Forwarded-For', async () => {
    const { app } = await make({ rateLimit: { perIp: 2 }, trustProxy: true });
    const via = (client: string) => postBatch(app, { 'x-forwarded-for': client }, batch(), '127.0.0.1');
    expect([(await via('1.1.1.1')).statusCode, (await via('1.1.1.1')).statusCode, (await via('1.1.1.1')).statusCode]).toEqual([200, 200, 429]);
    expect((await via('2.2.2.2')).statusCode).toBe(200);
  });

  test('per write key, wherever the key is sent (Basic, body, ?writeKey=); other keys unaffected', async () => {
    const { app, store } = await make({ rateLimit: { perIp: 0, perWriteKey: 3 } });
    expect((await postBatch(app)).statusCode).toBe(200);
    const inBody = await app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { 'content-type': 'text/plain' },
      payload: JSON.stringify({ ...JSON.parse(batch()), writeKey: KEY }),
    });
    expect(inBody.statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: `/v1/beacon?writeKey=${KEY}`, payload: batch() })).statusCode).toBe(200);
    const over = await postBatch(app, {}, batch({ messageId: 'over-1' }));
    expect(over.statusCode).toBe(429);
    expect(over.json().message).toMatch(/with this write key/);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect((await postBatch(app, { authorization: basic('wk_b') })).statusCode).toBe(200);
    expect((await store.list({ writeKey: KEY })).map((r) => r.messageId)).not.toContain('over-1');
  });

  test('rateLimit: false turns every limit off (for benches and fuzzing)', async () => {
    const { app } = await make({ rateLimit: false });
    const statuses = new Set<number>();
    for (let i = 0; i < 100; i++) statuses.add((await postBatch(app, { authorization: basic('wk_guess') })).statusCode);
    expect([...statuses]).toEqual([401]);
  });
});

describe('load shedding (@fastify/under-pressure)', () => {
  test('while the event loop lags past the limit requests get 503 + Retry-After; then they are served again', async () => {
    const { app } = await make({ shedding: { maxEventLoopDelayMs: 100, sampleIntervalMs: 200, retryAfterS: 3 } });
    await app.ready();
    expect((await postBatch(app)).statusCode).toBe(200);
    const until = Date.now() + 700;
    while (Date.now() < until) {
      // a handler that hogs the event loop
    }
    // The lag is sampled every 200 ms and clears soon after: catch a shed batch itself, not a
    // health check followed by a batch that may already find the pressure gone (flaked in CI).
    let shed = await postBatch(app);
    for (const end = Date.now() + 2000; shed.statusCode !== 503 && Date.now() < end;) {
      await new Promise((r) => setTimeout(r, 20));
      shed = await postBatch(app);
    }
    expect(shed.statusCode).toBe(503);
    expect(shed.headers['retry-after']).toBe('3');
    expect(shed.json()).toMatchObject({ ok: false, error: 'overloaded' });
    await expect.poll(async () => (await postBatch(app)).statusCode, { timeout: 5000, interval: 50 }).toBe(200);
    expect(app.accessStats.shed).toBeGreaterThan(0);
  });

  test('an app built without `shedding` (tests, embedding) never sheds, however long its own work blocks', async () => {
    const { app } = await make();
    await app.ready();
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      // the embedding script's own synchronous work
    }
    for (let i = 0; i < 5; i++) expect((await postBatch(app)).statusCode).toBe(200);
    expect(app.accessStats.shed).toBe(0);
  });
});
