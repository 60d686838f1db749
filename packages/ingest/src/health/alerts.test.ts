import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigText } from '@keel/sdk-core/authoring';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { type KeelDb, postgresKeelDb } from '../store/db.js';
import { migrateToLatest } from '../store/migrations.js';
import { openDatabase, openSqliteStore, type SqliteStore } from '../store/sqlite.js';
import { configStore } from '../store/state.js';
import type { StoredEvent } from '../store/types.js';
import { testSchema } from '../test-support/pg.js';
import { alertService, type AlertPass } from './alerts.js';
import { configCache } from './config-cache.js';
import type { LifecycleService } from './lifecycle.js';
import type { TenantMetrics } from './metrics.js';
import type { HealthService } from './service.js';

const ACME = validateConfigText(readFileSync(new URL('../../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config!;
const SECRET = 'whsec_test';
const HOUR = 3_600_000;

// A real local receiver: records each delivery with its headers.
let receiver: Server;
let receiverUrl = '';
const received: { path: string; headers: Record<string, string | string[] | undefined>; body: string }[] = [];
beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => receiver.close(() => r())));

let store: SqliteStore;
async function open(): Promise<SqliteStore> {
  store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-alerts-')), {
    alerts: { webhooks: [{ url: `${receiverUrl}/keel` }, { url: `${receiverUrl}/slack`, format: 'slack' }], webhookSecret: SECRET },
  });
  await store.config.publish({ document: JSON.stringify(ACME), hash: 'h', publishedAt: new Date().toISOString(), publishedBy: 't', summary: 'first version' });
  received.length = 0;
  return store;
}
afterEach(() => store?.close());

let n = 0;
const ev = (groupId: string, event: string, properties: Record<string, unknown>, hoursAgo = 1): StoredEvent => {
  const ts = new Date(Date.now() - hoursAgo * HOUR).toISOString();
  return {
    writeKey: 'wk',
    messageId: `a${++n}`,
    type: 'track',
    event,
    userId: 'u1',
    anonymousId: null,
    groupId,
    timestamp: ts,
    originalTimestamp: null,
    sentAt: null,
    receivedAt: ts,
    payload: JSON.stringify({ properties }),
    sender: { kind: 'server' },
  }; // verified: proofs and facts count these
};

/** What a receiver does to trust a delivery. */
function verify(body: string, header: string) {
  const { t, v1 } = Object.fromEntries(header.split(',').map((kv) => kv.split('='))) as { t: string; v1: string };
  return createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex') === v1;
}

test('an unpaid invoice fires once, signed, to every webhook; not again within the cooldown; again after it', async () => {
  await open();
  await store.insert([ev('acme', 'billing.invoice', { invoice: 'inv-1', status: 'overdue' })]);
  const fired = await store.alerts.evaluate('acme');
  expect(fired.map((f) => f.alert)).toEqual(['unpaid-invoice']); // first seen an hour ago: not stalled yet
  const unpaid = fired[0]!;
  expect(unpaid.notify).toEqual(['finance', 'csm']);
  expect(unpaid.deliveries).toEqual([
    { url: `${receiverUrl}/keel`, status: 200 },
    { url: `${receiverUrl}/slack`, status: 200 },
  ]);
  const json = received.find((r) => r.path === '/keel' && r.body.includes('unpaid-invoice'))!;
  expect(verify(json.body, json.headers['keel-signature'] as string)).toBe(true);
  expect(verify(`${json.body} `, json.headers['keel-signature'] as string)).toBe(false); // a tampered body fails
  expect(JSON.parse(json.body)).toMatchObject({ type: 'keel.alert', alert: 'unpaid-invoice', tenant: 'acme', notify: ['finance', 'csm'] });
  expect(json.headers['keel-event-id']).toBe(unpaid.id);
  const slack = received.find((r) => r.path === '/slack' && r.body.includes('unpaid-invoice'))!;
  expect(JSON.parse(slack.body).text).toContain('*unpaid-invoice* for *acme*');

  const count = received.length;
  expect(await store.alerts.evaluate('acme', Date.now() + HOUR)).toEqual([]);
  expect(received.length).toBe(count);
  const later = await store.alerts.evaluate('acme', Date.now() + 25 * HOUR);
  expect(later.map((f) => f.alert)).toContain('unpaid-invoice');
  expect((await store.alerts.list('acme')).map((a) => a.alert).filter((a) => a === 'unpaid-invoice')).toHaveLength(2);
});

