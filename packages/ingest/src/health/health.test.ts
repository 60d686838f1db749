import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigText } from '@keel/sdk-core/authoring';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { buildApp } from '../app.js';
import { openDatabase, openSqliteStore, type SqliteStore } from '../store/sqlite.js';
import type { StoredEvent } from '../store/types.js';
import { signUserToken } from '../token.js';
import { tenantMetricsQuery } from './metrics.js';
import { type HealthModel, scoreHealth } from './score.js';

const ACME = validateConfigText(readFileSync(new URL('../../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config!;
const MODEL = ACME.health as HealthModel;
const perfect = {
  features_used_ratio_30d: 0.8,
  active_users_over_seats: 0.6,
  dau_over_wau: 0.5,
  errors_per_session_7d: 0.01,
  tickets_per_active_user_30d: 0.02,
  csat_90d: 4.5,
  days_since_sponsor_active: 3,
  invoices_overdue: 0,
};

describe('scores computed by hand (the acme model: weights 25/15/15/15/10/10/5/5, healthy ≥ 70, watch ≥ 40)', () => {
  test('a healthy tenant: every component at full points → 100, healthy, full coverage, nothing to move', () => {
    const s = scoreHealth(MODEL, perfect);
    expect([s.score, s.band, s.coverage]).toEqual([100, 'healthy', 1]);
    expect(s.whatWouldMove).toEqual([]);
  });

  test('an error spike on a middling tenant → 44, watch; the explanation and what would move it', () => {
    const s = scoreHealth(MODEL, {
      features_used_ratio_30d: 0.5,
      active_users_over_seats: 0.35,
      dau_over_wau: 0.3,
      errors_per_session_7d: 0.5,
      tickets_per_active_user_30d: 0.1,
      csat_90d: null,
      days_since_sponsor_active: 20,
      invoices_overdue: 0,
    });
    // (25·50 + 15·50 + 15·50 + 15·0 + 10·40 + 10·50 + 5·50 + 5·100) / 100 = 44
    expect([s.score, s.band, s.coverage]).toEqual([44, 'watch', 1]);
    const byId = Object.fromEntries(s.components.map((c) => [c.id, c]));
    expect(byId.errors).toMatchObject({ value: 0.5, rule: 'otherwise → 0', points: 0, weight: 15, contribution: 0 });
    expect(byId.support).toMatchObject({ value: 0.1, rule: '≤ 0.2 → 40', points: 40, contribution: 4 });
    expect(byId.sentiment).toMatchObject({ value: null, rule: 'missing → neutral', points: 50, missing: 'neutral', included: true });
    expect(byId.adoption).toMatchObject({ rule: 'linear 0.2 → 0.8', points: 50, contribution: 12.5 });
    expect(s.whatWouldMove.map((m) => [m.component, m.target, m.gain])).toEqual([
      ['adoption', 0.8, 12.5],
      ['width', 0.6, 7.5],
      ['stickiness', 0.5, 7.5],
      ['errors', 0.1, 7.5],
      ['support', 0.05, 6],
      ['sponsor', 14, 2.5],
    ]);
  });

  test('a stalled onboarding: little adoption, a sponsor gone quiet → 35, at risk', () => {
    const s = scoreHealth(MODEL, {
      features_used_ratio_30d: 0.2,
      active_users_over_seats: 0.1,
      dau_over_wau: 0.1,
      errors_per_session_7d: 0.01,
      tickets_per_active_user_30d: 0,
      csat_90d: null,
      days_since_sponsor_active: 40,
      invoices_overdue: 0,
    });
    // (25·0 + 15·0 + 15·0 + 15·100 + 10·100 + 10·50 + 5·0 + 5·100) / 100 = 35
    expect([s.score, s.band]).toEqual([35, 'at-risk']);
    expect(s.whatWouldMove[0]).toMatchObject({ component: 'adoption', target: 0.8, gain: 25 });
  });

  test('an unpaid invoice → billing at 0 points: 95, with the invoice events as evidence', () => {
    const s = scoreHealth(MODEL, { ...perfect, invoices_overdue: 2 }, { invoices_overdue: [{ event: 'billing.invoice', at: '2026-03-01T00:00:00.000Z' }] });
    expect(s.score).toBe(95);
    expect(s.components.find((c) => c.id === 'billing')).toMatchObject({ points: 0, rule: 'otherwise → 0', evidence: [{ event: 'billing.invoice' }] });
  });

  test("missing data follows each component's policy: exclude lowers coverage, not the score; worst counts as 0", () => {
    const s = scoreHealth(MODEL, { ...perfect, active_users_over_seats: null });
    expect([s.score, s.coverage]).toEqual([100, 0.85]);
    const worst = scoreHealth(
      { ...MODEL, components: MODEL.components.map((c) => (c.id === 'width' ? { ...c, missing: 'worst' as const } : c)) },
      { ...perfect, active_users_over_seats: null },
    );
    expect([worst.score, worst.coverage]).toEqual([85, 1]);
  });
});

describe('health from stored events, served per tenant', () => {
  const SECRET = 's';
  let store: SqliteStore;
  beforeEach(async () => {
    store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-health-')));
  });
  afterEach(() => store.close());

  let n = 0;
  const ev = (groupId: string, userId: string, type: string, event: string | null, body: Record<string, unknown>, minutesAgo = 5): StoredEvent => {
    const ts = new Date(Date.now() - minutesAgo * 60_000).toISOString();
    return {
      writeKey: 'wk',
      messageId: `m${++n}`,
      type,
      event,
      userId,
      anonymousId: null,
      groupId,
      timestamp: ts,
      originalTimestamp: null,
      sentAt: null,
      receivedAt: ts,
      payload: JSON.stringify(body),
    };
  };

  test('an error spike tenant computed from its events: metrics, score 35.7 (at risk) with 90% coverage; tenant isolation on the endpoint', async () => {
    await store.config.publish({
      document: JSON.stringify(ACME),
      hash: 'h',
      publishedAt: new Date().toISOString(),
      publishedBy: 'test',
      summary: 'first version',
    });
    const t = 'spike';
    await store.insert([
      ev(t, 'ada', 'group', null, { traits: { seats: 10, plan_features: ['a', 'b', 'c', 'd'] } }),
      ...['ada', 'bob'].flatMap((u) => [
        ev(t, u, 'track', 'user.session', { properties: { action: 'start' } }),
        ev(t, u, 'track', 'user.session', { properties: { action: 'start' } }),
        ev(t, u, 'track', 'error.raised', { properties: { message: 'x' } }),
        ev(t, u, 'track', 'error.raised', { properties: { message: 'y' } }),
        ev(t, u, 'track', 'error.raised', { properties: { message: 'z' } }),
      ]),
      ev(t, 'ada', 'track', 'feature.used', { properties: { feature: 'a' } }),
      ev(t, 'bob', 'track', 'feature.used', { properties: { feature: 'b' } }),
      ev('other', 'eve', 'track', 'error.raised', { properties: {} }),
    ]);
    const r = (await store.health.report(t))!;
    expect(r.metrics).toMatchObject({
      features_used_ratio_30d: 0.5,
      active_users_over_seats: 0.2,
      errors_per_session_7d: 1.5,
      tickets_per_active_user_30d: 0,
      csat_90d: null,
      days_since_sponsor_active: null,
      invoices_overdue: null,
    });
    // Both users were active on 1 of the 7 days: DAU/WAU = (2/7)/2 = 1/7 → stickiness (1/7 − 0.1)/0.4 = 10.7 points.
    expect(r.metrics.dau_over_wau).toBeCloseTo(1 / 7, 10);
    // (25·50 + 15·20 + 15·10.7 + 15·0 + 10·100 + 10·50) / 90 = 35.7
    expect([r.score, r.band, r.coverage]).toEqual([35.7, 'at-risk', 0.9]);
    expect(r.components.find((c) => c.id === 'errors')!.evidence).toHaveLength(3);
    // Reading the report wrote nothing: snapshots are the sweep's.
    expect(r.trend.history).toEqual([]);
    await store.health.snapshot([await store.health.tenantHealth(t)]);
    expect((await store.health.report(t))!.trend.history).toEqual([{ day: new Date().toISOString().slice(0, 10), score: 35.7, band: 'at-risk' }]);

    const app = buildApp({ store, writeKeys: ['wk'], adminKeys: ['adm'], secretKeys: [SECRET], health: store.health, config: store.config, logger: false });
    const get = (id: string, auth: string) => app.inject({ method: 'GET', url: `/v1/tenants/${id}/health`, headers: { authorization: `Bearer ${auth}` } });
    expect((await get(t, 'adm')).json().score).toBe(35.7);
    expect((await get(t, signUserToken({ sub: 'ada', tenant: t, role: 'admin' }, SECRET))).json().band).toBe('at-risk');
    const otherTenant = await get(t, signUserToken({ sub: 'eve', tenant: 'other', role: 'admin' }, SECRET));
    expect([otherTenant.statusCode, otherTenant.json().error]).toEqual([403, 'other_tenant']);
    const member = await get(t, signUserToken({ sub: 'bob', tenant: t, role: 'member' }, SECRET));
    expect([member.statusCode, member.json().error]).toEqual([403, 'not_admin']);
    await app.close();
  });

  test('a new error spike shows at once: the score is computed from the events stored so far, and the week-over-week change is reported', async () => {
    await store.config.publish({
      document: JSON.stringify(ACME),
      hash: 'h',
      publishedAt: new Date().toISOString(),
      publishedBy: 'test',
      summary: 'first version',
    });
    const t = 'calm';
    await store.insert([
      ev(t, 'ada', 'group', null, { traits: { seats: 2, plan_features: ['a'] } }),
      ev(t, 'ada', 'track', 'user.session', { properties: { action: 'start' } }),
      ev(t, 'ada', 'track', 'feature.used', { properties: { feature: 'a' } }),
    ]);
    const weekAgo = Date.now() - 7 * 86_400_000;
    const snap = async (at: number) => {
      const h = await store.health.tenantHealth(t, at);
      await store.health.snapshot([h]);
      return h.report!;
    };
    const before = await snap(weekAgo); // a snapshot dated a week ago (no events yet then)
    const calm = (await store.health.report(t))!;
    expect(calm.metrics.errors_per_session_7d).toBe(0);
    await store.insert([ev(t, 'ada', 'track', 'error.raised', { properties: {} }, 1), ev(t, 'ada', 'track', 'error.raised', { properties: {} }, 1)]);
    const spiked = (await store.health.report(t))!;
    expect(spiked.metrics.errors_per_session_7d).toBe(2);
    expect(spiked.score).toBeLessThan(calm.score);
    expect(spiked.trend.wow).toEqual({
      points: Math.round((spiked.score - before.score) * 10) / 10,
      percent: before.score ? expect.any(Number) : null,
      against: new Date(weekAgo).toISOString().slice(0, 10),
    });
    await snap(Date.now());
    expect((await store.health.report(t))!.trend.history.map((h) => h.day)).toEqual([
      new Date(weekAgo).toISOString().slice(0, 10),
      new Date().toISOString().slice(0, 10),
    ]);
  });

  test('week-over-week uses the nearest snapshot 6–8 days old and names its day; none in that range → no trend', async () => {
    await store.config.publish({
      document: JSON.stringify(ACME),
      hash: 'h',
      publishedAt: new Date().toISOString(),
      publishedBy: 'test',
      summary: 'first version',
    });
    const t = 'wow';
    await store.insert([ev(t, 'ada', 'track', 'user.session', { properties: { action: 'start' } })]);
    const DAY = 86_400_000;
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const snapAt = async (d: number) => await store.health.snapshot([await store.health.tenantHealth(t, Date.now() - d * DAY)]);
    await snapAt(9);
    expect((await store.health.report(t))!.trend.wow).toBeNull(); // 9 days old: out of range
    await snapAt(8);
    expect((await store.health.report(t))!.trend.wow).toMatchObject({ against: day(Date.now() - 8 * DAY) });
    await snapAt(6);
    expect((await store.health.report(t))!.trend.wow).toMatchObject({ against: day(Date.now() - 8 * DAY) }); // 6 and 8 tie: the older
    await snapAt(7);
    expect((await store.health.report(t))!.trend.wow).toMatchObject({ against: day(Date.now() - 7 * DAY) });
  });

  test('dau_over_wau: the mean DAU over the 7 calendar days (quiet days count 0) ÷ WAU', async () => {
    await store.config.publish({
      document: JSON.stringify(ACME),
      hash: 'h',
      publishedAt: new Date().toISOString(),
      publishedBy: 'test',
      summary: 'first version',
    });
    await store.insert([ev('once', 'ada', 'track', 'feature.used', { properties: {} })]);
    // One user, one event in 7 days: 1/7, not 1.0.
    expect((await store.health.report('once'))!.metrics.dau_over_wau).toBeCloseTo(1 / 7, 10);
    const today = Date.now() - (Date.now() % 86_400_000); // midnight UTC: every event is on its own day
    const at = (d: number) => (Date.now() - (today - d * 86_400_000)) / 60_000;
    await store.insert(
      [0, 1, 2, 3, 4, 5, 6].flatMap((d) => [
        ev('daily', 'ada', 'track', 'feature.used', { properties: {} }, at(d)),
        ...(d < 3 ? [ev('daily', 'bob', 'track', 'feature.used', { properties: {} }, at(d))] : []),
      ]),
    );
    // ada every day, bob on 3 of them: (7 + 3) / 7 / 2 users.
    expect((await store.health.report('daily'))!.metrics.dau_over_wau).toBeCloseTo(10 / 7 / 2, 10);
  });
});

test('days since the sponsor was active: sponsors are the tenant\'s users identified with role "sponsor"', async () => {
  const store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-health-sponsor-')));
  const day = 86_400_000;
  const at = (d: number) => new Date(Date.now() - d * day).toISOString();
  let i = 0;
  const row = (userId: string, type: string, event: string | null, payload: Record<string, unknown>, ts: string) => ({
    writeKey: 'wk',
    messageId: `s${++i}`,
    type,
    event,
    userId,
    anonymousId: null,
    groupId: 'acme',
    timestamp: ts,
    originalTimestamp: null,
    sentAt: null,
    receivedAt: ts,
    payload: JSON.stringify(payload),
  });
  const k = await openDatabase(store.path); // a second handle on the file, as another reader
  const q = tenantMetricsQuery(k);
  expect((await q('acme')).values.days_since_sponsor_active).toBeNull();
  await store.insert([
    row('cfo', 'identify', null, { traits: { role: 'sponsor' } }, at(40)),
    row('cfo', 'track', 'feature.used', { properties: {} }, at(20)),
    row('dev', 'track', 'feature.used', { properties: {} }, at(1)),
  ]);
  expect((await q('acme')).values.days_since_sponsor_active).toBe(20);
  await k.close();
  await store.close();
});

test("the sweep's all-tenant metrics equal each tenant's own (same statements, grouped)", async () => {
  const store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-health-all-')));
  const day = 86_400_000;
  let i = 0;
  const row = (groupId: string, userId: string | null, type: string, event: string | null, payload: Record<string, unknown>, daysAgo: number) => {
    const ts = new Date(Date.now() - daysAgo * day).toISOString();
    return {
      writeKey: 'wk',
      messageId: `all${++i}`,
      type,
      event,
      userId,
      anonymousId: userId ? null : `anon-${i % 3}`,
      groupId,
      timestamp: ts,
      originalTimestamp: null,
      sentAt: null,
      receivedAt: ts,
      payload: JSON.stringify(payload),
    };
  };
  const rows = [];
  for (let t = 0; t < 6; t++) {
    const g = `g${t}`;
    rows.push(row(g, 'u0', 'group', null, { traits: { seats: 3 + t, plan_features: ['a', 'b', 'c'] } }, 20));
    if (t % 2) rows.push(row(g, 'u0', 'identify', null, { traits: { role: 'sponsor' } }, 40));
    for (let k = 0; k < 30; k++) {
      const [event, props] = (
        [
          ['feature.used', { feature: ['a', 'b', 'c'][k % 3] }],
          ['user.session', { action: k % 2 ? 'start' : 'end' }],
          ['error.raised', {}],
          ['ticket.created', {}],
          ['csat.submitted', { score: k % 5 }],
          ['nps.submitted', { score: k % 11 }],
          ['billing.invoice', { invoice: `i${k % 2}`, status: k % 3 ? 'paid' : 'overdue' }],
        ] as const
      )[(k + t) % 7]!;
      rows.push(row(g, k % 4 ? `u${k % 5}` : null, 'track', event, { properties: props }, ((k * 7 + t) % 95) / 3));
    }
  }
  await store.insert(rows);
  const k = await openDatabase(store.path);
  const q = tenantMetricsQuery(k);
  const all = await q.all();
  expect([...all.keys()].sort()).toEqual(['g0', 'g1', 'g2', 'g3', 'g4', 'g5']);
  for (const [g, values] of all) expect(values).toEqual((await q(g)).values);
  expect(Object.values(all.get('g1')!).filter((v) => v !== null).length).toBeGreaterThan(6);
  await k.close();
  await store.close();
});
