// Goals and holdouts over real HTTP: the progress answer carries the server's holdout assignment
// (the browser never picks its own arm), and GET /v1/admin/outcomes measures the fixture's nudges.
import { inHoldout, mergeProgress, type ProgressEntry } from '@keel/sdk-core/engine';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { FIXTURE_HOLDOUT, FIXTURE_NUDGES, outcomesFixture } from './test-support/outcomes-fixture.js';
import { ADMIN_KEY, type Live, liveServer } from './test-support/live.js';
import { insertRows } from './test-support/rows.js';
import { signUserToken } from './token.js';

const SECRET = 'secret_live_test';
const nudge = (id: string, goalEvent: string) => ({
  id,
  kind: 'modal',
  body: 'x',
  when: { event: 'dataset.ingested' },
  goal: { event: goalEvent, within: '7d' },
  holdout: FIXTURE_HOLDOUT,
});
const CONFIG = { version: 1, product: 'acme', nudges: [nudge('lift', FIXTURE_NUDGES.lift.goalEvent), nudge('flat', FIXTURE_NUDGES.flat.goalEvent)] };
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

let live: Live;
const { rows, truth } = outcomesFixture({ now: Date.now(), tenants: 3, usersPerTenant: 400 });
beforeAll(async () => {
  live = await liveServer();
  const pub = await live.send({
    method: 'POST',
    path: '/v1/admin/config',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ config: CONFIG, actor: 'test' }),
  });
  expect(pub.status, pub.body).toBe(201);
  for (let i = 0; i < rows.length; i += 2000) await insertRows(live.store.db, rows.slice(i, i + 2000));
}, 60_000);
afterAll(async () => {
  await live.close();
});

test("the progress answer carries the server's holdout assignment for every nudge with a holdout", async () => {
  const users = Array.from({ length: 40 }, (_, i) => `u-${i}`);
  for (const sub of users) {
    const token = signUserToken({ sub, tenant: 'tenant-0' }, SECRET);
    const r = await live.send({ method: 'GET', path: '/v1/progress', headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    const entries = (JSON.parse(r.body) as { user: { kind: string; ref: string; data: { holdout?: boolean } | null; source: string }[] }).user.filter(
      (e) => e.kind === 'nudge',
    );
    // Dated now: in the browser's merge it is newer than anything cached, so the server's arm wins.
    const lift = entries.find((e) => e.ref === 'lift') as unknown as ProgressEntry;
    expect(Date.now() - Date.parse(lift.updatedAt)).toBeLessThan(60_000);
    const cached: ProgressEntry = { ...lift, updatedAt: new Date(Date.now() - 3_600_000).toISOString(), data: { holdout: !lift.data!.holdout } };
    expect(mergeProgress(cached, lift).data?.holdout).toBe(lift.data!.holdout);
    expect(entries.map((e) => [e.ref, e.data?.holdout, e.source]).sort()).toEqual(
      [
        ['flat', inHoldout('flat', sub, FIXTURE_HOLDOUT), 'server'],
        ['lift', inHoldout('lift', sub, FIXTURE_HOLDOUT), 'server'],
      ].sort(),
    );
  }
});

test('GET /v1/admin/outcomes: each nudge with its arms, the difference and its interval; per tenant on request', async () => {
  const r = await live.send({ method: 'GET', path: '/v1/admin/outcomes', headers: admin });
  expect(r.status, r.body).toBe(200);
  const body = JSON.parse(r.body) as {
    method: string;
    outcomes: {
      id: string;
      tenant: string | null;
      shown: { users: number; goal: number };
      heldOut: { users: number; goal: number };
      verdict: string;
      lift: { low: number; high: number };
    }[];
  };
  expect(body.method).toMatch(/Newcombe/);
  const lift = body.outcomes.find((o) => o.id === 'lift')!;
  expect([lift.shown.users, lift.shown.goal, lift.heldOut.users, lift.heldOut.goal]).toEqual([
    truth.lift!.shown.users,
    truth.lift!.shown.goal,
    truth.lift!.heldOut.users,
    truth.lift!.heldOut.goal,
  ]);
  expect(lift.lift.low).toBeLessThan(lift.lift.high);
  const by = JSON.parse((await live.send({ method: 'GET', path: '/v1/admin/outcomes?by=tenant', headers: admin })).body) as typeof body;
  expect(new Set(by.outcomes.map((o) => o.tenant))).toEqual(new Set([null, 'tenant-0', 'tenant-1', 'tenant-2']));
  const one = JSON.parse((await live.send({ method: 'GET', path: '/v1/admin/outcomes?tenant=tenant-1&min=100000', headers: admin })).body) as typeof body;
  expect(one.outcomes.every((o) => o.tenant === 'tenant-1' && o.verdict === 'not enough data yet')).toBe(true);
});

test('a hostile exposure (a version that is no whole number, a nudge id that is an object) is read as unknown, never a 500', async () => {
  const at = new Date(Date.now() - 86_400_000).toISOString();
  await insertRows(live.store.db, [
    { type: 'track', event: 'nudge.sent', userId: 'odd-1', groupId: 'tenant-0', timestamp: at, properties: { nudge: 'lift', version: 1.5 } },
    { type: 'track', event: 'nudge.sent', userId: 'odd-2', groupId: 'tenant-0', timestamp: at, properties: { nudge: 'lift', version: '1e400' } },
    { type: 'track', event: 'nudge.sent', userId: 'odd-3', groupId: 'tenant-0', timestamp: at, properties: { nudge: { toString: 'lift' }, version: -0 } },
  ]);
  const r = await live.send({ method: 'GET', path: '/v1/admin/outcomes?by=tenant', headers: admin });
  expect(r.status, r.body).toBe(200);
  const versions = (JSON.parse(r.body) as { outcomes: { id: string; version: number | null }[] }).outcomes.filter((o) => o.id === 'lift').map((o) => o.version);
  expect(versions).toContain(null);
});

test('bad queries are 400s that name the problem; the admin key only', async () => {
  const bad = await live.send({ method: 'GET', path: '/v1/admin/outcomes?by=week', headers: admin });
  expect(bad.status).toBe(400);
  expect(JSON.parse(bad.body)).toMatchObject({ error: 'invalid_query', message: 'by must be "tenant" (a row per tenant as well)' });
  const min = await live.send({ method: 'GET', path: '/v1/admin/outcomes?min=-3', headers: admin });
  expect(min.status).toBe(400);
  const unknown = await live.send({ method: 'GET', path: '/v1/admin/outcomes?tenant=a&x=1', headers: admin });
  expect(unknown.status).toBe(400);
  const user = await live.send({ method: 'GET', path: '/v1/admin/outcomes', headers: { authorization: `Bearer ${live.token('tenant-0')}` } });
  expect(user.status).toBe(401);
});