test('an alert fired before the upgrade that brought alert_cooldowns is still in its cooldown after it (the migration carries the last firing)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-alerts-legacy-'));
  const legacy = new Database(join(dir, 'keel.db'));
  legacy.exec(readFileSync(new URL('../store/fixtures/legacy-v9.sql', import.meta.url), 'utf8'));
  const at = (h: number) => new Date(Date.now() - h * HOUR).toISOString();
  const fired = legacy.prepare("INSERT INTO alerts (tenant_id, alert, fired_at, notify, detail) VALUES (?, 'unpaid-invoice', ?, '[]', '{}')");
  fired.run('acme', at(30));
  fired.run('acme', at(1)); // the last firing, an hour ago
  fired.run('globex', at(30)); // out of its cooldown
  legacy.close();
  store = await openSqliteStore(dir, { alerts: { webhooks: [{ url: `${receiverUrl}/legacy` }] } });
  await store.config.publish({ document: JSON.stringify(ACME), hash: 'h', publishedAt: new Date().toISOString(), publishedBy: 't', summary: 'first version' });
  await store.insert([
    ev('acme', 'billing.invoice', { invoice: 'inv-1', status: 'overdue' }),
    ev('globex', 'billing.invoice', { invoice: 'inv-2', status: 'overdue' }),
  ]);
  expect((await store.alerts.evaluate('acme')).map((f) => f.alert)).not.toContain('unpaid-invoice');
  expect((await store.alerts.evaluate('globex')).map((f) => f.alert)).toContain('unpaid-invoice');
});

test('onboarding stalled: no checklist progress for 72 h fires; recent progress does not', async () => {
  await open();
  await store.insert([ev('fresh', 'feature.used', {}, 1), ev('stalled', 'feature.used', {}, 1)]);
  // Checklist progress is evidence: the newest event an item counts (sso connected).
  const sso = { integration: 'sso', state: 'connected' };
  await store.insert([ev('fresh', 'integration.state', sso, 2), ev('stalled', 'integration.state', sso, 80)]);
  expect((await store.alerts.evaluate('fresh')).map((f) => f.alert)).not.toContain('onboarding-stalled');
  const stalled = (await store.alerts.evaluate('stalled')).find((f) => f.alert === 'onboarding-stalled')!;
  expect(stalled.detail.explanation).toMatchObject({ ok: true, actual: 80 });
});

test("an error rate above the cohort's p95 fires for that tenant only", async () => {
  await open();
  const rows: StoredEvent[] = [];
  for (let t = 0; t < 20; t++) {
    const g = `t${t}`;
    for (let s = 0; s < 10; s++) rows.push(ev(g, 'user.session', { action: 'start' }));
    rows.push(ev(g, 'error.raised', {}));
  }
  rows.push(
    ...Array.from({ length: 10 }, () => ev('spiky', 'user.session', { action: 'start' })),
    ...Array.from({ length: 40 }, () => ev('spiky', 'error.raised', {})),
  );
  await store.insert(rows);
  const spike = (await store.alerts.evaluate('spiky')).find((f) => f.alert === 'error-spike')!;
  expect(spike.detail).toEqual({ metric: 'errors_per_session_1d', value: 4, cohortP95: 0.1, cohortSize: 20 });
  expect((await store.alerts.evaluate('t3')).map((f) => f.alert)).not.toContain('error-spike');
});

test('a healthy tenant fires no alert', async () => {
  await open();
  const rows: StoredEvent[] = [];
  for (let t = 0; t < 5; t++) for (let s = 0; s < 10; s++) rows.push(ev(`peer${t}`, 'user.session', { action: 'start' }));
  rows.push(
    ...Array.from({ length: 10 }, () => ev('healthy', 'user.session', { action: 'start' })),
    ev('healthy', 'billing.invoice', { invoice: 'inv-1', status: 'paid' }),
  );
  await store.insert(rows);
  await store.progress.merge('healthy', 'u1', [
    { scope: 'user', kind: 'checklist', ref: 'onboarding/sso', state: 'completed', updatedAt: new Date().toISOString() },
  ]);
  expect(await store.alerts.evaluate('healthy')).toEqual([]);
  expect(received).toEqual([]);
});

test('cohort rules compare with the OTHER tenants: 6 tenants, one at 30 errors/session, the others at 0.1 → fires', async () => {
  await open();
  const rows: StoredEvent[] = [];
  for (let t = 0; t < 5; t++) {
    for (let s = 0; s < 10; s++) rows.push(ev(`calm${t}`, 'user.session', { action: 'start' }));
    rows.push(ev(`calm${t}`, 'error.raised', {}));
  }
  rows.push(ev('spiky', 'user.session', { action: 'start' }), ...Array.from({ length: 30 }, () => ev('spiky', 'error.raised', {})));
  await store.insert(rows);
  const spike = (await store.alerts.evaluate('spiky')).find((f) => f.alert === 'error-spike')!;
  expect(spike.detail).toEqual({ metric: 'errors_per_session_1d', value: 30, cohortP95: 0.1, cohortSize: 5 });
  expect((await store.alerts.evaluate('calm0')).map((f) => f.alert)).not.toContain('error-spike');
});

