import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { buildApp } from './app.js';
import { mergeProgress, type ProgressEntry } from './store/state-types.js';
import { openSqliteStore, type SqliteStore } from './store/sqlite.js';
import { signUserToken, verifyUserToken } from './token.js';

const SECRET = 'test-secret';
const ADMIN = 'admin-secret';
let store: SqliteStore;
let app: FastifyInstance;
beforeEach(async () => {
  store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-state-')));
  app = buildApp({
    store,
    writeKeys: ['wk'],
    adminKeys: [ADMIN],
    secretKeys: [SECRET],
    logger: false,
    config: store.config,
    progress: store.progress,
    facts: store.facts,
    lifecycle: store.lifecycle,
  });
});
afterEach(async () => {
  await app.close();
  await store.close();
});

const doc = (title: string) => ({ version: 1, product: 'acme', checklists: [{ id: 'onboarding', title, items: [] }], nudges: [{ id: 'n1', title: 'x' }] });
const publish = (config: unknown, headers: Record<string, string> = { authorization: `Bearer ${ADMIN}` }, qs = '') =>
  app.inject({ method: 'POST', url: `/v1/admin/config${qs}`, headers, payload: JSON.stringify({ config, actor: 'ada@cs' }) });

describe('config: publish, serve with ETag, audit', () => {
  test('publish stores immutable versions with an audit entry; GET /v1/config serves the latest with an ETag and 304 when unchanged', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/config?writeKey=wk' })).statusCode).toBe(404);
    const first = await publish(doc('Get started'));
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ version: 1, summary: 'first version' });

    const got = await app.inject({ method: 'GET', url: '/v1/config?writeKey=wk' });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ version: 1, config: doc('Get started') });
    const etag = got.headers.etag as string;
    expect(etag).toMatch(/^"v1-[0-9a-f]{16}"$/);
    expect((await app.inject({ method: 'GET', url: '/v1/config?writeKey=wk', headers: { 'if-none-match': etag } })).statusCode).toBe(304);

    const dry = await publish(doc('Get Acme running'), undefined, '?dryRun=1');
    expect(dry.json()).toMatchObject({ dryRun: true, currentVersion: 1, diff: { changed: ['checklists/onboarding'] } });
    expect((await app.inject({ method: 'GET', url: '/v1/config?writeKey=wk' })).json().version).toBe(1);

    const second = await publish({ ...doc('Get Acme running'), nudges: [] });
    expect(second.json()).toMatchObject({ version: 2, summary: 'changed checklists/onboarding; removed nudges/n1' });
    const after = await app.inject({ method: 'GET', url: '/v1/config?writeKey=wk', headers: { 'if-none-match': etag } });
    expect(after.statusCode).toBe(200);
    expect(after.json().config.checklists[0].title).toBe('Get Acme running');

    const again = await publish({ ...doc('Get Acme running'), nudges: [] });
    expect(again.json()).toMatchObject({ unchanged: true, version: 2 });
    // The same document with its keys in another order: no changes, and no new version.
    const reordered = await publish({ nudges: [], checklists: [{ items: [], title: 'Get Acme running', id: 'onboarding' }], product: 'acme', version: 1 });
    expect(reordered.json()).toMatchObject({ unchanged: true, version: 2, summary: 'no changes', diff: { added: [], changed: [], removed: [] } });
    // Every section counts: fatigue (and any other) is diffed like the rest.
    const fatigue = await publish({ ...doc('Get Acme running'), nudges: [], fatigue: { perDay: 3 } });
    expect(fatigue.json()).toMatchObject({ version: 3, summary: 'added fatigue' });
    expect((await publish({ ...doc('Get Acme running'), nudges: [], fatigue: { perDay: 4 } })).json()).toMatchObject({
      version: 4,
      summary: 'changed fatigue',
    });
    await publish({ ...doc('Get Acme running'), nudges: [] }); // back to version 2's document: version 5, "removed fatigue"
    expect(
      (await app.inject({ method: 'GET', url: '/v1/admin/config/versions', headers: { authorization: `Bearer ${ADMIN}` } })).json().versions[0],
    ).toMatchObject({ version: 5, summary: 'removed fatigue' });

    const audit = (await app.inject({ method: 'GET', url: '/v1/admin/audit', headers: { authorization: `Bearer ${ADMIN}` } })).json();
    expect(audit.entries.map((e: { detail: string }) => e.detail).slice(3)).toEqual([
      'version 2: changed checklists/onboarding; removed nudges/n1',
      'version 1: first version',
    ]);
    expect(audit.entries[0].actor).toMatch(/^ada@cs \(admin:[0-9a-f]{8}\)$/);
    const versions = (await app.inject({ method: 'GET', url: '/v1/admin/config/versions', headers: { authorization: `Bearer ${ADMIN}` } })).json();
    expect(versions.versions.map((v: { version: number }) => v.version)).toEqual([5, 4, 3, 2, 1]);
  });

  test('a draft is previewed by its id without publishing, and expires after a day', async () => {
    await publish(doc('Published'));
    const res = await app.inject({
      method: 'POST',
      url: '/v1/admin/drafts',
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: JSON.stringify({ config: doc('Draft title'), actor: 'ada@cs' }),
    });
    expect(res.statusCode).toBe(201);
    const { draft } = res.json() as { draft: string };
    expect(draft).toMatch(/^[0-9a-f]{32}$/);
    const preview = await app.inject({ method: 'GET', url: `/v1/config?writeKey=wk&draft=${draft}` });
    expect(preview.json()).toMatchObject({ version: 0, draft, config: { checklists: [{ title: 'Draft title' }] } });
    expect(preview.headers['cache-control']).toBe('no-store');
    expect((await app.inject({ method: 'GET', url: '/v1/config?writeKey=wk' })).json().config.checklists[0].title).toBe('Published');
    expect((await app.inject({ method: 'GET', url: '/v1/config?writeKey=wk&draft=0000' })).json().error).toBe('no_draft');
    expect(await store.config.draft(draft, Date.now() + 25 * 3600_000)).toBeUndefined();
    expect((await app.inject({ method: 'GET', url: '/v1/admin/audit', headers: { authorization: `Bearer ${ADMIN}` } })).json().entries[0].action).toBe(
      'config.draft_saved',
    );
  });

  test('error repairs are stored as authored and served to browsers as nudges (repair-<id>), published or previewed', async () => {
    const repairs = {
      version: 1,
      product: 'acme',
      nudges: [{ id: 'hello', kind: 'modal', body: 'x', when: { event: 'x' } }],
      errors: [{ id: 'no-dataset', match: { code: 'E_NO_DATASET' }, body: 'Import a dataset first.' }],
    };
    const pub = await publish(repairs);
    expect(pub.statusCode, pub.body).toBe(201);
    const served = (await app.inject({ method: 'GET', url: '/v1/config?writeKey=wk' })).json() as {
      config: Record<string, unknown> & { nudges: { id: string }[] };
    };
    expect(served.config.nudges.map((n) => n.id)).toEqual(['hello', 'repair-no-dataset']);
    expect(served.config.nudges[1]).toMatchObject({ kind: 'banner', when: { event: 'error.raised', where: { code: 'E_NO_DATASET' }, within: '10m' } });
    expect('errors' in served.config).toBe(false);
    // The stored version keeps what the CS team wrote (versions, diffs and the audit read it).
    expect(JSON.parse((await store.config.latest())!.document)).toEqual(repairs);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/admin/drafts',
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: JSON.stringify({ config: { ...repairs, errors: [{ ...repairs.errors[0], id: 'draft-fix' }] }, actor: 'ada@cs' }),
    });
    const preview = (await app.inject({ method: 'GET', url: `/v1/config?writeKey=wk&draft=${res.json().draft}` })).json() as typeof served;
    expect(preview.config.nudges.map((n) => n.id)).toEqual(['hello', 'repair-draft-fix']);
  });

  test('publishing needs the admin key; reading needs a write key', async () => {
    expect((await publish(doc('x'), {})).json()).toMatchObject({ error: 'missing_admin_key' });
    expect((await publish(doc('x'), { authorization: 'Bearer wk' })).statusCode).toBe(401);
    expect((await publish(doc('x'), { authorization: 'Basic d2s6' })).statusCode).toBe(401);
    await publish(doc('x'));
    expect((await app.inject({ method: 'GET', url: '/v1/config' })).json().error).toBe('missing_write_key');
    expect((await app.inject({ method: 'GET', url: '/v1/config?writeKey=nope' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/v1/admin/audit', headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401);
  });

  test('a validator refuses a bad document with every problem, and nothing is stored', async () => {
    await app.close();
    app = buildApp({
      store,
      writeKeys: ['wk'],
      adminKeys: [ADMIN],
      logger: false,
      config: store.config,
      validateConfig: () => ({ ok: false, problems: [{ path: 'checklists[0].id', message: 'expected a slug' }] }),
    });
    const res = await publish(doc('x'));
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: 'invalid_config', problems: [{ path: 'checklists[0].id', message: 'expected a slug' }] });
    expect(await store.config.latest()).toBeUndefined();
  });
});

