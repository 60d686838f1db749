import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { buildApp } from './app.js';
import { openSqliteStore } from './store/sqlite.js';
import type { EventStore } from './store/types.js';

const KEY = 'wk_test';
let store: EventStore;
let app: FastifyInstance;

beforeEach(async () => {
  store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-app-')));
  app = buildApp({ store, writeKeys: [KEY, 'wk_other'], allowedOrigins: ['https://app.example'], logger: false });
});
afterEach(async () => {
  await app.close();
  await store.close();
});

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
let n = 0;
const track = (over: Record<string, unknown> = {}) => ({
  type: 'track',
  event: 'feature.used',
  messageId: `m-${++n}`,
  anonymousId: 'anon-1',
  timestamp: '2026-03-01T10:00:00.000Z',
  properties: { feature: 'reports' },
  ...over,
});
const post = (url: string, body: unknown, headers: Record<string, string> = { authorization: basic(KEY) }) =>
  app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'text/plain', ...headers },
    payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
const rows = () => store.list({ writeKey: KEY });

describe('accepting messages', () => {
  test('a valid batch is stored and acknowledged with counts', async () => {
    const res = await post('/v1/batch', { batch: [track(), track({ type: 'identify', event: undefined, userId: 'u1', traits: { role: 'admin' } })] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true, accepted: 2, duplicates: 0, rejected: [] });
    const stored = await rows();
    expect(stored.map((r) => r.type)).toEqual(['track', 'identify']);
    expect(stored[0]!.event).toBe('feature.used');
    expect(JSON.parse(stored[0]!.payload).properties).toEqual({ feature: 'reports' });
  });

  test('valid messages are stored even when others in the batch are invalid; the response says which and why', async () => {
    const good = track();
    const res = await post('/v1/batch', {
      batch: [
        good,
        { type: 'track', messageId: 'bad-1', anonymousId: 'a' },
        { type: 'teleport', messageId: 'bad-2' },
        42,
        track({ messageId: 'bad-3', timestamp: 'yesterday' }),
        track({ messageId: 'bad-4', anonymousId: undefined }),
      ],
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.ok).toBe(false);
    expect(body.accepted).toBe(1);
    expect(body.rejected).toEqual([
      { index: 1, messageId: 'bad-1', errors: [{ path: 'event', message: 'event is required' }] },
      {
        index: 2,
        messageId: 'bad-2',
        errors: [{ path: 'type', message: expect.stringContaining('one of track, identify, group, page, screen, alias, found "teleport"') }],
      },
      { index: 3, messageId: null, errors: [{ path: '', message: 'expected a message object, found number' }] },
      { index: 4, messageId: 'bad-3', errors: [{ path: 'timestamp', message: expect.stringContaining('found "yesterday"') }] },
      { index: 5, messageId: 'bad-4', errors: [{ path: 'userId', message: expect.stringContaining('userId or anonymousId') }] },
    ]);
    expect((await rows()).map((r) => r.messageId)).toEqual([good.messageId]);
  });

  test('a batch where every message is invalid is a 400 that still lists each problem', async () => {
    const res = await post('/v1/batch', { batch: [{ type: 'group', messageId: 'g', anonymousId: 'a' }] });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      ok: false,
      error: 'invalid_messages',
      accepted: 0,
      rejected: [{ index: 0, errors: [{ path: 'groupId', message: 'groupId is required' }] }],
    });
  });

  test('a retried batch is never stored twice (dedupe by write key + messageId)', async () => {
    const batch = [track(), track()];
    expect((await post('/v1/batch', { batch })).json()).toMatchObject({ accepted: 2, duplicates: 0 });
    expect((await post('/v1/batch', { batch })).json()).toMatchObject({ accepted: 0, duplicates: 2 });
    expect(await store.count({ writeKey: KEY })).toBe(2);
    // The same messageId under another write key is another vendor's event.
    expect((await post('/v1/batch', { batch }, { authorization: basic('wk_other') })).json()).toMatchObject({ accepted: 2 });
  });

  test('a message without messageId gets a content-derived id, so its retry de-duplicates too', async () => {
    const msg = track({ messageId: undefined });
    expect((await post('/v1/track', msg)).json()).toMatchObject({ accepted: 1 });
    expect((await post('/v1/track', msg)).json()).toMatchObject({ accepted: 0, duplicates: 1 });
    expect((await rows())[0]!.messageId).toMatch(/^keel-[0-9a-f]{32}$/);
  });

  test('clock skew: timestamp = receivedAt - (sentAt - timestamp), the client time kept as originalTimestamp', async () => {
    // The client's clock is a year behind; the event happened 5 s before it was sent.
    const before = Date.now();
    await post('/v1/batch', { sentAt: '2025-03-01T10:00:05.000Z', batch: [track({ timestamp: '2025-03-01T10:00:00.000Z' })] });
    const after = Date.now();
    const [row] = await rows();
    const t = Date.parse(row!.timestamp);
    expect(t).toBeGreaterThanOrEqual(before - 5000);
    expect(t).toBeLessThanOrEqual(after - 5000);
    expect(row!.originalTimestamp).toBe('2025-03-01T10:00:00.000Z');
    expect(row!.sentAt).toBe('2025-03-01T10:00:05.000Z');
    const payload = JSON.parse(row!.payload);
    expect(payload.originalTimestamp).toBe('2025-03-01T10:00:00.000Z');
    expect(payload.timestamp).toBe(row!.timestamp);
  });

  test('a message without a timestamp is stamped with the time it was received', async () => {
    await post('/v1/batch', { batch: [track({ timestamp: undefined })] });
    const [row] = await rows();
    expect(row!.timestamp).toBe(row!.receivedAt);
    expect(row!.originalTimestamp).toBeNull();
  });

  test("the tenant: groupId of a group call, context.groupId of any other, else its user's (identity); batch-level context is merged", async () => {
    await post('/v1/batch', {
      context: { library: { name: 'other-lib' } },
      batch: [track({ type: 'group', event: undefined, groupId: 'acme' }), track({ context: { groupId: 'acme' } }), track()],
    });
    const stored = await rows();
    expect(stored.map((r) => r.groupId)).toEqual(['acme', 'acme', 'acme']);
    expect(stored.map((r) => r.attribution)).toEqual(['claim', 'claim', 'identity']);
    expect(JSON.parse(stored[1]!.payload).context).toEqual({ library: { name: 'other-lib' }, groupId: 'acme' });
  });

  test('single-message routes infer the type and refuse a mismatched one', async () => {
    const { type: _t, ...noType } = track();
    expect((await post('/v1/track', noType)).statusCode).toBe(200);
    const wrong = await post('/v1/identify', track());
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().message).toContain('a "track" message was sent to /v1/identify');
    for (const [route, msg] of [
      ['identify', { userId: 'u', traits: { a: 1 } }],
      ['group', { anonymousId: 'a', groupId: 'g' }],
      ['page', { anonymousId: 'a', name: 'Home' }],
      ['screen', { anonymousId: 'a', name: 'Home' }],
      ['alias', { userId: 'u2', previousId: 'a' }],
    ] as const) {
      const res = await post(`/v1/${route}`, { ...msg, messageId: `${route}-1` });
      expect(res.statusCode, route).toBe(200);
    }
    expect((await rows()).map((r) => r.type)).toEqual(['track', 'identify', 'group', 'page', 'screen', 'alias']);
  });

  test('unknown keys are kept (Segment libraries send channel, _metadata, integrations)', async () => {
    await post('/v1/batch', { batch: [track({ channel: 'server', _metadata: { bundled: [] }, integrations: { All: true } })] });
    expect(JSON.parse((await rows())[0]!.payload)).toMatchObject({ channel: 'server', _metadata: { bundled: [] }, integrations: { All: true } });
  });
});

