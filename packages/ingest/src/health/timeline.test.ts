import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigText } from '@keel/sdk-core/authoring';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { buildApp } from '../app.js';
import type { KeelDb } from '../store/db.js';
import { openDatabase, openSqliteStore, type SqliteStore } from '../store/sqlite.js';
import { configStore } from '../store/state.js';
import type { StoredEvent } from '../store/types.js';
import { testPostgres } from '../test-support/pg.js';
import { insertRows } from '../test-support/rows.js';
import { signUserToken } from '../token.js';
import { statusService } from './status.js';
import { timelineQuery } from './timeline.js';

const ACME = validateConfigText(readFileSync(new URL('../../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config!;
let store: SqliteStore;
beforeEach(async () => {
  store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-timeline-')));
  await store.config.publish({
    document: JSON.stringify(ACME),
    hash: 'h',
    publishedAt: new Date(Date.now() - 10 * 3_600_000).toISOString(),
    publishedBy: 'ada',
    summary: 'first version',
  });
});
afterEach(() => store.close());

let n = 0;
const ev = (groupId: string, event: string, properties: Record<string, unknown>, hoursAgo: number): StoredEvent => {
  const ts = new Date(Date.now() - hoursAgo * 3_600_000).toISOString();
  return {
    writeKey: 'wk',
    messageId: `t${++n}`,
    type: 'track',
    event,
    userId: 'u',
    anonymousId: null,
    groupId,
    timestamp: ts,
    originalTimestamp: null,
    sentAt: null,
    receivedAt: new Date().toISOString(),
    payload: JSON.stringify({ properties }),
    sender: { kind: 'server' },
  }; // verified
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
  await store.insert([
    ev('acme', 'integration.state', { integration: 'sso', state: 'connected' }, 6),
    ev('acme', 'feature.used', { feature: 'dataset.ingest' }, 6),
  ]);
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
  await store.insert([
    ev('acme', 'plan.changed', { from: 'team', to: 'business' }, 1),
    ev('acme', 'seats.changed', { from: 10, to: 25 }, 0.5),
    ev('acme', 'seats.grown', { to: 30 }, 0.4),
  ]);
  const { items } = await store.timeline('acme', { limit: 20 });
  const mine = items.filter((i) => i.kind === 'incident' || i.kind === 'expansion').map((i) => i.title);
  expect(mine).toEqual([
    'expansion: seats.changed',
    'expansion: plan.changed',
    'incident opened: Everyone',
    'incident resolved: EU ingest slow',
    'incident updated: EU ingest slow',
    'incident opened: EU ingest slow',
  ]);
  expect(items.find((i) => i.title === 'incident updated: EU ingest slow')!.detail).toMatchObject({
    change: 'updated',
    state: 'identified',
    message: 'a bad disk',
    components: ['ingest'],
  });
  expect(items.find((i) => i.title === 'expansion: seats.changed')!.detail).toEqual({ event: 'seats.changed', from: 10, to: 25 });
  expect((await store.timeline('globex')).items.map((i) => i.title)).toContain('incident opened: US only');
  // Configured names: seats.grown counts as expansion; plan.changed no longer shows.
  const custom = { ...ACME, timeline: { expansion: ['seats.changed', 'seats.grown'] } };
  await store.config.publish({
    document: JSON.stringify(custom),
    hash: 'h2',
    publishedAt: new Date(Date.now() - 9 * H).toISOString(),
    publishedBy: 'ada',
    summary: 'timeline',
  });
  const after = (await store.timeline('acme', { limit: 20 })).items.filter((i) => i.kind === 'expansion').map((i) => i.title);
  expect(after).toEqual(['expansion: seats.grown', 'expansion: seats.changed']);
});

// The core on both dialects, on a KeelDb directly (events written with insertRows; transitions and
// alerts as their services store them).
describe.each([
  ['sqlite', () => openDatabase(join(mkdtempSync(join(tmpdir(), 'keel-timeline-k-')), 'keel.db'))],
  ['postgres', testPostgres],
] as [string, () => Promise<KeelDb>][])('timeline on %s', (_name, open) => {
  let k: KeelDb | undefined;
  afterEach(async () => {
    await k?.close();
    k = undefined;
  });

  test('events that matter, incidents affecting the tenant, transitions, alerts and config versions, newest first, paginated and isolated', async () => {
    k = await open();
    const H = 3_600_000;
    const now = Date.now();
    const at = (h: number) => new Date(now - h * H).toISOString();
    const config = configStore(k);
    await config.publish({ document: JSON.stringify(ACME), hash: 'h', publishedAt: at(10), publishedBy: 'ada', summary: 'first version' });
    await insertRows(k, [
      { type: 'track', event: 'deployment.published', groupId: 'acme', timestamp: at(9), properties: { version: '2.3.0' } },
      { type: 'track', event: 'feature.used', groupId: 'acme', timestamp: at(8.5) }, // not timeline material
      { type: 'track', event: 'plan.changed', groupId: 'acme', timestamp: at(8), properties: { from: 'team', to: 'business' } },
      { type: 'track', event: 'ticket.created', groupId: 'globex', timestamp: at(7), properties: { id: 'G-1' } },
    ]);
    await k.db
      .insertInto('lifecycle_transitions')
      .values([
        { tenant_id: 'acme', from_state: 'onboarding', to_state: 'activated', at: at(6), config_version: 1, evidence: '[]' },
        { tenant_id: 'globex', from_state: 'onboarding', to_state: 'at-risk', at: at(6), config_version: 1, evidence: '[]' },
      ])
      .execute();
    await k.db
      .insertInto('alerts')
      .values({ tenant_id: 'acme', alert: 'unpaid-invoice', fired_at: at(5), notify: '["finance"]', detail: '{"invoice":"inv-9"}' })
      .execute();
    const status = statusService(k, config);
    await status.upsertIncident({ id: 'inc-eu', title: 'EU ingest slow', tenants: ['acme'] }, now - 4 * H);
    await status.upsertIncident({ id: 'inc-eu', title: 'EU ingest slow', state: 'resolved' }, now - 3 * H);
    await status.upsertIncident({ id: 'inc-all', title: 'Everyone' }, now - 2 * H);
    // Tenant ids that contain another's, quotes and LIKE wildcards: only an exact member matches.
    await status.upsertIncident({ id: 'inc-odd', title: 'Look-alikes', tenants: ['y"acme', 'acme2', 'a%e', 'ac_e'] }, now - H);
    const timeline = timelineQuery(k, config);
    const page = await timeline('acme', { limit: 4 });
    expect(page.items.map((i) => i.title)).toEqual([
      'incident opened: Everyone',
      'incident resolved: EU ingest slow',
      'incident opened: EU ingest slow',
      'alert: unpaid-invoice',
    ]);
    expect(page.next).toBe(at(5));
    const rest = await timeline('acme', { before: page.next!, limit: 10 });
    expect(rest.items.map((i) => i.title)).toEqual([
      'lifecycle: onboarding → activated',
      'expansion: plan.changed',
      'deployment.published',
      'config version 1',
    ]);
    expect(rest.next).toBeNull();
    expect(page.items[3]!.detail).toEqual({ alert: 'unpaid-invoice', notify: ['finance'], invoice: 'inv-9' });
    expect(rest.items.map((i) => i.detail)).toEqual([
      { from: 'onboarding', to: 'activated', configVersion: 1 },
      { event: 'plan.changed', from: 'team', to: 'business' },
      { version: '2.3.0' },
      { version: 1, actor: 'ada', summary: 'first version' },
    ]);
    expect(page.items[1]!.detail).toMatchObject({ change: 'resolved', state: 'resolved', title: 'EU ingest slow' });
    expect(page.items[1]!.detail).not.toHaveProperty('tenants');
    const globex = (await timeline('globex')).items.map((i) => i.title);
    expect(globex).toEqual(['incident opened: Everyone', 'lifecycle: onboarding → at-risk', 'ticket.created', 'config version 1']);
    for (const odd of ['y"acme', 'a%e', 'ac_e']) expect((await timeline(odd)).items.map((i) => i.title)).toContain('incident opened: Look-alikes');
    expect((await timeline('ace')).items.map((i) => i.title)).not.toContain('incident opened: Look-alikes');
  });
});
