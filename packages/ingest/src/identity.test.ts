// Identity and tenant attribution, and trust per event: through the HTTP API into real SQLite.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { buildApp } from './app.js';
import { identityResolver } from './store/identity.js';
import { openDatabase, openSqliteStore, type SqliteStore } from './store/sqlite.js';
import type { StoredEvent } from './store/types.js';
import { signUserToken } from './token.js';

const KEY = 'wk_public';
const SERVER = 'sk_backend_secret';
const SECRET = 'user-token-secret';
let store: SqliteStore;
let app: FastifyInstance;

beforeEach(async () => {
  store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-identity-')));
  app = buildApp({ store, writeKeys: [KEY], serverWriteKeys: [SERVER], secretKeys: [SECRET], logger: false });
});
afterEach(async () => {
  await app.close();
  await store.close();
});

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
let n = 0;
const day = (d: number, h = 12) => new Date(Date.UTC(2026, 2, d, h)).toISOString();
const msg = (type: string, over: Record<string, unknown> = {}) => ({
  type,
  messageId: `m-${++n}`,
  ...(type === 'track' ? { event: 'feature.used', properties: { feature: 'reports' } } : {}),
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
  return res.json() as { accepted: number; userToken?: { error: string; message: string } };
};
const rows = async (key = KEY) => Object.fromEntries((await store.list({ writeKey: key, limit: 1000 })).map((r) => [r.messageId, r]));
const tenantOf = async (id: string, key = KEY) => (await rows(key))[id]?.groupId;

describe('attribution from the identity table', () => {
  test("a message without context.groupId gets its user's tenant from the latest group call at or before it", async () => {
    await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(1) })]);
    await post([
      msg('track', { messageId: 'by-user', userId: 'u1', timestamp: day(2) }),
      msg('page', { messageId: 'claimed', userId: 'u1', timestamp: day(2), context: { groupId: 'globex' } }),
      msg('track', { messageId: 'stranger', userId: 'u9', timestamp: day(2) }),
    ]);
    const r = await rows();
    expect([r['by-user']!.groupId, r['by-user']!.attribution]).toEqual(['acme', 'identity']);
    expect([r.claimed!.groupId, r.claimed!.attribution]).toEqual(['globex', 'claim']); // context.groupId decides
    expect(r.stranger!.groupId).toBeNull();
  });

  test("events sent before their user's group call are attributed when it arrives, within 30 days", async () => {
    await post([
      msg('track', { messageId: 'early', anonymousId: 'a1', userId: 'u1', timestamp: day(5) }),
      msg('track', { messageId: 'too-early', userId: 'u1', timestamp: new Date(Date.parse(day(10)) - 31 * 86_400_000).toISOString() }),
      msg('track', { messageId: 'after', userId: 'u1', timestamp: day(11) }),
    ]);
    expect(await tenantOf('early')).toBeNull();
    await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(10) })]);
    expect(await tenantOf('early')).toBe('acme');
    expect(await tenantOf('after')).toBe('acme');
    expect(await tenantOf('too-early')).toBeNull(); // more than 30 days before its user's first group call
    // An event arriving late, timestamped before the group call (an offline queue), is attributed too.
    await post([msg('track', { messageId: 'late-arrival', userId: 'u1', timestamp: day(9) })]);
    expect(await tenantOf('late-arrival')).toBe('acme');
    expect(await store.memberships({ userId: 'u1' })).toEqual([{ tenantId: 'acme', since: day(10), verified: false }]);
  });

  test("a user in several tenants: context.groupId decides; without it the latest group call at the event's time", async () => {
    await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(1) }), msg('group', { userId: 'u1', groupId: 'globex', timestamp: day(10) })]);
    await post([
      msg('track', { messageId: 'in-acme', userId: 'u1', timestamp: day(5) }),
      msg('track', { messageId: 'in-globex', userId: 'u1', timestamp: day(12) }),
      msg('track', { messageId: 'claims-acme', userId: 'u1', timestamp: day(12), context: { groupId: 'acme' } }),
      msg('track', { messageId: 'later', userId: 'u1', timestamp: day(20) }),
    ]);
    expect(await tenantOf('in-acme')).toBe('acme');
    expect(await tenantOf('in-globex')).toBe('globex');
    expect(await tenantOf('claims-acme')).toBe('acme');
    // A group call that arrives late (timestamped day 15) re-attributes what followed it.
    await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(15) })]);
    expect(await tenantOf('in-globex')).toBe('globex');
    expect(await tenantOf('later')).toBe('acme');
    expect(await store.memberships({ userId: 'u1' })).toEqual([
      { tenantId: 'acme', since: day(1), verified: false },
      { tenantId: 'globex', since: day(10), verified: false },
    ]);
  });

  test('a repeated group call for the tenant the user already has adds nothing', async () => {
    await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(1) })]);
    for (let i = 2; i < 6; i++) await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(i) })]);
    expect(await store.memberships({ userId: 'u1' })).toEqual([{ tenantId: 'acme', since: day(1), verified: false }]);
  });

  test("alias: the previous id (anonymous or user) takes the user's tenant, its earlier events too", async () => {
    await post([
      msg('track', { messageId: 'anon-event', anonymousId: 'anon-7', timestamp: day(3) }),
      msg('track', { messageId: 'old-user-event', userId: 'legacy-42', timestamp: day(3) }),
      msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(2) }),
    ]);
    expect(await tenantOf('anon-event')).toBeNull();
    await post([
      msg('alias', { userId: 'u1', previousId: 'anon-7', timestamp: day(4) }),
      msg('alias', { userId: 'u1', previousId: 'legacy-42', timestamp: day(4) }),
    ]);
    expect(await tenantOf('anon-event')).toBe('acme');
    expect(await tenantOf('old-user-event')).toBe('acme');
    await post([msg('track', { messageId: 'anon-later', anonymousId: 'anon-7', timestamp: day(6) })]);
    expect(await tenantOf('anon-later')).toBe('acme');
  });

  test("identify with both ids links the anonymous id: a backend group call (userId only) attributes the browser's anonymous events", async () => {
    await post([msg('page', { messageId: 'landing', anonymousId: 'anon-1', timestamp: day(3, 9) })]);
    await post([msg('identify', { userId: 'u1', anonymousId: 'anon-1', timestamp: day(3, 10), traits: {} })]);
    await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(3, 11) })], { key: SERVER });
    expect(await tenantOf('landing')).toBe('acme');
    expect(await store.memberships({ userId: 'u1' })).toEqual([{ tenantId: 'acme', since: day(3, 11), verified: true }]);
  });

  test('duplicates are attributed once and re-sent group calls change nothing', async () => {
    const g = msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(1) });
    const t = msg('track', { userId: 'u1', timestamp: day(2) });
    await post([g, t]);
    const again = await post([g, t]);
    expect(again.accepted).toBe(0);
    expect(await store.count({ writeKey: KEY })).toBe(2);
    expect(await tenantOf(t.messageId)).toBe('acme');
  });
});