describe('write keys', () => {
  test('as HTTP Basic username, as writeKey in the body, as ?writeKey= on the beacon path', async () => {
    expect((await post('/v1/batch', { batch: [track()] })).statusCode).toBe(200);
    expect((await post('/v1/batch', { writeKey: KEY, batch: [track()] }, {})).statusCode).toBe(200);
    expect((await post(`/v1/beacon?writeKey=${KEY}`, { batch: [track()] }, {})).statusCode).toBe(200);
    expect(await store.count({ writeKey: KEY })).toBe(3);
  });

  test('missing → 401 that says where to put it; unknown → 401 naming it', async () => {
    const missing = await post('/v1/batch', { batch: [track()] }, {});
    expect(missing.statusCode).toBe(401);
    expect(missing.json()).toMatchObject({ error: 'missing_write_key', message: expect.stringContaining('HTTP Basic username') });
    const unknown = await post('/v1/batch', { batch: [track()] }, { authorization: basic('wk_nope') });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json()).toEqual({ ok: false, error: 'unknown_write_key', message: 'unknown write key "wk_nope"' });
    expect(await store.count({ writeKey: 'wk_nope' })).toBe(0);
  });
});

describe('bodies', () => {
  test('malformed JSON → 400 naming the parse error', async () => {
    const res = await post('/v1/batch', '{"batch": [');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ ok: false, error: 'invalid_json', message: expect.stringContaining('not valid JSON') });
  });

  test('an empty body → 400', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/batch', headers: { authorization: basic(KEY) } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('empty_body');
  });

  test('an envelope without a batch array → 400 that says what was expected', async () => {
    for (const body of [{ messages: [] }, { batch: 'x' }, { batch: [] }, [track()]]) {
      const res = await post('/v1/batch', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error).toBe('invalid_batch');
    }
    expect((await post('/v1/batch', { batch: [] })).json().message).toContain('batch is empty');
  });

  test('a body over 500 KB → 413, and so is a small gzip body that inflates past it', async () => {
    const big = { batch: [track({ properties: { blob: 'x'.repeat(510_000) } })] };
    const res = await post('/v1/batch', big);
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'payload_too_large', message: expect.stringContaining('500000 bytes') });
    const bomb = gzipSync(JSON.stringify(big));
    expect(bomb.length).toBeLessThan(10_000);
    const res2 = await post('/v1/batch', bomb);
    expect(res2.statusCode).toBe(413);
    expect(res2.json().message).toContain('inflates');
  });

  test('gzip is recognised by Content-Encoding or by its magic bytes (browsers cannot set the header without a preflight)', async () => {
    const body = gzipSync(JSON.stringify({ batch: [track()] }));
    expect((await post('/v1/batch', body)).json()).toMatchObject({ accepted: 1 });
    expect(
      (await post('/v1/batch', gzipSync(JSON.stringify({ batch: [track()] })), { authorization: basic(KEY), 'content-encoding': 'gzip' })).json(),
    ).toMatchObject({ accepted: 1 });
    const broken = await post('/v1/batch', Buffer.from('not gzip at all'), { authorization: basic(KEY), 'content-encoding': 'gzip' });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error).toBe('invalid_gzip');
    const br = await post('/v1/batch', Buffer.from('x'), { authorization: basic(KEY), 'content-encoding': 'br' });
    expect(br.statusCode).toBe(415);
  });

  test('any content type is read as JSON (text/plain, none, application/json)', async () => {
    for (const ct of ['text/plain;charset=UTF-8', 'application/json', 'application/x-www-form-urlencoded']) {
      const res = await post('/v1/batch', { batch: [track()] }, { authorization: basic(KEY), 'content-type': ct });
      expect(res.statusCode, ct).toBe(200);
    }
  });
});

