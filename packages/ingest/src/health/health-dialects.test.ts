// Health on both dialects, on a KeelDb directly (rows written with insertRows): the same events
// must give the same metrics, scores, snapshots and trend on SQLite and PostgreSQL, for one tenant
// and for the sweep's all-tenant path. Every expected value below is worked out by hand.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigText } from '@keel/sdk-core/authoring';
import { afterEach, describe, expect, test } from 'vitest';
import type { KeelDb } from '../store/db.js';
import { openDatabase } from '../store/sqlite.js';
import { testPostgres } from '../test-support/pg.js';
import { publishedConfig } from '../test-support/services.js';
import { insertRows, type TestRow } from '../test-support/rows.js';
import { tenantMetricsQuery } from './metrics.js';
import { type HealthModel, scoreHealth } from './score.js';
import { healthService } from './service.js';

const ACME = validateConfigText(readFileSync(new URL('../../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config!;
const DAY = 86_400_000;
// Noon UTC: an event `d` days ago is on the calendar day d days before today.
const NOW = Date.UTC(2026, 2, 10, 12);
const at = (d: number) => new Date(NOW - d * DAY).toISOString();
const dialects: [string, () => Promise<KeelDb>][] = [
  ['sqlite', () => openDatabase(join(mkdtempSync(join(tmpdir(), 'keel-hd-')), 'keel.db'))],
  ['postgres', testPostgres],
];

const track = (userId: string | null, event: string, d: number, properties: Record<string, unknown> = {}, groupId: string | null = 'acme'): TestRow => ({
  type: 'track',
  event,
  userId,
  anonymousId: userId ? null : 'anon-1',
  groupId,
  timestamp: at(d),
  properties,
});
const group = (d: number, traits: Record<string, unknown>): TestRow => ({ type: 'group', userId: 'ada', groupId: 'acme', timestamp: at(d), traits });
const identify = (userId: string, d: number, traits: Record<string, unknown>): TestRow => ({
  type: 'identify',
  userId,
  groupId: 'acme',
  timestamp: at(d),
  traits,
});

/** acme's events; the comments say what each one adds up to. */
async function seed(k: KeelDb) {
  // Traits: the newest group call; of two at the same time, the later stored (rowid) → 4 seats, 5 plan features.
  await insertRows(k, [group(20, { seats: 5, plan_features: ['a', 'b', 'c', 'd'] }), group(10, { seats: 3, plan_features: ['a', 'b', 'c'] })]);
  await insertRows(k, [group(10, { seats: 4, plan_features: ['a', 'b', 'c', 'd', 'e'] })]);
  await insertRows(k, [
    // Sponsor: cfo (role sponsor), last seen 12 days ago; bob's identify is no sponsor's.
    identify('cfo', 40, { role: 'sponsor' }),
    identify('bob', 40, { role: 'admin' }),
    track('cfo', 'report.viewed', 12),
    // Features used in 30 days: a, b (c is 40 days old) → 2 / 5.
    track('ada', 'feature.used', 1, { feature: 'a' }),
    track('bob', 'feature.used', 2, { feature: 'b' }),
    track('ada', 'feature.used', 3, { feature: 'a' }),
    track('cy', 'feature.used', 40, { feature: 'c' }),
    // Sessions started: 4 in 7 days, 2 of them in the last day (an end is no start).
    track('ada', 'user.session', 0, { action: 'start' }),
    track('bob', 'user.session', 0, { action: 'start' }),
    track('ada', 'user.session', 2, { action: 'start' }),
    track('bob', 'user.session', 4, { action: 'start' }),
    track('ada', 'user.session', 1, { action: 'end' }),
    // Errors: 6 in 7 days, 1 in the last day → 6/4 = 1.5 and 1/2 = 0.5.
    track('ada', 'error.raised', 0),
    track('ada', 'error.raised', 2),
    track('bob', 'error.raised', 3),
    track('bob', 'error.raised', 3),
    track('ada', 'error.raised', 5),
    track('cy', 'error.raised', 6),
    // Tickets in 30 days: 2, over 5 active users (ada, bob, cy, cfo, anon-1) → 0.4; 5 active over 4 seats → 1.25.
    track('bob', 'ticket.created', 8),
    track('ada', 'ticket.created', 20),
    // CSAT: 4 and 5 (a score that is no number is left out) → 4.5.
    track('ada', 'csat.submitted', 50, { score: 4 }),
    track('ada', 'csat.submitted', 60, { score: 5 }),
    track('ada', 'csat.submitted', 70, { score: 'x' }),
    // NPS: 10, 9 promoters, 3 a detractor, a non-number counted as a response; 100 days old: out → (2 − 1) / 4 = 25.
    track('bob', 'nps.submitted', 45, { score: 10 }),
    track('cy', 'nps.submitted', 46, { score: 9 }),
    track('ada', 'nps.submitted', 47, { score: 3 }),
    track('bob', 'nps.submitted', 48, { score: 'x' }),
    track('bob', 'nps.submitted', 100, { score: 0 }),
    // Invoices: inv-1 overdue then paid, inv-2 overdue (by invoiceId), one without an id overdue → 2 overdue.
    track('ada', 'billing.invoice', 5, { invoice: 'inv-1', status: 'overdue' }),
    track('ada', 'billing.invoice', 2, { invoice: 'inv-1', status: 'paid' }),
    track('ada', 'billing.invoice', 3, { invoiceId: 'inv-2', status: 'overdue' }),
    track('ada', 'billing.invoice', 1, { status: 'overdue' }),
    // An anonymous user counts as a user.
    track(null, 'report.viewed', 1),
    // Not acme's: another tenant (1 error per session), and an event with no tenant at all.
    track('gail', 'user.session', 0, { action: 'start' }, 'globex'),
    track('gail', 'error.raised', 0, {}, 'globex'),
    track('ada', 'error.raised', 0, {}, null),
  ]);
}

// DAU/WAU over the 7 calendar days: (day, user) pairs d0 ada bob, d1 ada anon-1, d2 ada bob, d3 ada bob, d4 bob, d5 ada, d6 cy = 11; 4 users → 11/7/4.
const ACME_METRICS = {
  features_used_ratio_30d: 0.4,
  active_users_over_seats: 1.25,
  dau_over_wau: 11 / 28,
  errors_per_session_7d: 1.5,
  errors_per_session_1d: 0.5,
  tickets_per_active_user_30d: 0.4,
  csat_90d: 4.5,
  nps_90d: 25,
  days_since_sponsor_active: 12,
  invoices_overdue: 2,
};
const GLOBEX_METRICS = {
  features_used_ratio_30d: null,
  active_users_over_seats: null,
  dau_over_wau: 1 / 7,
  errors_per_session_7d: 1,
  errors_per_session_1d: 1,
  tickets_per_active_user_30d: 0,
  csat_90d: null,
  nps_90d: null,
  days_since_sponsor_active: null,
  invoices_overdue: null,
};

describe.each(dialects)('health on %s', (_name, open) => {
  let k: KeelDb | undefined;
  afterEach(async () => {
    await k?.close();
    k = undefined;
  });

  test("metrics from the events: traits from group calls, sessions, errors, tickets, CSAT/NPS, sponsor, invoices, dau_over_wau; one tenant = the sweep's path", async () => {
    k = await open();
    await seed(k);
    const q = tenantMetricsQuery(k);
    const one = await q('acme', NOW);
    expect(one.values).toEqual({ ...ACME_METRICS, dau_over_wau: expect.closeTo(11 / 28, 12) });
    expect(one.evidence.errors_per_session_1d).toEqual([{ event: 'error.raised', at: at(0) }]);
    expect(one.evidence.errors_per_session_7d).toEqual([at(0), at(2), at(3)].map((t) => ({ event: 'error.raised', at: t })));
    expect(one.evidence.invoices_overdue).toHaveLength(3);
    const all = await q.all(NOW);
    expect([...all.keys()].sort()).toEqual(['acme', 'globex']);
    expect(all.get('acme')).toEqual(one.values);
    expect(all.get('globex')).toEqual({ ...GLOBEX_METRICS, dau_over_wau: expect.closeTo(1 / 7, 12) });
    expect(all.get('globex')).toEqual((await q('globex', NOW)).values);
    expect((await q('nobody', NOW)).values).toEqual({
      ...GLOBEX_METRICS,
      dau_over_wau: null,
      errors_per_session_7d: null,
      errors_per_session_1d: null,
      tickets_per_active_user_30d: null,
    });
  });

  test('the score, snapshots upserted per tenant and day, the history and the week-over-week change', async () => {
    k = await open();
    await seed(k);
    const health = healthService(k, publishedConfig(ACME, NOW));
    const r = (await health.report('acme', NOW))!;
    const want = scoreHealth(ACME.health as HealthModel, ACME_METRICS);
    expect([r.score, r.band, r.coverage]).toEqual([want.score, want.band, want.coverage]);
    expect(r.components.map((c) => [c.id, c.points])).toEqual(want.components.map((c) => [c.id, c.points]));
    expect(r.trend).toEqual({ wow: null, history: [] });
    // A week ago (no events then: a lower score), then today twice: the second write of the day replaces the first.
    const weekAgo = await health.tenantHealth('acme', NOW - 7 * DAY);
    await health.snapshot([weekAgo]);
    await health.snapshot([await health.tenantHealth('acme', NOW), await health.tenantHealth('globex', NOW)]);
    await insertRows(k, [track('ada', 'error.raised', 0.1), track('ada', 'error.raised', 0.1)]);
    const later = await health.tenantHealth('acme', NOW);
    expect(later.metrics.values.errors_per_session_1d).toBe(1.5);
    await health.snapshot([later]);
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const after = (await health.report('acme', NOW))!;
    expect(after.trend.history).toEqual([
      { day: day(NOW - 7 * DAY), score: weekAgo.report!.score, band: weekAgo.report!.band },
      { day: day(NOW), score: later.report!.score, band: later.report!.band },
    ]);
    const prev = weekAgo.report!.score;
    expect(after.trend.wow).toEqual({
      points: Math.round((after.score - prev) * 10) / 10,
      percent: prev ? Math.round(((after.score - prev) / prev) * 1000) / 10 : null,
      against: day(NOW - 7 * DAY),
    });
    // The sweep's path (values given, week-ago snapshots read for every tenant at once) says the same.
    const values = (await health.allMetrics(NOW)).get('acme')!;
    expect((await health.tenantHealth('acme', NOW, values)).report!.trend.wow).toEqual(after.trend.wow);
    const rows = await k.db.selectFrom('health_snapshots').select(['tenant_id', 'day']).orderBy('tenant_id').orderBy('day').execute();
    expect(rows).toEqual([
      { tenant_id: 'acme', day: day(NOW - 7 * DAY) },
      { tenant_id: 'acme', day: day(NOW) },
      { tenant_id: 'globex', day: day(NOW) },
    ]);
  });

  test("a payload with an escaped NUL (valid JSON that PostgreSQL cannot read as JSON) fails neither the sweep's metrics nor the report", async () => {
    k = await open();
    await seed(k);
    await insertRows(k, [
      track('eve', 'feature.used', 0, { feature: 'x', note: '\u0000' }, 'nul'),
      track('eve', 'user.session', 0, { action: 'start' }, 'nul'),
      track('eve', 'error.raised', 0, { message: '\u0000' }, 'nul'),
      identify('eve', 1, { role: 'sponsor', note: '\u0000' }),
    ]);
    const all = await tenantMetricsQuery(k).all(NOW);
    expect([...all.keys()].sort()).toEqual(['acme', 'globex', 'nul']);
    expect(all.get('nul')).toMatchObject({ errors_per_session_1d: 1, features_used_ratio_30d: null });
    expect(all.get('acme')).toMatchObject({ invoices_overdue: 2, nps_90d: 25 });
    expect((await healthService(k, publishedConfig(ACME, NOW)).report('nul', NOW))!.metrics).toEqual(all.get('nul'));
  });
});

test('SQLite and PostgreSQL give identical reports and all-tenant metrics for the same events', async () => {
  const [a, b] = await Promise.all(dialects.map(([, open]) => open()));
  try {
    const out = [];
    for (const k of [a!, b!]) {
      await seed(k);
      const health = healthService(k, publishedConfig(ACME, NOW));
      out.push({ report: await health.report('acme', NOW), globex: await health.report('globex', NOW), all: [...(await health.allMetrics(NOW))].sort() });
    }
    expect(out[0]!.report!.score).toBeGreaterThan(0);
    expect(out[1]).toEqual(out[0]);
  } finally {
    await Promise.all([a?.close(), b?.close()]);
  }
});
