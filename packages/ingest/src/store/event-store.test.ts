// The EventStore contract, on both dialects: the same tests against real SQLite and real
// PostgreSQL (a schema of its own per store, dropped on close).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { buildApp } from '../app.js';
import { testPostgres } from '../test-support/pg.js';
import { signUserToken } from '../token.js';
import { openPostgresEventStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { EventStore, StoredEvent } from './types.js';

type Store = EventStore & { memberships: NonNullable<EventStore['memberships']> };
const dialects: [string, (onCommit: () => void) => Promise<Store>][] = [
  ['sqlite', (onCommit) => openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-es-')), { onCommit })],
  ['postgres', async (onCommit) => openPostgresEventStore(await testPostgres(), { onCommit })],
];

const row = (messageId: string, over: Partial<StoredEvent> = {}): StoredEvent => ({
  writeKey: 'k',
  messageId,
  type: 'track',
  event: 'e',
  userId: null,
  anonymousId: 'a',
  groupId: null,
  timestamp: '2026-01-01T00:00:00.000Z',
  originalTimestamp: null,
  sentAt: null,
  receivedAt: '2026-01-01T00:00:00.000Z',
  payload: '{}',
  ...over,
});

describe.each(dialects)('%s event store', (dialect, open) => {
  let store: Store;
  let commits = 0;
  beforeEach(async () => {
    commits = 0;
    store = await open(() => commits++);
  });
  afterEach(async () => {
    await store.close();
  });

  test('kind, insert, count and list in insertion order, paged by row id', async () => {
    expect(store.kind).toBe(dialect);
    expect(await store.insert([row('1'), row('2'), row('3', { type: 'page', event: 'Home', userId: 'u1', anonymousId: null, payload: '{"x":1}' })])).toEqual({
      inserted: 3,
      duplicates: 0,
    });
    await store.insert([row('4')]);
    expect(await store.count({ writeKey: 'k' })).toBe(4);
    const all = await store.list({ writeKey: 'k' });
    expect(all.map((r) => r.messageId)).toEqual(['1', '2', '3', '4']);
    expect(all[2]).toMatchObject({
      type: 'page',
      event: 'Home',
      userId: 'u1',
      anonymousId: null,
      payload: '{"x":1}',
      trust: 'unverified',
      attribution: 'identity',
    });
    expect(typeof all[0]!.rowId).toBe('number');
    const first = await store.list({ writeKey: 'k', limit: 2 });
    expect(first.map((r) => r.messageId)).toEqual(['1', '2']);
    expect((await store.list({ writeKey: 'k', afterRowId: first[1]!.rowId })).map((r) => r.messageId)).toEqual(['3', '4']);
    await expect(store.ping()).resolves.toBeUndefined();
  });

  test('a retried batch stores nothing twice; a message id repeated within a batch counts once', async () => {
    expect(await store.insert([row('a'), row('b')])).toEqual({ inserted: 2, duplicates: 0 });
    expect(await store.insert([row('a'), row('b'), row('c')])).toEqual({ inserted: 1, duplicates: 2 });
    expect(await store.insert([row('d'), row('d', { event: 'second' }), row('d')])).toEqual({ inserted: 1, duplicates: 2 });
    expect(await store.count({ writeKey: 'k' })).toBe(4);
    expect((await store.list({ writeKey: 'k' })).find((r) => r.messageId === 'd')!.event).toBe('e'); // the first copy is kept
  });

  test('write keys scope everything: the same message id under two keys is two events, and reads never cross keys', async () => {
    await store.insert([row('m'), row('m', { writeKey: 'other' }), row('n', { writeKey: 'other' })]);
    expect(await store.count({ writeKey: 'k' })).toBe(1);
    expect(await store.count({ writeKey: 'other' })).toBe(2);
    expect(await store.count({ writeKey: 'nobody' })).toBe(0);
    expect((await store.list({ writeKey: 'other' })).map((r) => [r.writeKey, r.messageId])).toEqual([
      ['other', 'm'],
      ['other', 'n'],
    ]);
  });

  test('many concurrent inserts are grouped, and each is acknowledged with its own counts once committed', async () => {
    const batches = Array.from({ length: 200 }, (_, i) => [row(`c${i}`), row(`c${(i + 1) % 200}`), row(`own${i}`)]);
    const results = await Promise.all(batches.map((b) => store.insert(b)));
    expect(commits).toBeLessThan(20); // grouped: a handful of transactions, not one per request
    // Every id is inserted exactly once across all the answers: each c-id appears in two batches.
    expect(results.reduce((n, r) => n + r.inserted, 0)).toBe(400);
    expect(results.reduce((n, r) => n + r.duplicates, 0)).toBe(200);
    expect(results.every((r) => r.inserted + r.duplicates === 3)).toBe(true);
    expect(await store.count({ writeKey: 'k' })).toBe(400);
    // Answered means committed: a second look (another connection on PostgreSQL) sees them all.
    expect((await store.list({ writeKey: 'k', limit: 1000 })).length).toBe(400);
  });

  test("an event before its user's group call in the same batch gets the tenant; one after it too", async () => {
    await store.insert([
      row('before', { userId: 'u1', timestamp: '2026-03-01T00:00:00.000Z' }),
      row('g', { type: 'group', event: null, userId: 'u1', groupId: 'acme', timestamp: '2026-03-02T00:00:00.000Z' }),
      row('after', { userId: 'u1', timestamp: '2026-03-03T00:00:00.000Z' }),
    ]);
    const r = Object.fromEntries((await store.list({ writeKey: 'k' })).map((x) => [x.messageId, x.groupId]));
    expect(r).toEqual({ before: 'acme', g: 'acme', after: 'acme' });
  });

  describe('attribution through the API', () => {
    const KEY = 'wk_public';
    const SERVER = 'sk_backend_secret';
    const SECRET = 'user-token-secret';
    let app: FastifyInstance;
    beforeEach(() => {
      app = buildApp({ store, writeKeys: [KEY], serverWriteKeys: [SERVER], secretKeys: [SECRET], logger: false });
    });
    afterEach(async () => {
      await app.close();
    });
    const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
    let n = 0;
    const day = (d: number, h = 12) => new Date(Date.UTC(2026, 2, d, h)).toISOString();
    const msg = (type: string, over: Record<string, unknown> = {}) => ({
      type,
      messageId: `m-${++n}`,
      ...(type === 'track' ? { event: 'feature.used' } : {}),
      ...over,
    });
    const post = async (batch: unknown[], o: { key?: string; userToken?: string } = {}) => {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/batch',
        headers: { 'content-type': 'text/plain', authorization: basic(o.key ?? KEY) },
        payload: JSON.stringify({ batch, ...(o.userToken ? { userToken: o.userToken } : {}) }),
      });
      expect(res.statusCode).toBe(200);
      return res.json() as { accepted: number; duplicates: number };
    };
    const rows = async (key = KEY) => Object.fromEntries((await store.list({ writeKey: key, limit: 1000 })).map((r) => [r.messageId, r]));
    const tenantOf = async (id: string, key = KEY) => (await rows(key))[id]?.groupId;

    test("events sent before their user's group call get its tenant when it arrives (within 30 days); context.groupId wins", async () => {
      await post([
        msg('track', { messageId: 'early', anonymousId: 'a1', userId: 'u1', timestamp: day(5) }),
        msg('track', { messageId: 'too-early', userId: 'u1', timestamp: new Date(Date.parse(day(10)) - 31 * 86_400_000).toISOString() }),
        msg('track', { messageId: 'claimed', userId: 'u1', timestamp: day(11), context: { groupId: 'globex' } }),
        msg('track', { messageId: 'after', userId: 'u1', timestamp: day(11) }),
      ]);
      expect(await tenantOf('early')).toBeNull();
      await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(10) })]);
      const r = await rows();
      expect([r.early!.groupId, r.after!.groupId, r['too-early']!.groupId]).toEqual(['acme', 'acme', null]);
      expect([r.claimed!.groupId, r.claimed!.attribution]).toEqual(['globex', 'claim']);
      await post([msg('track', { messageId: 'late-arrival', userId: 'u1', timestamp: day(9) })]);
      expect(await tenantOf('late-arrival')).toBe('acme');
      expect(await store.memberships({ userId: 'u1' })).toEqual([{ tenantId: 'acme', since: day(10), verified: false }]);
    });

    test("a user in several tenants: the latest group call at the event's time; a late group call re-attributes what followed it", async () => {
      await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(1) }), msg('group', { userId: 'u1', groupId: 'globex', timestamp: day(10) })]);
      await post([
        msg('track', { messageId: 'in-acme', userId: 'u1', timestamp: day(5) }),
        msg('track', { messageId: 'in-globex', userId: 'u1', timestamp: day(12) }),
        msg('track', { messageId: 'later', userId: 'u1', timestamp: day(20) }),
      ]);
      expect([await tenantOf('in-acme'), await tenantOf('in-globex'), await tenantOf('later')]).toEqual(['acme', 'globex', 'globex']);
      await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(15) })]);
      expect([await tenantOf('in-globex'), await tenantOf('later')]).toEqual(['globex', 'acme']);
      // Repeated calls for the tenant already held add nothing.
      for (let i = 16; i < 19; i++) await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(i) })]);
      expect(await store.memberships({ userId: 'u1' })).toEqual([
        { tenantId: 'acme', since: day(1), verified: false },
        { tenantId: 'globex', since: day(10), verified: false },
      ]);
    });

    test("alias and identify: the linked ids take the user's tenant, their earlier events too", async () => {
      await post([
        msg('track', { messageId: 'anon-event', anonymousId: 'anon-7', timestamp: day(3) }),
        msg('track', { messageId: 'old-user-event', userId: 'legacy-42', timestamp: day(3) }),
        msg('page', { messageId: 'landing', anonymousId: 'anon-1', timestamp: day(3, 9) }),
        msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(2) }),
      ]);
      expect(await tenantOf('anon-event')).toBeNull();
      await post([
        msg('alias', { userId: 'u1', previousId: 'anon-7', timestamp: day(4) }),
        msg('alias', { userId: 'u1', previousId: 'legacy-42', timestamp: day(4) }),
      ]);
      expect([await tenantOf('anon-event'), await tenantOf('old-user-event')]).toEqual(['acme', 'acme']);
      await post([msg('track', { messageId: 'anon-later', anonymousId: 'anon-7', timestamp: day(6) })]);
      expect(await tenantOf('anon-later')).toBe('acme');
      // identify links the browser's anonymous id; a backend group call (userId only) then attributes its events.
      await post([msg('identify', { userId: 'u2', anonymousId: 'anon-1', timestamp: day(3, 10), traits: {} })]);
      await post([msg('group', { userId: 'u2', groupId: 'globex', timestamp: day(3, 11) })], { key: SERVER });
      expect(await tenantOf('landing')).toBe('globex');
      expect(await store.memberships({ userId: 'u2' })).toEqual([{ tenantId: 'globex', since: day(3, 11), verified: true }]);
    });

    test('a token claiming one tenant disputes a message claiming another; server-key events use verified memberships only', async () => {
      const tok = signUserToken({ sub: 'u1', tenant: 'acme' }, SECRET);
      await post(
        [
          msg('track', { messageId: 'no-claim', userId: 'u1', timestamp: day(1) }),
          msg('track', { messageId: 'planted', userId: 'u1', timestamp: day(1), context: { groupId: 'globex' } }),
          msg('group', { messageId: 'planted-group', userId: 'u1', groupId: 'globex', timestamp: day(1) }),
        ],
        { userToken: tok },
      );
      const r = await rows();
      expect([r['no-claim']!.groupId, r['no-claim']!.trust, r['no-claim']!.attribution]).toEqual(['acme', 'verified', 'token']);
      expect([r.planted!.groupId, r.planted!.trust, r.planted!.attribution]).toEqual([null, 'unverified', 'disputed']);
      expect(r['planted-group']!.groupId).toBeNull();
      expect(await store.memberships({ userId: 'u1' })).toEqual([]);
      await post([msg('group', { userId: 'u5', groupId: 'acme', timestamp: day(1) })], { key: SERVER });
      await post([msg('group', { userId: 'u5', groupId: 'globex', timestamp: day(2) })]);
      await post([msg('track', { messageId: 'backend', userId: 'u5', timestamp: day(3) })], { key: SERVER });
      await post([msg('track', { messageId: 'browser', userId: 'u5', timestamp: day(3) })]);
      expect([(await rows(SERVER)).backend!.groupId, (await rows(SERVER)).backend!.trust]).toEqual(['acme', 'verified']);
      expect(await tenantOf('browser')).toBe('globex');
    });

    test('a re-sent batch is acknowledged as duplicates and changes no attribution', async () => {
      const g = msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(1) });
      const t = msg('track', { userId: 'u1', timestamp: day(2) });
      expect((await post([g, t])).accepted).toBe(2);
      expect(await post([g, t])).toMatchObject({ accepted: 0, duplicates: 2 });
      expect(await store.count({ writeKey: KEY })).toBe(2);
      expect(await tenantOf(t.messageId)).toBe('acme');
    });
  });
});
