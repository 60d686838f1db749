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
  store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-timeline-')));
  await store.config.publish({ document: JSON.stringify(ACME), hash: 'h', publishedAt: new Date(Date.now() - 10 * 3_600_000).toISOString(), publishedBy: 'ada', summary: 'first version' });
});
afterEach(() => store.close());

let n = 0;
const ev = (groupId: string, event: string, properties: Record<string, unknown>, hoursAgo: number): StoredEvent => {
  const ts = new Date(Date.now() - hoursAgo * 3_600_000).toISOString();
  return { writeKey: 'wk', messageId: `t${++n}`, type: 'track', event, userId: 'u', anonymousId: null, groupId, timestamp: ts, originalTimestamp: null, sentAt: null, receivedAt: new Date().toISOString(), payload: JSON.stringify({ properties }), sender: { kind: 'server' } }; // verified
};

test('the evaluator re-evaluates tenants with new events; the timeline shows events that matter, transitions, alerts and config changes, paginated and isolated', async () => {
  await store.insert([
    ev('acme', 'deployment.published', { version: '2.3.0' }, 5),
    ev('acme', 'feature.used', { feature: 'x' }, 4), // not timeline material
    ev('acme', 'ticket.created', { id: 'T-1' }, 3),
    ev('acme', 'billing.invoice', { invoice: 'inv-9', status: 'overdue' }, 2),
    ev('globex', 'ticket.created', { id: 'G-1' }, 1),
  ]);
  // Onboarding done from evidence (the server decides the items from these events).
  await store.insert([ev('acme', 'integration.state', { integration: 'sso', state: 'connected' }, 6), ev('acme', 'feature.used', { feature: 'dataset.ingest' }, 6)]);
  const evaluator = store.startEvaluator({ intervalMs: 3_600_000 });
  expect(await evaluator.runOnce()).toBe(2); // acme and globex had new events
  expect(await evaluator.runOnce()).toBe(0); // nothing new since
  evaluator.stop();

  const page = await store.timeline('acme', { limit: 3 });
  // One user active on one of 7 days: DAU/WAU = 1/7, the score is at risk, and so is the lifecycle.
  expect(page.items.map((i) => i.title)).toEqual(['lifecycle: activated → at-risk', 'lifecycle: onboarding → activated', 'alert: unpaid-invoice']);
  const rest = await store.timeline('acme', { before: page.next!, limit: 10 });
  expect(rest.items.map((i) => i.title)).toEqual(['billing.invoice', 'ticket.created', 'deployment.published', 'integration.state', 'config version 1']);
  expect(rest.next).toBeNull();
  expect(rest.items[2]!.detail).toEqual({ version: '2.3.0' });

  const app = buildApp({ store, writeKeys: ['wk'], adminKeys: ['adm'], secretKeys: ['s'], timeline: store.timeline, logger: false });
  const get = (url: string, auth: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${auth}` } });
  expect((await get('/v1/tenants/acme/timeline?limit=2', 'adm')).json().items).toHaveLength(2);
  const acmeAdmin = signUserToken({ sub: 'u', tenant: 'acme', role: 'admin' }, 's');
  expect((await get('/v1/tenants/acme/timeline', acmeAdmin)).json().items.some((i: { title: string }) => i.title.includes('G-1'))).toBe(false);
  expect((await get('/v1/tenants/globex/timeline', acmeAdmin)).statusCode).toBe(403);
  expect((await get('/v1/tenants/acme/timeline?limit=500', 'adm')).json().error).toBe('invalid_limit');
  expect((await get('/v1/tenants/acme/timeline?before=yesterday', 'adm')).json().error).toBe('invalid_cursor');
  await app.close();
});

test('incidents affecting the tenant (opened, updated, resolved) and expansion events are on its timeline; names configurable', async () => {
  const H = 3_600_000;
  await store.status.upsertIncident({ id: 'inc-eu', title: 'EU ingest slow', tenants: ['acme'], components: ['ingest'] }, Date.now() - 5 * H);
  await store.status.upsertIncident({ id: 'inc-eu', title: 'EU ingest slow', state: 'identified', message: 'a bad disk' }, Date.now() - 4 * H);
  await store.status.upsertIncident({ id: 'inc-eu', title: 'EU ingest slow', state: 'resolved' }, Date.now() - 3 * H);
  await store.status.upsertIncident({ id: 'inc-us', title: 'US only', tenants: ['globex'] }, Date.now() - 2 * H);
  await store.status.upsertIncident({ id: 'inc-all', title: 'Everyone', state: 'monitoring' }, Date.now() - 1.5 * H);
  await store.insert([ev('acme', 'plan.changed', { from: 'team', to: 'business' }, 1), ev('acme', 'seats.changed', { from: 10, to: 25 }, 0.5), ev('acme', 'seats.grown', { to: 30 }, 0.4)]);
  const { items } = await store.timeline('acme', { limit: 20 });
  const mine = items.filter((i) => i.kind === 'incident' || i.kind === 'expansion').map((i) => i.title);
  expect(mine).toEqual(['expansion: seats.changed', 'expansion: plan.changed', 'incident opened: Everyone', 'incident resolved: EU ingest slow', 'incident updated: EU ingest slow', 'incident opened: EU ingest slow']);
  expect(items.find((i) => i.title === 'incident updated: EU ingest slow')!.detail).toMatchObject({ change: 'updated', state: 'identified', message: 'a bad disk', components: ['ingest'] });
  expect(items.find((i) => i.title === 'expansion: seats.changed')!.detail).toEqual({ event: 'seats.changed', from: 10, to: 25 });
  expect((await store.timeline('globex')).items.map((i) => i.title)).toContain('incident opened: US only');
  // Configured names: seats.grown counts as expansion; plan.changed no longer shows.
  const custom = { ...ACME, timeline: { expansion: ['seats.changed', 'seats.grown'] } };
  await store.config.publish({ document: JSON.stringify(custom), hash: 'h2', publishedAt: new Date(Date.now() - 9 * H).toISOString(), publishedBy: 'ada', summary: 'timeline' });
  const after = (await store.timeline('acme', { limit: 20 })).items.filter((i) => i.kind === 'expansion').map((i) => i.title);
  expect(after).toEqual(['expansion: seats.grown', 'expansion: seats.changed']);
});
