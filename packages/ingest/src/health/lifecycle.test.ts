import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigText } from '@keel/sdk-core/authoring';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { buildApp } from '../app.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite.js';
import type { StoredEvent } from '../store/types.js';
import { signUserToken } from '../token.js';

const ACME = validateConfigText(readFileSync(new URL('../../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config!;
let store: SqliteStore;
beforeEach(async () => {
  store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-lifecycle-')));
  await store.config.publish({ document: JSON.stringify(ACME), hash: 'h', publishedAt: new Date().toISOString(), publishedBy: 't', summary: 'first version' });
});
afterEach(() => store.close());

let n = 0;
const ev = (userId: string, event: string, properties: Record<string, unknown> = {}, daysAgo = 0): StoredEvent => {
  const ts = new Date(Date.now() - 60_000 - daysAgo * 86_400_000).toISOString();
  return {
    writeKey: 'wk',
    messageId: `l${++n}`,
    type: 'track',
    event,
    userId,
    anonymousId: null,
    groupId: 'acme',
    timestamp: ts,
    originalTimestamp: null,
    sentAt: null,
    receivedAt: ts,
    payload: JSON.stringify({ properties }),
    sender: { kind: 'server' },
  };
};
const done = (ref: string) => ({ scope: 'user' as const, kind: 'checklist' as const, ref, state: 'completed' as const, updatedAt: new Date().toISOString() });
const sso = (u: string) => ev(u, 'integration.state', { integration: 'sso', state: 'connected' });
const dataset = (u: string) => ev(u, 'feature.used', { feature: 'dataset.ingest' });

test('each transition is recorded with its evidence, the config version and the time; re-evaluating adds nothing', async () => {
  expect(await store.lifecycle.evaluate('acme')).toMatchObject({ state: 'onboarding', owner: 'onboarding', transitions: [] });
  // Stored claims are not evidence: the items are decided from events.
  await store.progress.merge('acme', 'ada', [done('onboarding/sso'), done('onboarding/first-integration'), done('onboarding/first-dataset')]);
  expect((await store.lifecycle.evaluate('acme'))!.state).toBe('onboarding');
  await store.insert([sso('ada')]); // sso (ada's) and first-integration (the tenant's)
  expect((await store.lifecycle.evaluate('acme'))!.state).toBe('onboarding');
  await store.insert([dataset('bob')]); // completed by another user of the tenant
  const r = (await store.lifecycle.evaluate('acme'))!;
  expect(r.state).toBe('activated');
  expect(r.owner).toBe('csm');
  expect(r.transitions).toEqual([
    {
      from: 'onboarding',
      to: 'activated',
      at: expect.any(String),
      configVersion: 1,
      evidence: expect.objectContaining({ ok: true, actual: 'completed', clause: expect.stringContaining('onboarding') }),
    },
  ]);
  expect((await store.lifecycle.evaluate('acme'))!.transitions).toHaveLength(1);
});

test('a disallowed action is refused with the reason; allowed ones pass', async () => {
  expect(await store.lifecycle.check('acme', 'recipe:first-report')).toEqual({ ok: true });
  expect(await store.lifecycle.check('acme', 'checklist:other')).toEqual({
    ok: false,
    reason: expect.stringContaining('"checklist:other" is not allowed in lifecycle state "onboarding"'),
  });
});

test("GET /v1/tenants/:id/lifecycle: admin key or the tenant's admin token; facts from stored events feed the proofs", async () => {
  await store.insert([sso('ada'), dataset('ada')]);
  // Six active users and every one active each of the 7 days: DAU/WAU = 1 ≥ 0.3, active users ≥ 5 → adopted.
  // (Sent with a server-side key: verified events, which the proofs count.)
  await store.insert(['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].flatMap((u) => [0, 1, 2, 3, 4, 5, 6].map((d) => ev(u, 'feature.used', {}, d))));
  const app = buildApp({ store, writeKeys: ['wk'], adminKeys: ['adm'], secretKeys: ['s'], lifecycle: store.lifecycle, logger: false });
  // GET only reads: the state the evaluator (here called directly) recorded.
  const before = await app.inject({ method: 'GET', url: '/v1/tenants/acme/lifecycle', headers: { authorization: 'Bearer adm' } });
  expect(before.json()).toMatchObject({ state: 'onboarding', transitions: [] });
  await store.lifecycle.evaluate('acme');
  const res = await app.inject({ method: 'GET', url: '/v1/tenants/acme/lifecycle', headers: { authorization: 'Bearer adm' } });
  expect(res.json()).toMatchObject({
    state: 'adopted',
    transitions: [
      { from: 'activated', to: 'adopted' },
      { from: 'onboarding', to: 'activated' },
    ],
  });
  const other = await app.inject({
    method: 'GET',
    url: '/v1/tenants/acme/lifecycle',
    headers: { authorization: `Bearer ${signUserToken({ sub: 'x', tenant: 'globex', role: 'admin' }, 's')}` },
  });
  expect(other.statusCode).toBe(403);
  await app.close();
});

test('NPS from nps.submitted scores: promoters minus detractors, in percent', async () => {
  const { tenantMetricsQuery } = await import('./metrics.js');
  const { openDatabase } = await import('../store/sqlite.js'); // a second handle on the file, as another reader
  const rows = [10, 9, 8, 3].map((score) => ({ ...ev('acme', 'nps.submitted'), payload: JSON.stringify({ properties: { score } }) }));
  await store.insert(rows);
  const k = await openDatabase(store.path);
  expect((await tenantMetricsQuery(k)('acme')).values.nps_90d).toBe(25); // (2 − 1) / 4
  await k.close();
});