describe('user tokens', () => {
  test('a token minted with the secret verifies to its user, tenant and role', async () => {
    const t = signUserToken({ sub: 'u1', tenant: 'acme', role: 'admin' }, SECRET);
    expect(await verifyUserToken(t, [SECRET])).toMatchObject({ userId: 'u1', tenantId: 'acme', role: 'admin' });
    expect((await verifyUserToken(t, ['old', SECRET])).userId).toBe('u1'); // rotation
  });

  test.each([
    ['another secret', () => signUserToken({ sub: 'u', tenant: 't' }, 'other'), /signature does not match/],
    ['expired', () => signUserToken({ sub: 'u', tenant: 't', ttlSeconds: 60 }, SECRET, Date.now() - 3_600_000), /expired at/],
    ['too long-lived', () => signUserToken({ sub: 'u', tenant: 't', ttlSeconds: 7 * 86400 }, SECRET), /lives longer than 24 h/],
    ['not a JWT', () => 'abc', /not a JWT/],
    ['alg none', () => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`, /HS256/],
  ])('%s is refused, naming why', async (_name, make, message) => {
    await expect(verifyUserToken(make(), [SECRET])).rejects.toThrow(message);
  });
});

describe('progress', () => {
  const token = (sub: string, tenant = 'acme') => ({ authorization: `Bearer ${signUserToken({ sub, tenant }, SECRET)}` });
  const put = (headers: Record<string, string>, entries: Partial<ProgressEntry>[]) =>
    app.inject({ method: 'PUT', url: '/v1/progress', headers, payload: JSON.stringify({ entries }) });
  const item = (ref: string, state: ProgressEntry['state'], updatedAt: string, scope: ProgressEntry['scope'] = 'user') => ({
    scope,
    kind: 'checklist' as const,
    ref,
    state,
    updatedAt,
  });

  test('progress follows the user; tenant-wide items are shared by the account; a late older sync never undoes a completion', async () => {
    // Items a user may attest (the server can't see them): stored as attested by that user.
    await publish({
      version: 1,
      product: 'acme',
      checklists: [
        {
          id: 'onboarding',
          title: 'x',
          items: [
            { id: 'sso', title: 'SSO', attest: 'user', complete: { page: '/sso/done' } },
            { id: 'team', title: 'Team', scope: 'tenant', attest: 'user', complete: { page: '/team' } },
          ],
        },
      ],
    });
    const ada = token('ada');
    await put(ada, [item('onboarding/sso', 'completed', '2026-05-02T10:00:00Z'), item('onboarding/team', 'completed', '2026-05-02T10:00:00Z', 'tenant')]);
    // An older device syncs late with "started".
    const late = await put(ada, [item('onboarding/sso', 'started', '2026-05-01T09:00:00Z')]);
    expect(late.json().user).toEqual([expect.objectContaining({ ref: 'onboarding/sso', state: 'completed', completedAt: '2026-05-02T10:00:00Z' })]);
    // Another user of the same tenant sees the tenant item, not Ada's own.
    const bob = (await app.inject({ method: 'GET', url: '/v1/progress', headers: token('bob') })).json();
    expect(bob.user).toEqual([]);
    expect(bob.tenant.map((e: ProgressEntry) => [e.ref, e.state])).toEqual([['onboarding/team', 'completed']]);
    // A user of another tenant sees nothing of acme's.
    const eve = (await app.inject({ method: 'GET', url: '/v1/progress', headers: token('ada', 'globex') })).json();
    expect([eve.user, eve.tenant]).toEqual([[], []]);
  });

  test('facts computed from stored events come with the progress', async () => {
    const ev = (
      id: string,
      userId: string,
      event: string,
      properties: Record<string, unknown>,
      now = new Date(Date.now() - 60_000 + Number(id)).toISOString(),
    ) => ({
      writeKey: 'wk',
      messageId: id,
      type: 'track',
      event,
      userId,
      anonymousId: null,
      groupId: 'acme',
      timestamp: now,
      originalTimestamp: null,
      sentAt: null,
      receivedAt: now,
      payload: JSON.stringify({ properties }),
      sender: { kind: 'server' as const },
    });
    await store.insert([
      ev('1', 'ada', 'feature.used', { feature: 'dataset.ingest' }),
      ev('2', 'bob', 'feature.used', { feature: 'reports.create' }),
      ev('3', 'ada', 'integration.state', { integration: 'sso', state: 'connected' }),
      ev('4', 'ada', 'integration.state', { integration: 'slack', state: 'connected' }),
    ]);
    await store.insert([ev('5', 'ada', 'integration.state', { integration: 'slack', state: 'failed' })]);
    // Unverified events (a public write key, no user token) are left out of the facts.
    await store.insert([{ ...ev('6', 'eve', 'feature.used', { feature: 'dataset.ingest' }), sender: { kind: 'anonymous' } }]);
    const res = (await app.inject({ method: 'GET', url: '/v1/progress', headers: token('ada') })).json();
    expect(res.facts).toMatchObject({ active_users_7d: 2, datasets_ingested: 1, integrations_connected: 1 });
  });

  test('bad requests are named: no token, bad entries', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/progress' })).json().error).toBe('missing_user_token');
    const bad = await put(token('ada'), [{ scope: 'user', kind: 'checklist', ref: 'x', state: 'finished' as never, updatedAt: 'now' }]);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/entries\.0\.state.*entries\.0\.updatedAt/s);
  });

  test('property: merging is monotonic and order-independent for the state', () => {
    const states = ['not_started', 'started', 'dismissed', 'completed'] as const;
    const entry = fc
      .record({
        state: fc.constantFrom(...states),
        updatedAt: fc.date({ min: new Date('2026-01-01'), max: new Date('2026-12-31'), noInvalidDate: true }).map((d) => d.toISOString()),
      })
      .map((e) => ({ scope: 'user' as const, kind: 'checklist' as const, ref: 'c/i', completedAt: e.state === 'completed' ? e.updatedAt : null, ...e }));
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 8 }), (list) => {
        const fold = (xs: ProgressEntry[]) => xs.reduce<ProgressEntry | undefined>((acc, x) => mergeProgress(acc, x), undefined)!;
        const a = fold(list);
        const b = fold([...list].reverse());
        expect(a.state).toBe(b.state);
        expect(a.completedAt ?? null).toBe(b.completedAt ?? null);
        const rank = (s: string) => states.indexOf(s as never);
        expect(rank(a.state)).toBe(Math.max(...list.map((x) => rank(x.state))));
      }),
    );
  });
});