test('a cohort smaller than min_cohort: the fallback bound decides, or the explanation says the rule cannot fire', async () => {
  await open();
  const rows: StoredEvent[] = [];
  for (const g of ['a', 'b', 'c', 'spiky']) {
    rows.push(ev(g, 'user.session', { action: 'start' }), ...Array.from({ length: g === 'spiky' ? 30 : 1 }, () => ev(g, 'error.raised', {})));
  }
  await store.insert(rows);
  // The acme rule has no fallback: it says why it can't fire instead of staying silent.
  const v = (await store.alerts.explain('spiky')).find((x) => x.alert === 'error-spike')!;
  expect(v).toMatchObject({ firing: false, detail: { cohortSize: 3, explanation: expect.stringContaining('cohort too small (n=3') } });
  const withFallback = {
    ...ACME,
    health: {
      ...ACME.health!,
      alerts: [{ id: 'error-spike', when: { metric: 'errors_per_session_1d', above: 'cohort_p95' as const, fallback: 2 }, notify: ['csm'] }],
    },
  };
  await store.config.publish({
    document: JSON.stringify(withFallback),
    hash: 'h2',
    publishedAt: new Date().toISOString(),
    publishedBy: 't',
    summary: 'fallback',
  });
  const fired = (await store.alerts.evaluate('spiky')).find((f) => f.alert === 'error-spike')!;
  expect(fired.detail).toMatchObject({ value: 30, fallback: 2, cohortSize: 3, explanation: 'cohort too small (n=3): compared with the fallback 2' });
  expect((await store.alerts.evaluate('a')).map((f) => f.alert)).not.toContain('error-spike'); // 1 ≤ 2
});

test('built-in sponsor-disengaged: fires without config after 30 days of sponsor silence; a config alert of that id replaces it; builtin_alerts: false turns it off', async () => {
  await open();
  const day = 86_400_000;
  const at = (d: number) => new Date(Date.now() - d * day).toISOString();
  const row = (groupId: string, userId: string, type: string, payload: Record<string, unknown>, ts: string): StoredEvent => ({
    writeKey: 'wk',
    messageId: `sp${++n}`,
    type,
    event: type === 'track' ? 'feature.used' : null,
    userId,
    anonymousId: null,
    groupId,
    timestamp: ts,
    originalTimestamp: null,
    sentAt: null,
    receivedAt: ts,
    payload: JSON.stringify(payload),
  });
  await store.insert([
    row('quiet', 'cfo', 'identify', { traits: { role: 'sponsor' } }, at(40)),
    row('quiet', 'cfo', 'track', {}, at(31)),
    row('busy', 'cfo2', 'identify', { traits: { role: 'sponsor' } }, at(40)),
    row('busy', 'cfo2', 'track', {}, at(2)),
  ]);
  const fired = (await store.alerts.evaluate('quiet')).find((f) => f.alert === 'sponsor-disengaged')!;
  expect(fired).toMatchObject({ notify: ['csm'], detail: { explanation: { ok: true, actual: 31 } } });
  expect((await store.alerts.evaluate('busy')).map((f) => f.alert)).not.toContain('sponsor-disengaged');
  const off = { ...ACME, health: { ...ACME.health!, builtin_alerts: false } };
  await store.config.publish({ document: JSON.stringify(off), hash: 'h2', publishedAt: new Date().toISOString(), publishedBy: 't', summary: 'off' });
  expect((await store.alerts.explain('quiet')).map((v) => v.alert)).not.toContain('sponsor-disengaged');
  const replaced = {
    ...ACME,
    health: { ...ACME.health!, alerts: [{ id: 'sponsor-disengaged', when: { metric: 'days_since_sponsor_active', gte: 60 }, notify: ['exec'] }] },
  };
  await store.config.publish({ document: JSON.stringify(replaced), hash: 'h3', publishedAt: new Date().toISOString(), publishedBy: 't', summary: 'replaced' });
  expect((await store.alerts.explain('quiet')).filter((v) => v.alert === 'sponsor-disengaged')).toEqual([
    { alert: 'sponsor-disengaged', firing: false, detail: expect.anything() },
  ]);
});

