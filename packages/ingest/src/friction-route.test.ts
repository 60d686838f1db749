// GET /v1/admin/friction over real HTTP: events sent the way a browser sends them (through
// /v1/batch, hostile properties included) come back as ranked entries; bad queries are named 400s.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ADMIN_KEY, type Live, liveServer, WRITE_KEY } from './test-support/live.js';

const admin = { authorization: `Bearer ${ADMIN_KEY}` };
let live: Live;
beforeAll(async () => {
  live = await liveServer();
});
afterAll(async () => {
  await live.close();
});

const send = (batch: unknown[]) =>
  live.send({
    method: 'POST',
    path: '/v1/batch',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}` },
    body: JSON.stringify({ batch }),
  });

test('errors sent by the SDK are one entry per fingerprint and route; hostile properties are read as absent, never a 500', async () => {
  const err = (user: string, message: unknown, path: string, extra: Record<string, unknown> = {}) => ({
    type: 'track',
    event: 'error.raised',
    userId: user,
    messageId: `${user}-${String(Math.random()).slice(2)}`,
    properties: { kind: 'error', message, ...extra },
    context: { groupId: 'tenant-0', page: { path } },
  });
  const r = await send([
    err('u1', 'Report 12 failed to load', '/reports/12'),
    err('u2', 'Report 9931 failed to load', '/reports/9931'),
    err('u3', { toString: 'boom' }, '/reports/1', { code: ['x'] }),
    err('u4', 'x'.repeat(5000), '/'.repeat(2000)),
    { type: 'track', event: 'ticket.created', userId: 'u5', properties: { tags: [{ a: 1 }, 7] }, context: { groupId: 'tenant-0' } },
  ]);
  expect(r.status, r.body).toBe(200);
  const f = await live.send({ method: 'GET', path: '/v1/admin/friction', headers: admin });
  expect(f.status, f.body).toBe(200);
  const body = JSON.parse(f.body) as { days: number; entries: { kind: string; title: string; users: number; trend: string }[] };
  expect(body.days).toBe(7);
  const titles = body.entries.map((e) => [e.title, e.users]);
  expect(titles).toContainEqual(['Report <n> failed to load on /reports/:id', 2]);
  expect(titles).toContainEqual(['an error with no message on /reports/:id', 1]);
  expect(titles).toContainEqual(['untagged tickets', 1]);
  expect(body.entries.every((e) => e.trend === 'new')).toBe(true);
  const long = body.entries.find((e) => e.title.startsWith('xxx'))!;
  expect(long.title.length).toBeLessThan(600);
});

test('bad queries are 400s that name the problem; the admin key only', async () => {
  const days = await live.send({ method: 'GET', path: '/v1/admin/friction?days=0', headers: admin });
  expect(days.status).toBe(400);
  expect(JSON.parse(days.body)).toMatchObject({ error: 'invalid_query' });
  const ev = await live.send({ method: 'GET', path: '/v1/admin/friction?evidence=some', headers: admin });
  expect(JSON.parse(ev.body)).toMatchObject({ error: 'invalid_query', message: expect.stringContaining('evidence must be "verified" or "any"') });
  expect((await live.send({ method: 'GET', path: '/v1/admin/friction?limit=9999', headers: admin })).status).toBe(400);
  expect((await live.send({ method: 'GET', path: '/v1/admin/friction?x=1', headers: admin })).status).toBe(400);
  const user = await live.send({ method: 'GET', path: '/v1/admin/friction', headers: { authorization: `Bearer ${live.token('tenant-0')}` } });
  expect(user.status).toBe(401);
});
