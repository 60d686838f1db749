// Outcomes against a fixture with known ground truth (test-support/outcomes-fixture.ts), on both
// dialects: a nudge that truly lifts its goal from 10% to 20% and one with no effect, each with a
// 20% holdout. The computed interval contains the truth, the no-effect one contains 0, and every
// count equals what the fixture made.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeelConfig } from '@keel/sdk-core/schema';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { KeelDb } from '../store/db.js';
import { openDatabase } from '../store/sqlite.js';
import { FIXTURE_HOLDOUT, FIXTURE_NUDGES, FIXTURE_VERSION, outcomesFixture } from '../test-support/outcomes-fixture.js';
import { testPostgres } from '../test-support/pg.js';
import { insertRows, type TestRow } from '../test-support/rows.js';
import { nudgeOutcomes, OUTCOME_METHOD } from './outcomes.js';

const NOW = Date.UTC(2026, 10, 30, 12);
const DAY = 86_400_000;
const nudge = (id: string, goalEvent: string, holdout?: number) => ({
  id,
  kind: 'modal' as const,
  body: 'x',
  when: { event: 'x' },
  goal: { event: goalEvent, within: '7d' },
  ...(holdout === undefined ? {} : { holdout }),
});
const CONFIG = {
  version: 1,
  product: 'acme',
  nudges: [nudge('lift', FIXTURE_NUDGES.lift.goalEvent, FIXTURE_HOLDOUT), nudge('flat', FIXTURE_NUDGES.flat.goalEvent, FIXTURE_HOLDOUT)],
} as KeelConfig;
const { rows, truth } = outcomesFixture({ now: NOW });

const dialects: [string, () => Promise<KeelDb>][] = [
  ['sqlite', () => openDatabase(join(mkdtempSync(join(tmpdir(), 'keel-outcomes-')), 'keel.db'))],
  ['postgres', testPostgres],
];