test('the sweep re-evaluates a tenant that went quiet: the stalled alert fires 72 h later with no new event, carrying the lifecycle state and what it allows', async () => {
  await open();
  await store.insert([ev('quiet', 'feature.used', {}, 1)]);
  await store.progress.merge('quiet', 'u1', [
    { scope: 'user', kind: 'checklist', ref: 'onboarding/sso', state: 'completed', updatedAt: new Date(Date.now() - HOUR).toISOString() },
  ]);
  const evaluator = store.startEvaluator({ intervalMs: 3_600_000, sweepMs: 3_600_000 });
  try {
    expect(await evaluator.runOnce()).toBe(1);
    expect(await evaluator.runOnce(Date.now() + 73 * HOUR)).toBe(0); // no new events: the incremental pass skips it
    expect((await store.alerts.list('quiet')).map((a) => a.alert)).not.toContain('onboarding-stalled');
    const r = await evaluator.sweep(Date.now() + 73 * HOUR);
    expect(r.tenants).toBe(1);
    const json = received
      .filter((x) => x.path === '/keel')
      .map((x) => JSON.parse(x.body) as Record<string, unknown>)
      .filter((b) => b.alert === 'onboarding-stalled');
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({
      tenant: 'quiet',
      lifecycle: { state: 'onboarding', owner: 'onboarding', allows: ['checklist:onboarding', 'recipe:*', 'nudge:*'] },
    });
    await evaluator.sweep(Date.now() + 74 * HOUR); // within the cooldown: not again
    expect(received.filter((x) => x.path === '/keel' && x.body.includes('onboarding-stalled'))).toHaveLength(1);
    // Passes write the day's snapshot (reports don't).
    expect((await store.health.report('quiet', Date.now() + 74 * HOUR))!.trend.history.map((h) => h.day)).toContain(
      new Date(Date.now() + 74 * HOUR).toISOString().slice(0, 10),
    );
  } finally {
    evaluator.stop();
  }
});

test('cohortP95 (sorted once, own value skipped by index) equals the p95 of the other tenants computed naively', async () => {
  const fc = (await import('fast-check')).default;
  const { cohortP95 } = await import('./alerts.js');
  fc.assert(
    fc.property(fc.array(fc.option(fc.integer({ min: 0, max: 20 }), { nil: null }), { minLength: 1, maxLength: 40 }), fc.nat(), (vals, pick) => {
      const cohort = new Map(vals.map((v, i) => [`t${i}`, { errors_per_session_1d: v === null ? null : v / 4 } as never]));
      const self = `t${pick % vals.length}`;
      const others = vals
        .filter((v, i) => v !== null && `t${i}` !== self)
        .map((v) => v! / 4)
        .sort((a, b) => a - b);
      const want = others.length ? others[Math.min(others.length - 1, Math.ceil(0.95 * others.length) - 1)] : undefined;
      expect(cohortP95(cohort, 'errors_per_session_1d', self)).toEqual({ n: others.length, p95: want });
    }),
    { numRuns: 300 },
  );
});

// The core on both dialects, on a KeelDb directly: the sweep's pass (health, lifecycle, cohort) is
// given, so no health or lifecycle service is involved; any call into one fails the test.
type Nodes = { a: KeelDb; b: KeelDb; close(): Promise<void> };
const dialects: [string, () => Promise<Nodes>][] = [
  // SQLite is one process: two services share its one handle.
  [
    'sqlite',
    async () => {
      const k = await openDatabase(join(mkdtempSync(join(tmpdir(), 'keel-alerts-k-')), 'keel.db'));
      return { a: k, b: k, close: () => k.close() };
    },
  ],
  // PostgreSQL: two nodes, two pools on one schema.
  [
    'postgres',
    async () => {
      const s = await testSchema();
      const a = await postgresKeelDb({ url: s.url, schema: s.schema, max: 4 });
      await migrateToLatest(a);
      const b = await postgresKeelDb({ url: s.url, schema: s.schema, max: 4 });
      return { a, b, close: async () => void (await a.close(), await b.close(), await s.drop()) };
    },
  ],
];
const unused = new Proxy(
  {},
  {
    get: (_t, name) => () => {
      throw new Error(`the pass should make ${String(name)} unnecessary`);
    },
  },
);
const SPIKE = {
  version: 1,
  product: 'acme',
  health: {
    builtin_alerts: false,
    alerts: [{ id: 'error-spike', when: { metric: 'errors_per_session_1d', above: 'cohort_p95', fallback: 2 }, notify: ['csm'] }],
  },
};

