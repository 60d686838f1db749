import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { checkMessage, checkShape, MAX_JSON_DEPTH, MAX_MESSAGE_BYTES, parseMessage } from '@keel/sdk-core/schema';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Writable } from 'node:stream';
import { buildApp } from './app.js';
import { HttpError } from './errors.js';
import type { EventStore } from './store/types.js';
import { type Live, liveServer, WRITE_KEY } from './test-support/live.js';

const basic = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
/** `{"a":{"a":…{"a":1}}}`, `levels` objects deep (the outer one is level 1). */
const deepObject = (levels: number): unknown => JSON.parse(`${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);
const deepArray = (levels: number): unknown => JSON.parse(`${'['.repeat(levels)}${']'.repeat(levels)}`);
/** The same as JSON text, for values too deep for JSON.stringify. */
const deepObjectText = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const deepArrayText = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
/** `JSON.stringify(value)` with `"@DEEP@"` replaced by raw JSON text. */
const withRaw = (value: unknown, raw: string) => JSON.stringify(value).replace('"@DEEP@"', raw);

let n = 0;
const track = (over: Record<string, unknown> = {}) => ({
  type: 'track',
  event: 'feature.used',
  messageId: `lim-${++n}`,
  anonymousId: 'anon-1',
  timestamp: new Date().toISOString(),
  properties: { feature: 'reports' },
  ...over,
});

describe('the limit checks (sdk-core)', () => {
  test('depth is counted from the value itself; 64 levels pass, 65 do not, and the path says where', () => {
    expect(checkShape(deepObject(MAX_JSON_DEPTH), { maxDepth: MAX_JSON_DEPTH, maxKeys: 1e6 })).toBeNull();
    const issue = checkShape(deepObject(MAX_JSON_DEPTH + 1), { maxDepth: MAX_JSON_DEPTH, maxKeys: 1e6 });
    expect(issue).toMatchObject({ limit: 'depth', path: 'a.a.a.a.a.a…', message: 'is nested deeper than 64 levels (the limit)' });
    expect(checkShape([[[1]]], { maxDepth: 3, maxKeys: 10 })).toBeNull();
    expect(checkShape([[[[1]]]], { maxDepth: 3, maxKeys: 10 })).toMatchObject({ limit: 'depth', path: '[0][0][0]' });
  });

  test('a value nested 200,000 deep is checked without recursion (no stack overflow)', () => {
    expect(checkMessage(deepArray(200_000))).toMatchObject({ limit: 'depth' });
    expect(checkMessage({ type: 'track', properties: deepObject(200_000) })).toMatchObject({ limit: 'depth', path: 'properties.a.a.a.a.a…' });
  });

  test('keys are counted over every level; size is counted in UTF-8 bytes of the JSON', () => {
    const wide = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, { x: 1, y: 2 }]));
    expect(checkShape(wide, { maxDepth: 64, maxKeys: 180 })).toBeNull();
    expect(checkShape(wide, { maxDepth: 64, maxKeys: 179 })).toMatchObject({ limit: 'keys', message: 'has more than 179 keys (the limit)' });
    expect(checkMessage({ s: 'x'.repeat(MAX_MESSAGE_BYTES - 20) })).toBeNull();
    // 11,000 × "é" is 22,000 bytes in UTF-8 but 11,000 UTF-16 units: a byte limit, not a length limit
    expect(checkMessage({ s: 'é'.repeat(17_000) })).toMatchObject({ limit: 'bytes' });
    expect(checkMessage({ s: 'x'.repeat(MAX_MESSAGE_BYTES) })?.message).toMatch(/over the limit of 32768 bytes per message/);
  });

  test.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'])(
    'type "%s" is an unknown type, not something from Object.prototype',
    (type) => {
      const r = parseMessage({ type, messageId: 'm', anonymousId: 'a' });
      expect(r).toEqual({
        success: false,
        issues: [{ path: 'type', message: `expected type to be one of track, identify, group, page, screen, alias, found "${type}"` }],
      });
    },
  );
});

describe('limits over the real HTTP API', () => {
  let live: Live;
  beforeAll(async () => {
    live = await liveServer();
  });
  afterAll(async () => {
    await live.close();
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    live.send({
      method: 'POST',
      path,
      headers: { authorization: basic, 'content-type': 'text/plain', ...headers },
      body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
  const stored = async () => (await live.store.list({ writeKey: WRITE_KEY, limit: 1000 })).map((r) => r.messageId);

  test('the poison event (~2 KB, 1,000 deep, a victim tenant’s groupId) is rejected alone; every read of that tenant still answers 200', async () => {
    const victim = 'victim-co';
    const before = await live.tenantReads(victim);
    expect(before.map((r) => [r.path, r.status])).toEqual(before.map((r) => [r.path, 200]));

    const poison = track({ messageId: 'poison-1', context: { groupId: victim }, properties: deepObject(1000) });
    expect(JSON.stringify(poison).length).toBeGreaterThan(1500);
    const good = track({ messageId: 'good-next-to-poison', context: { groupId: victim } });
    const res = await post('/v1/batch', { batch: [poison, good] });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({
      ok: false,
      accepted: 1,
      duplicates: 0,
      rejected: [
        { index: 0, messageId: 'poison-1', errors: [{ path: 'properties.a.a.a.a.a…', message: 'the message is nested deeper than 64 levels (the limit)' }] },
      ],
    });
    // Alone, on the single-message route: a 400 naming the limit.
    const alone = await post('/v1/track', track({ messageId: 'poison-2', context: { groupId: victim }, properties: deepObject(1000) }));
    expect(alone.status).toBe(400);
    expect(JSON.parse(alone.body).message).toMatch(/nested deeper than 64 levels/);

    const ids = await stored();
    expect(ids).toContain('good-next-to-poison');
    expect(ids).not.toContain('poison-1');
    expect(ids).not.toContain('poison-2');
    const after = await live.tenantReads(victim);
    expect(after.map((r) => [r.path, r.status])).toEqual(after.map((r) => [r.path, 200]));
    // What is stored can be read back by SQLite's JSON functions, every row.
    const db = new Database(live.store.path, { readonly: true });
    try {
      const rows = db
        .prepare(`SELECT message_id AS id, json_valid(payload) AS valid, json_extract(payload, '$.properties') IS NOT NULL AS props FROM events`)
        .all() as { valid: number }[];
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.valid === 1)).toBe(true);
    } finally {
      db.close();
    }
  });

  test('a poison row an older version stored (before these limits) is moved to events_quarantine on upgrade; the tenant reads answer 200 again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-quarantine-'));
    const tenant = 'upgraded-co';
    const old = await liveServer(dir);
    // What a version without input limits stored: a row too deep for SQLite's JSON functions,
    // next to a sound one. Written straight into the file, as that version's insert did.
    const row = (id: string, payload: string) => ({ id, payload, at: new Date().toISOString(), tenant });
    const raw = new Database(old.store.path);
    const ins = raw.prepare(
      `INSERT INTO events (write_key, message_id, type, event, anonymous_id, group_id, timestamp, received_at, payload) VALUES ('${WRITE_KEY}', @id, 'track', 'feature.used', 'anon-q', @tenant, @at, @at, @payload)`,
    );
    ins.run(row('sound-old', JSON.stringify(track({ messageId: 'sound-old', context: { groupId: tenant } }))));
    ins.run(row('poison-old', withRaw(track({ messageId: 'poison-old', context: { groupId: tenant }, properties: '@DEEP@' }), deepObjectText(1200))));
    const broken = await old.tenantReads(tenant);
    expect(broken.filter((r) => r.status === 500).length, 'the hazard is real: some read fails on the poison row').toBeGreaterThan(0);
    await old.close();
    await old.store.close();
    // The file as that older version left it: the quarantine migration not yet run.
    raw.exec(`DELETE FROM kysely_migration WHERE name = '0013_events_quarantine'; DROP TABLE events_quarantine;`);
    raw.close();

    const upgraded = await liveServer(dir);
    try {
      const reads = await upgraded.tenantReads(tenant);
      expect(reads.map((r) => [r.path, r.status])).toEqual(reads.map((r) => [r.path, 200]));
      const db = new Database(upgraded.store.path, { readonly: true });
      try {
        expect(db.prepare(`SELECT message_id AS id FROM events WHERE group_id = ?`).all(tenant)).toEqual([{ id: 'sound-old' }]);
        const q = db.prepare('SELECT message_id AS id, group_id AS tenant, reason, length(payload) > 6000 AS whole FROM events_quarantine').all();
        expect(q).toEqual([{ id: 'poison-old', tenant, reason: expect.stringMatching(/cannot read this payload as JSON/), whole: 1 }]);
      } finally {
        db.close();
      }
    } finally {
      await upgraded.close();
      await upgraded.store.close();
    }
    // A crash between the move's copy and its delete (SQLite migrations are not one transaction):
    // the row is in both tables and the migration unrecorded. Run again, it finishes: no duplicate.
    const crashed = new Database(join(dir, 'keel.db'));
    crashed.exec(`DELETE FROM kysely_migration WHERE name = '0013_events_quarantine'`);
    crashed
      .prepare(
        `INSERT INTO events (write_key, message_id, type, event, anonymous_id, group_id, timestamp, received_at, payload) SELECT write_key, message_id, 'track', 'feature.used', 'anon-q', group_id, received_at, received_at, payload FROM events_quarantine`,
      )
      .run();
    crashed.close();
    const again = await liveServer(dir);
    try {
      const db = new Database(again.store.path, { readonly: true });
      try {
        expect(db.prepare('SELECT COUNT(*) AS n FROM events_quarantine').get()).toEqual({ n: 1 });
        expect(db.prepare(`SELECT COUNT(*) AS n FROM events WHERE message_id = 'poison-old'`).get()).toEqual({ n: 0 });
      } finally {
        db.close();
      }
    } finally {
      await again.close();
      await again.store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a message as deep as allowed (64) is stored, and the tenant reads still answer 200', async () => {
    const tenant = 'deep-but-fine';
    // The message is level 1, properties level 2: 62 more levels inside properties make 64.
    const m = track({ messageId: 'deep-64', context: { groupId: tenant }, properties: { feature: 'reports', x: deepObject(62) } });
    expect(checkMessage(m)).toBeNull();
    const res = await post('/v1/batch', { batch: [m] });
    expect(res.status).toBe(200);
    expect(await stored()).toContain('deep-64');
    const reads = await live.tenantReads(tenant);
    expect(reads.map((r) => [r.path, r.status])).toEqual(reads.map((r) => [r.path, 200]));
  });

  test('too deep to stringify (~5,000 levels, RangeError territory) and without a messageId: rejected alone, never a 500', async () => {
    const m = { type: 'track', event: 'x', anonymousId: 'a', properties: '@DEEP@' };
    const res = await post('/v1/batch', withRaw({ batch: [m, track({ messageId: 'beside-5000' })] }, deepObjectText(5_000)));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).rejected).toEqual([
      { index: 0, messageId: null, errors: [{ path: 'properties.a.a.a.a.a…', message: 'the message is nested deeper than 64 levels (the limit)' }] },
    ]);
    expect(await stored()).toContain('beside-5000');
    // gzipped, on the beacon route, and as a deep array message
    const gz = await post(
      `/v1/beacon?writeKey=${WRITE_KEY}`,
      gzipSync(withRaw({ batch: ['@DEEP@', track({ messageId: 'beside-array' })] }, deepArrayText(50_000))),
      { authorization: '' },
    );
    expect(gz.status).toBe(200);
    expect(JSON.parse(gz.body)).toMatchObject({
      accepted: 1,
      rejected: [{ index: 0, errors: [{ message: 'the message is nested deeper than 64 levels (the limit)' }] }],
    });
  });

  test('an oversized message (> 32 KB serialised) and one with too many keys are rejected alone, naming the limit', async () => {
    const big = track({ messageId: 'big-1', properties: { blob: 'x'.repeat(40_000) } });
    const wide = track({ messageId: 'wide-1', properties: Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [i, 0])) });
    const res = await post('/v1/batch', { batch: [big, track({ messageId: 'beside-big' }), wide] });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body);
    expect(body.accepted).toBe(1);
    expect(body.rejected).toEqual([
      {
        index: 0,
        messageId: 'big-1',
        errors: [{ path: '', message: expect.stringMatching(/^the message is \d+ bytes as JSON, over the limit of 32768 bytes per message$/) }],
      },
      { index: 2, messageId: 'wide-1', errors: [{ path: '', message: 'the message has more than 10000 keys (the limit)' }] },
    ]);
  });

  test('prototype-named types in a batch with normal messages: those are unknown types, the normal ones are stored', async () => {
    const protoTypes = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
    const batch = [
      track({ messageId: 'normal-a' }),
      ...protoTypes.map((type, i) => ({ type, messageId: `proto-${i}`, anonymousId: 'a' })),
      track({ messageId: 'normal-b' }),
    ];
    const res = await post('/v1/batch', { batch });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body);
    expect(body.accepted).toBe(2);
    expect(
      body.rejected.map((r: { index: number; messageId: string; errors: { path: string; message: string }[] }) => [
        r.index,
        r.messageId,
        r.errors[0]!.path,
        r.errors[0]!.message,
      ]),
    ).toEqual(protoTypes.map((t, i) => [i + 1, `proto-${i}`, 'type', `expected type to be one of track, identify, group, page, screen, alias, found "${t}"`]));
    expect(await stored()).toEqual(expect.arrayContaining(['normal-a', 'normal-b']));
    // A prototype name as the whole message's type on its own route, and as a route name
    const one = await post('/v1/track', { type: 'constructor', event: 'x', anonymousId: 'a', messageId: 'proto-route' });
    expect(one.status).toBe(400);
    expect(JSON.parse(one.body).message).toMatch(/"constructor" message was sent to \/v1\/track/);
    const own = await post('/v1/track', { type: { toString: 1, valueOf: 2 }, event: 'x', anonymousId: 'a', messageId: 'proto-obj' });
    expect(own.status).toBe(400);
    expect(JSON.parse(own.body).message).toMatch(/expected type to be "track".*found object/);
    expect((await post('/v1/constructor', track())).status).toBe(404);
    expect((await post('/v1/__proto__', track())).status).toBe(404);
  });

  test('a batch envelope that breaks the limits outside its messages gets a 400 naming it', async () => {
    const deepCtx = await post('/v1/batch', withRaw({ batch: [track({ messageId: 'env-1' })], context: '@DEEP@' }, deepObjectText(20_000)));
    expect(deepCtx.status).toBe(400);
    expect(JSON.parse(deepCtx.body)).toMatchObject({
      ok: false,
      error: 'envelope_too_deep',
      message: 'the batch envelope at context.a.a.a.a.a… is nested deeper than 64 levels (the limit)',
    });
    const wideCtx = await post('/v1/batch', {
      batch: [track({ messageId: 'env-2' })],
      integrations: Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [i, 1])),
    });
    expect(wideCtx.status).toBe(400);
    expect(JSON.parse(wideCtx.body).error).toBe('envelope_too_many_keys');
    const long = await post('/v1/batch', { batch: Array.from({ length: 10_001 }, () => 0) });
    expect(long.status).toBe(400);
    expect(JSON.parse(long.body)).toMatchObject({
      error: 'batch_too_long',
      message: 'the batch has 10001 messages, over the limit of 10000; send smaller batches',
    });
    const deepBody = await post('/v1/batch', deepArrayText(100_000));
    expect(deepBody.status).toBe(400);
    expect(JSON.parse(deepBody.body).error).toBe('invalid_batch');
    expect(await stored()).not.toEqual(expect.arrayContaining(['env-1']));
  });

  test('a repeated query parameter that would bind an array into SQL is a 400, not a 500', async () => {
    // "2026,1" is a date to Date.parse: the array used to reach better-sqlite3, which threw.
    const r = await live.send({
      method: 'GET',
      path: '/v1/tenants/acme/timeline?before=2026&before=1',
      headers: { authorization: `Bearer ${live.token('acme')}` },
    });
    expect([r.status, JSON.parse(r.body).error]).toEqual([400, 'repeated_parameter']);
  });

  test('other JSON bodies (config, progress, incidents) are held to the depth limit too: a 400, never a RangeError', async () => {
    const admin = { authorization: 'Bearer adm_live_test', 'content-type': 'application/json' };
    for (const path of ['/v1/admin/config', '/v1/admin/drafts', '/v1/admin/incidents']) {
      const r = await live.send({ method: 'POST', path, headers: admin, body: withRaw({ config: '@DEEP@' }, deepObjectText(10_000)) });
      expect([path, r.status, JSON.parse(r.body).error]).toEqual([path, 400, 'body_too_deep']);
    }
    const put = await live.send({
      method: 'PUT',
      path: '/v1/progress',
      headers: { authorization: `Bearer ${live.token('acme')}` },
      body: withRaw({ entries: [{ data: '@DEEP@' }] }, deepObjectText(10_000)),
    });
    expect(put.status).toBe(400);
    expect(JSON.parse(put.body)).toMatchObject({
      error: 'body_too_deep',
      message: 'the body at entries[0].data.a.a.a… is nested deeper than 64 levels (the limit)',
    });
  });
});

describe('5xx semantics', () => {
  const failing = (ping: () => Promise<void>): EventStore =>
    ({
      kind: 'test',
      insert: async () => ({ inserted: 0, duplicates: 0 }),
      list: async () => [],
      count: async () => 0,
      ping,
      close: async () => {},
    }) as unknown as EventStore;

  test('an unexpected failure: a 500 with a request id (also in the log line), never "safe to retry", no Retry-After', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const app = buildApp({
      store: failing(async () => {
        throw new TypeError('boom');
      }),
      writeKeys: ['k'],
      logger: { level: 'error', stream },
    });
    const a = await app.inject({ method: 'GET', url: '/healthz' });
    const b = await app.inject({ method: 'GET', url: '/healthz' });
    await app.close();
    expect(a.statusCode).toBe(500);
    const body = a.json();
    expect(body).toMatchObject({ ok: false, error: 'internal', requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(a.headers['x-request-id']).toBe(body.requestId);
    expect(b.json().requestId).not.toBe(body.requestId);
    expect(body.message).toContain(body.requestId);
    expect(body.message).not.toMatch(/retry/i);
    expect(a.headers['retry-after']).toBeUndefined();
    const logged = lines.map((l) => JSON.parse(l) as { reqId?: string; msg?: string; err?: { message?: string } }).find((l) => l.msg === 'request failed');
    expect(logged).toMatchObject({ reqId: body.requestId, err: { message: 'boom' } });
  });

  test('an HttpError that a retry can cure carries Retry-After; a deterministic one does not', async () => {
    const app = buildApp({
      store: failing(async () => {
        throw new HttpError(503, 'store_full', 'the disk is full', 30);
      }),
      writeKeys: ['k'],
      logger: false,
    });
    const r = await app.inject({ method: 'GET', url: '/healthz' });
    expect([r.statusCode, r.headers['retry-after'], r.json().error]).toEqual([503, '30', 'store_full']);
    await app.close();
  });
});