describe.each(dialects)('outcomes on %s', (_name, open) => {
  let k: KeelDb;
  beforeAll(async () => {
    k = await open();
    for (let i = 0; i < rows.length; i += 2000) await insertRows(k, rows.slice(i, i + 2000));
  }, 120_000);
  afterAll(async () => {
    await k?.close();
  });

  test('a nudge that lifts its goal from 10% to 20%: "helped", and the 95% interval contains the true +10 points', async () => {
    const [lift] = (await nudgeOutcomes(k, CONFIG, { now: NOW })).filter((o) => o.id === 'lift');
    const t = truth.lift!;
    expect(lift).toMatchObject({
      version: FIXTURE_VERSION,
      tenant: null,
      holdout: FIXTURE_HOLDOUT,
      eligible: t.shown.users + t.heldOut.users,
      pending: t.pending,
      shown: { users: t.shown.users, goal: t.shown.goal, acted: t.shown.acted, dismissed: t.shown.dismissed },
      heldOut: { users: t.heldOut.users, goal: t.heldOut.goal },
      contaminated: 0,
      verdict: 'helped',
    });
    expect(lift!.heldOut!.users / lift!.eligible).toBeCloseTo(0.2, 1); // the server's 20% holdout
    expect(lift!.lift!.method).toBe(OUTCOME_METHOD);
    expect(lift!.lift!.low).toBeLessThan(0.1);
    expect(lift!.lift!.high).toBeGreaterThan(0.1);
    expect(lift!.lift!.low).toBeGreaterThan(0);
    expect(lift!.explanation).toMatch(/of \d+ shown reached the goal within 7d, against .* held out: a difference of .*95% interval.*it helped/);
    expect(lift!.shown.medianHoursToGoal).toBeGreaterThan(0);
    expect(lift!.shown.medianHoursToGoal).toBeLessThan(7 * 24);
  });

  test('a nudge with no effect: the interval contains 0, "no clear effect"', async () => {
    const [flat] = (await nudgeOutcomes(k, CONFIG, { now: NOW })).filter((o) => o.id === 'flat');
    const t = truth.flat!;
    expect(flat).toMatchObject({
      shown: { users: t.shown.users, goal: t.shown.goal },
      heldOut: { users: t.heldOut.users, goal: t.heldOut.goal },
      verdict: 'no clear effect',
    });
    expect(flat!.lift!.low).toBeLessThan(0);
    expect(flat!.lift!.high).toBeGreaterThan(0);
  });

  test('per tenant: rows for each tenant that add up to the overall one; one tenant alone; too few users says so', async () => {
    const all = await nudgeOutcomes(k, CONFIG, { now: NOW, byTenant: true });
    const lifts = all.filter((o) => o.id === 'lift');
    const overall = lifts.find((o) => o.tenant === null)!;
    const tenants = lifts.filter((o) => o.tenant !== null);
    expect(tenants.map((o) => o.tenant).sort()).toEqual([...truth.lift!.byTenant.keys()].sort());
    expect(tenants.reduce((s, o) => s + o.eligible, 0)).toBe(overall.eligible);
    for (const o of tenants) expect(o.eligible).toBe(truth.lift!.byTenant.get(o.tenant!));
    const one = await nudgeOutcomes(k, CONFIG, { now: NOW, tenant: 'tenant-2' });
    expect(one.find((o) => o.id === 'lift')).toMatchObject({ tenant: 'tenant-2', eligible: truth.lift!.byTenant.get('tenant-2') });
    // A minimum of 200 a side: a single tenant's ~90 held-out users are not enough.
    const small = (await nudgeOutcomes(k, CONFIG, { now: NOW, tenant: 'tenant-2', minPerArm: 200 })).find((o) => o.id === 'lift')!;
    expect(small.verdict).toBe('not enough data yet');
    expect(small.lift).toBeNull();
    expect(small.explanation).toMatch(
      /^not enough data yet: at least 200 users a side whose 7d window has closed are needed \(shown \d+, held out \d+\); \d+ more exposed less than 7d ago/,
    );
  });

  test('without a holdout: the rate alone, and it says nothing can be compared; without a goal: no row', async () => {
    const cfg = { ...CONFIG, nudges: [nudge('lift', FIXTURE_NUDGES.lift.goalEvent), { ...nudge('flat', 'x'), goal: undefined }] } as KeelConfig;
    const out = await nudgeOutcomes(k, cfg, { now: NOW });
    expect(out.map((o) => o.id)).toEqual(['lift']);
    expect(out[0]).toMatchObject({ verdict: 'no holdout', heldOut: null, lift: null });
    // Everyone counts as shown now (no holdout): the held-out users' rows are in the shown arm.
    expect(out[0]!.shown.users).toBe(truth.lift!.shown.users + truth.lift!.heldOut.users);
    expect(out[0]!.explanation).toMatch(/without a holdout there is nothing to compare with/);
  });

  test("each version is judged by its own goal and holdout; unverified events and other tenants' goals never count", async () => {
    // Today's config has no holdout; the exposures name version 3, which had one.
    const current = { ...CONFIG, nudges: [nudge('lift', FIXTURE_NUDGES.lift.goalEvent), nudge('flat', FIXTURE_NUDGES.flat.goalEvent)] } as KeelConfig;
    const out = await nudgeOutcomes(k, current, { now: NOW, configOf: async (v) => (v === FIXTURE_VERSION ? CONFIG : undefined) });
    const lift = out.find((o) => o.id === 'lift')!;
    expect(lift).toMatchObject({ holdout: FIXTURE_HOLDOUT, verdict: 'helped', heldOut: { users: truth.lift!.heldOut.users } });
    expect(lift.unverifiedLeftOut).toBeGreaterThan(0); // the fixture's forged exposures
    const any = (await nudgeOutcomes(k, CONFIG, { now: NOW, evidence: 'any' })).find((o) => o.id === 'lift')!;
    expect(any.eligible).toBeGreaterThan(lift.eligible);
    // The same user id in another tenant: its goal event is that tenant's user's, not this one's.
    const exposedAt = NOW - 10 * DAY;
    await insertRows(k, [
      {
        type: 'track',
        event: 'nudge.offered',
        userId: 'twin',
        groupId: 'tenant-a',
        timestamp: new Date(exposedAt).toISOString(),
        properties: { nudge: 'flat', version: FIXTURE_VERSION },
      },
      {
        type: 'track',
        event: FIXTURE_NUDGES.flat.goalEvent,
        userId: 'twin',
        groupId: 'tenant-b',
        timestamp: new Date(exposedAt + DAY).toISOString(),
        properties: {},
      },
    ]);
    const a = (await nudgeOutcomes(k, CONFIG, { now: NOW, tenant: 'tenant-a', minPerArm: 1 })).find((o) => o.id === 'flat')!;
    expect(a.eligible).toBe(1);
    expect(a.shown.goal + (a.heldOut?.goal ?? 0)).toBe(0);
  });

  test("the arm is the server's assignment: a held-out user whose page showed the nudge anyway stays held out, counted as contaminated", async () => {
    const { inHoldout } = await import('@keel/sdk-core/engine');
    let user = 0;
    while (!inHoldout('lift', `stray-${user}`, FIXTURE_HOLDOUT)) user++;
    const stray: TestRow = {
      type: 'track',
      event: 'nudge.sent',
      userId: `stray-${user}`,
      groupId: 'tenant-stray',
      timestamp: new Date(NOW - 10 * DAY).toISOString(),
      properties: { nudge: 'lift', version: FIXTURE_VERSION },
    };
    await insertRows(k, [stray]);
    const one = (await nudgeOutcomes(k, CONFIG, { now: NOW, tenant: 'tenant-stray', minPerArm: 1 })).find((o) => o.id === 'lift')!;
    expect(one).toMatchObject({ eligible: 1, contaminated: 1, shown: { users: 0 }, heldOut: { users: 1 } });
  });
});