describe('HTTP surface', () => {
  test('CORS: an allowed origin is echoed (and preflights answered); another origin gets no grant', async () => {
    const ok = await app.inject({ method: 'OPTIONS', url: '/v1/batch', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(ok.headers['access-control-allow-headers']).toContain('authorization');
    const res = await post('/v1/batch', { batch: [track()] }, { authorization: basic(KEY), origin: 'https://app.example' });
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    const evil = await post('/v1/batch', { batch: [track()] }, { authorization: basic(KEY), origin: 'https://evil.example' });
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
  });

  test('GET /healthz answers once the store does', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.json()).toEqual({ ok: true, store: 'sqlite' });
  });

  test('an unknown route → 404 listing the routes', async () => {
    const res = await post('/v1/events', {});
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toContain('POST /v1/batch');
  });
});

describe('property: random input never produces a 5xx', () => {
  const json = fc.jsonValue({ maxDepth: 3 });
  const message = fc.record(
    {
      type: fc.oneof(fc.constantFrom('track', 'identify', 'group', 'page', 'screen', 'alias'), fc.string(), json),
      messageId: fc.oneof(fc.uuid(), fc.string(), json),
      event: fc.oneof(fc.string(), json),
      userId: fc.oneof(fc.string(), json),
      anonymousId: fc.oneof(fc.string(), json),
      groupId: fc.oneof(fc.string(), json),
      previousId: fc.oneof(fc.string(), json),
      timestamp: fc.oneof(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        fc.string(),
        json,
      ),
      sentAt: fc.oneof(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        fc.string(),
      ),
      properties: fc.oneof(fc.dictionary(fc.string(), json), json),
      traits: fc.oneof(fc.dictionary(fc.string(), json), json),
      context: fc.oneof(fc.record({ groupId: fc.oneof(fc.string(), json) }), json),
    },
    { requiredKeys: [] },
  );

  test('random batches of random messages', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(message, json), { maxLength: 8 }), fc.option(fc.oneof(fc.string(), json)), async (batch, sentAt) => {
        const body = sentAt === null ? { batch } : { batch, sentAt };
        const res = await post('/v1/batch', body);
        expect(res.statusCode).toBeLessThan(500);
        if (res.statusCode === 200) {
          const r = res.json();
          expect(r.accepted + r.duplicates + r.rejected.length).toBe(batch.length);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('random bodies and single-message routes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/v1/batch', '/v1/beacon?writeKey=wk_test', '/v1/track', '/v1/identify', '/v1/group', '/v1/page', '/v1/screen', '/v1/alias'),
        fc.oneof(
          message,
          json,
          fc.string(),
          fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
        ),
        async (url, body) => {
          const res = await post(url, body as never);
          expect(res.statusCode).toBeLessThan(500);
          expect(() => res.json()).not.toThrow();
        },
      ),
      { numRuns: 300 },
    );
  });
});