describe.each(dialects)('alerts on %s', (dialect, open) => {
  let nodes: Nodes | undefined;
  afterEach(async () => {
    await nodes?.close();
    nodes = undefined;
  });
  const serviceOn = async (k: KeelDb, path: string) => {
    const config = configStore(k);
    const alerts = alertService(k, config, unused as HealthService, unused as LifecycleService, {
      webhooks: [{ url: `${receiverUrl}${path}` }],
      webhookSecret: SECRET,
    });
    const cache = configCache(config);
    const pass = async (tenantId: string, now: number, errors: number): Promise<AlertPass> => ({
      health: {
        tenantId,
        now,
        config: await cache.current(),
        metrics: { values: { errors_per_session_1d: errors } as TenantMetrics['values'], evidence: {} },
        report: undefined,
      },
      lifecycle: { tenantId, state: 'adopting', owner: 'csm', allows: ['nudge:*'], transitions: [] },
      cohort: new Map(),
    });
    return { alerts, pass };
  };

  test('a firing alert is recorded, delivered signed, listed; not again within the cooldown; again after it', async () => {
    nodes = await open();
    await configStore(nodes.a).publish({
      document: JSON.stringify(SPIKE),
      hash: 'h',
      publishedAt: new Date().toISOString(),
      publishedBy: 't',
      summary: 'spike',
    });
    const path = `/core-${dialect}`;
    const { alerts, pass } = await serviceOn(nodes.a, path);
    const now = Date.now();
    expect(await alerts.evaluate('calm', now, await pass('calm', now, 1))).toEqual([]); // 1 ≤ the fallback 2
    const [fired, ...more] = await alerts.evaluate('spiky', now, await pass('spiky', now, 4));
    expect(more).toEqual([]);
    expect(fired).toMatchObject({
      alert: 'error-spike',
      tenantId: 'spiky',
      firedAt: new Date(now).toISOString(),
      notify: ['csm'],
      detail: { value: 4, fallback: 2 },
      lifecycle: { state: 'adopting', owner: 'csm', allows: ['nudge:*'] },
      deliveries: [{ url: `${receiverUrl}${path}`, status: 200 }],
    });
    const got = received.filter((r) => r.path === path);
    expect(got).toHaveLength(1);
    expect(got[0]!.headers['keel-event-id']).toBe(fired!.id);
    expect(verify(got[0]!.body, got[0]!.headers['keel-signature'] as string)).toBe(true);
    expect(await alerts.evaluate('spiky', now + HOUR, await pass('spiky', now + HOUR, 4))).toEqual([]);
    expect((await alerts.evaluate('spiky', now + 25 * HOUR, await pass('spiky', now + 25 * HOUR, 4))).map((f) => f.alert)).toEqual(['error-spike']);
    const listed = await alerts.list('spiky');
    expect(listed.map((a) => [a.alert, a.firedAt])).toEqual([
      ['error-spike', new Date(now + 25 * HOUR).toISOString()],
      ['error-spike', new Date(now).toISOString()],
    ]);
    expect(listed[1]).toEqual({ id: fired!.id, tenantId: 'spiky', alert: 'error-spike', firedAt: fired!.firedAt, notify: ['csm'], detail: fired!.detail });
    expect(received.filter((r) => r.path === path)).toHaveLength(2);
  });

  test('two services (two nodes on PostgreSQL) evaluating the same tenants at once deliver each alert once', async () => {
    nodes = await open();
    await configStore(nodes.a).publish({
      document: JSON.stringify(SPIKE),
      hash: 'h',
      publishedAt: new Date().toISOString(),
      publishedBy: 't',
      summary: 'spike',
    });
    const path = `/race-${dialect}`;
    const one = await serviceOn(nodes.a, path);
    const two = await serviceOn(nodes.b, path);
    const tenants = Array.from({ length: 20 }, (_, i) => `t${i}`);
    const round = async (now: number) =>
      (await Promise.all(tenants.flatMap((t) => [one, two].map(async (s) => s.alerts.evaluate(t, now, await s.pass(t, now, 5)))))).flat();
    const now = Date.now();
    const first = await round(now);
    expect(first.map((f) => f.tenantId).sort()).toEqual([...tenants].sort());
    expect(new Set(first.map((f) => f.id)).size).toBe(tenants.length);
    expect(received.filter((r) => r.path === path)).toHaveLength(tenants.length);
    for (const t of tenants) expect(await one.alerts.list(t)).toHaveLength(1);
    // Within the cooldown neither fires; after it, once again per tenant.
    expect(await round(now + HOUR)).toEqual([]);
    expect((await round(now + 25 * HOUR)).map((f) => f.tenantId).sort()).toEqual([...tenants].sort());
    expect(received.filter((r) => r.path === path)).toHaveLength(2 * tenants.length);
  });
});