describe('trust', () => {
  const token = (sub: string, tenant: string) => signUserToken({ sub, tenant }, SECRET);

  test('server write key → verified; browser without a token → unverified', async () => {
    await post([msg('track', { messageId: 's', userId: 'u1', timestamp: day(1), context: { groupId: 'acme' } })], { key: SERVER });
    await post([msg('track', { messageId: 'b', userId: 'u1', timestamp: day(1), context: { groupId: 'acme' } })]);
    expect((await rows(SERVER)).s!.trust).toBe('verified');
    expect((await rows()).b!.trust).toBe('unverified');
  });

  test('a user token proves its user and tenant; a message claiming another tenant is disputed, attributed to none', async () => {
    const tok = token('u1', 'acme');
    await post(
      [
        msg('track', { messageId: 'own', userId: 'u1', timestamp: day(1), context: { groupId: 'acme' } }),
        msg('track', { messageId: 'no-claim', userId: 'u1', timestamp: day(1) }),
        msg('track', { messageId: 'other-user', userId: 'u2', timestamp: day(1), context: { groupId: 'acme' } }),
        msg('track', { messageId: 'anonymous', anonymousId: 'a1', timestamp: day(1) }),
        msg('track', { messageId: 'planted', userId: 'u1', timestamp: day(1), context: { groupId: 'globex' } }),
        msg('group', { messageId: 'planted-group', userId: 'u1', groupId: 'globex', timestamp: day(1) }),
      ],
      { userToken: tok },
    );
    const r = await rows();
    expect([r.own!.groupId, r.own!.trust]).toEqual(['acme', 'verified']);
    expect([r['no-claim']!.groupId, r['no-claim']!.trust, r['no-claim']!.attribution]).toEqual(['acme', 'verified', 'token']);
    expect([r['other-user']!.groupId, r['other-user']!.trust]).toEqual(['acme', 'unverified']);
    expect([r.anonymous!.groupId, r.anonymous!.trust]).toEqual(['acme', 'verified']); // the page is u1's
    expect([r.planted!.groupId, r.planted!.trust, r.planted!.attribution]).toEqual([null, 'unverified', 'disputed']);
    expect(JSON.parse(r.planted!.payload).context.groupId).toBe('globex'); // the claim is kept, as a claim
    expect(r['planted-group']!.groupId).toBeNull();
    expect(await store.memberships({ userId: 'u1' })).toEqual([]); // a disputed group call makes no membership
  });

  test('the token may also come as Authorization: Bearer on a single-message route, or in the body of one', async () => {
    const tok = token('u1', 'acme');
    const one = (payload: Record<string, unknown>, headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/v1/track', headers: { 'content-type': 'text/plain', ...headers }, payload: JSON.stringify(payload) });
    expect(
      (await one({ ...msg('track', { messageId: 'bearer', userId: 'u1', timestamp: day(1) }), writeKey: KEY }, { authorization: `Bearer ${tok}` })).statusCode,
    ).toBe(200);
    expect((await one({ ...msg('track', { messageId: 'in-body', userId: 'u1', timestamp: day(1) }), writeKey: KEY, userToken: tok }, {})).statusCode).toBe(200);
    const r = await rows();
    expect([r.bearer!.trust, r['in-body']!.trust]).toEqual(['verified', 'verified']);
    expect(JSON.parse(r['in-body']!.payload).userToken).toBeUndefined();
  });

  test('a bad token costs the events only their trust, and the answer says why', async () => {
    const expired = signUserToken({ sub: 'u1', tenant: 'acme', ttlSeconds: 60 }, SECRET, Date.now() - 3_600_000);
    const res = await post([msg('track', { messageId: 'x', userId: 'u1', timestamp: day(1), context: { groupId: 'acme' } })], { userToken: expired });
    expect(res.accepted).toBe(1);
    expect(res.userToken).toMatchObject({ error: 'invalid_user_token', message: expect.stringMatching(/expired.*stored unverified/) });
    expect((await rows()).x!.trust).toBe('unverified');
    const forged = signUserToken({ sub: 'u1', tenant: 'acme' }, 'not-the-secret');
    expect((await post([msg('track', { messageId: 'y', userId: 'u1', timestamp: day(1) })], { userToken: forged })).userToken?.message).toMatch(/signature/);
  });

  test('a server-key message without a tenant is attributed through verified memberships only', async () => {
    // A browser (no token) claims u1 is in globex; the backend says acme.
    await post([msg('group', { userId: 'u1', groupId: 'acme', timestamp: day(1) })], { key: SERVER });
    await post([msg('group', { userId: 'u1', groupId: 'globex', timestamp: day(2) })]);
    await post([msg('track', { messageId: 'backend', event: 'integration.state', userId: 'u1', timestamp: day(3) })], { key: SERVER });
    await post([msg('track', { messageId: 'browser', userId: 'u1', timestamp: day(3) })]);
    expect([(await rows(SERVER)).backend!.groupId, (await rows(SERVER)).backend!.trust]).toEqual(['acme', 'verified']);
    expect(await tenantOf('browser')).toBe('globex'); // browser events follow the latest call, verified or not
  });
});

describe('the synchronous fast path (attributeCached, the SQLite group commit)', () => {
  test('answers exactly as attribute does once cached, never from a list a group or identify call has changed', async () => {
    const k = await openDatabase(join(mkdtempSync(join(tmpdir(), 'keel-identity-sync-')), 'keel.db'));
    try {
      const id = identityResolver(k.sqlite);
      let m = 0;
      const row = (type: string, o: Partial<StoredEvent> = {}): StoredEvent => ({
        writeKey: KEY,
        messageId: `s-${++m}`,
        type,
        event: null,
        userId: null,
        anonymousId: null,
        groupId: null,
        timestamp: day(5),
        originalTimestamp: null,
        sentAt: null,
        receivedAt: day(5),
        payload: '{}',
        ...o,
      });
      const learn = async (r: StoredEvent) => id.learn(r, await id.attribute(r));
      const senders: (StoredEvent['sender'] | undefined)[] = [undefined, { kind: 'server' }, { kind: 'user', userId: 'u1', tenantId: 'acme' }];
      const probes = () =>
        senders.flatMap((sender) =>
          [
            { userId: 'u1' },
            { userId: 'u2', anonymousId: 'a2' },
            { anonymousId: 'a2' },
            { userId: 'u3', groupId: 'claimed' },
            { userId: 'u1', groupId: 'globex' },
            { userId: 'u1', timestamp: day(1) },
          ].map((o) => row('track', { ...o, ...(sender ? { sender } : {}) })),
        );
      // Nothing looked up yet: a row its user decides has no synchronous answer; a claim always has one.
      expect(id.attributeCached(row('track', { userId: 'u1' }))).toBeUndefined();
      expect(id.attributeCached(row('track', { userId: 'u1', groupId: 'globex' }))).toEqual({ groupId: 'globex', trust: 'unverified', attribution: 'claim' });
      const steps: StoredEvent[] = [
        row('group', { userId: 'u1', groupId: 'acme', timestamp: day(2), sender: { kind: 'server' } }),
        row('identify', { userId: 'u2', anonymousId: 'a2', timestamp: day(3) }),
        row('group', { userId: 'u2', groupId: 'initech', timestamp: day(4) }),
        row('group', { userId: 'u1', groupId: 'globex', timestamp: day(4) }),
      ];
      for (const step of [undefined, ...steps]) {
        if (step) await learn(step);
        for (const p of probes()) {
          const cached = id.attributeCached(p); // before attribute: whatever is still cached from the last step
          const fresh = await id.attribute(p);
          if (cached !== undefined) expect(cached).toEqual(fresh);
          expect(id.attributeCached(p)).toEqual(fresh); // after attribute: always cached
        }
      }
      // The last step moved u1 to globex on day 4: the synchronous answer follows it.
      expect(id.attributeCached(row('track', { userId: 'u1' }))?.groupId).toBe('globex');
      expect(id.attributeCached(row('track', { anonymousId: 'a2' }))?.groupId).toBe('initech');
    } finally {
      await k.close();
    }
  });
});
