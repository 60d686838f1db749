// The sweep's grouped reads (sweep-reads.ts) against the per-tenant reads they replace, tenant by
// tenant, on both dialects: facts, the rule context the lifecycle builds (traits, first events,
// checklists, facts counting unverified events), and the recorded history.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigText } from '@keel/sdk-core/authoring';
import type { RuleContext } from '@keel/sdk-core/engine';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { KeelDb } from '../store/db.js';
import { openDatabase } from '../store/sqlite.js';
import { factsStore } from '../store/state.js';
import { testPostgres } from '../test-support/pg.js';
import { noHealth, publishedConfig } from '../test-support/services.js';
import { insertRows, type TestRow } from '../test-support/rows.js';
import { lifecycleService } from './lifecycle.js';
import { sweepReads } from './sweep-reads.js';

const ACME = validateConfigText(readFileSync(new URL('../../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config!;
const DAY = 86_400_000;
const dialects: [string, () => Promise<KeelDb>][] = [
  ['sqlite', () => openDatabase(join(mkdtempSync(join(tmpdir(), 'keel-sr-')), 'keel.db'))],
  ['postgres', testPostgres],
];

const now = Date.parse('2026-03-01T12:00:00.000Z');
const at = (msAgo: number) => new Date(now - msAgo).toISOString();
const track = (
  groupId: string,
  userId: string | null,
  event: string,
  properties: Record<string, unknown>,
  ago: number,
  trust: TestRow['trust'] = 'verified',
): TestRow => ({
  type: 'track',
  event,
  userId,
  ...(userId ? {} : { anonymousId: `anon-${groupId}` }),
  groupId,
  timestamp: at(ago),
  properties,
  trust,
});
const group = (groupId: string, traits: Record<string, unknown>, ago: number, trust: TestRow['trust'] = 'verified'): TestRow => ({
  type: 'group',
  userId: 'admin',
  groupId,
  timestamp: at(ago),
  traits,
  trust,
});

/** Tenants that differ in every way a read can tell apart. */
async function seed(k: KeelDb) {
  await insertRows(k, [
    // a: verified and unverified activity, a dataset ingested (and one unverified), SSO connected then failed, Slack connected.
    track('a', 'ada', 'feature.used', { feature: 'dataset.ingest' }, 2 * DAY),
    track('a', 'bob', 'feature.used', { feature: 'dataset.ingest' }, 3 * DAY, 'unverified'),
    track('a', 'cy', 'feature.used', { feature: 'reports.create' }, 10 * DAY),
    track('a', null, 'user.session', { action: 'start' }, 20 * DAY),
    track('a', 'ada', 'integration.state', { integration: 'sso', state: 'connected' }, 5 * DAY),
    track('a', 'ada', 'integration.state', { integration: 'sso', state: 'failed' }, 4 * DAY),
    track('a', 'ada', 'integration.state', { integration: 'slack', state: 'connected' }, 4 * DAY),
    track('a', 'eve', 'feature.used', { feature: 'f1' }, -DAY), // after `now`: only the unbounded counts see it
    group('a', { seats: 10, days_to_renewal: 300 }, 9 * DAY),
    group('a', { seats: 12 }, 1 * DAY, 'unverified'),
    { type: 'identify', userId: 'ada', groupId: 'a', traits: { role: 'admin' }, timestamp: at(9 * DAY) },
    { type: 'identify', userId: 'ada', groupId: 'a', traits: { role: 'owner' }, timestamp: at(8 * DAY) },
    // b: only unverified events, first seen 40 days ago; the onboarding items done by two users.
    track('b', 'dan', 'feature.used', { feature: 'f2' }, 40 * DAY, 'unverified'),
    track('b', 'dan', 'integration.state', { integration: 'sso', state: 'connected' }, 6 * DAY),
    track('b', 'fay', 'feature.used', { feature: 'dataset.ingest' }, 6 * DAY),
    group('b', { seats: 2 }, 40 * DAY, 'unverified'),
    // c: a group call only (two at the same time: the later row wins).
    group('c', { seats: 3 }, 2 * DAY),
    group('c', { seats: 4 }, 2 * DAY),
  ]);
  await k.db
    .insertInto('progress')
    .values([
      {
        tenant_id: 'b',
        scope: 'user',
        subject: 'dan',
        kind: 'checklist',
        ref: 'onboarding/first-report',
        state: 'completed',
        updated_at: at(DAY),
        completed_at: at(DAY),
        data: JSON.stringify({ attested: { by: 'dan', at: at(DAY) } }),
      },
      {
        tenant_id: 'b',
        scope: 'user',
        subject: 'fay',
        kind: 'checklist',
        ref: 'onboarding/review',
        state: 'active',
        updated_at: at(2 * DAY),
        completed_at: null,
        data: JSON.stringify({ attested: { by: 'fay', at: at(2 * DAY) } }),
      },
      {
        tenant_id: 'a',
        scope: 'user',
        subject: 'ada',
        kind: 'checklist',
        ref: 'onboarding/sso',
        state: 'completed',
        updated_at: at(3 * DAY),
        completed_at: null,
        data: null,
      },
    ])
    .execute();
}

/** What a rule context answers: its values, and every count its config's rules can ask. */
const answers = (ctx: RuleContext | undefined) =>
  ctx && {
    historySince: ctx.historySince,
    facts: ctx.facts,
    tenantTraits: ctx.tenantTraits,
    anyFacts: ctx.anyEvidence?.facts,
    anyTraits: ctx.anyEvidence?.tenantTraits,
    onboarding: ctx.checklist?.('onboarding'),
    counts: ['integration.state', 'feature.used'].map((event) => [
      ctx.countEvents({ event, until: now }),
      ctx.countEvents({ event, until: now, evidence: 'any' }),
      ctx.countEvents({ event, until: now, since: now - 5 * DAY, where: { feature: 'dataset.ingest' } }),
    ]),
  };

describe.each(dialects)('the sweep reads on %s', (_name, open) => {
  let k: KeelDb;
  beforeEach(async () => {
    k = await open();
  });
  afterEach(async () => {
    await k?.close();
  });

  test('give every tenant the answers its own reads give: facts, rule context, checklists, history', async () => {
    await seed(k);
    const lc = lifecycleService(k, publishedConfig(ACME), noHealth, factsStore(k));
    // A recorded history for a (its current state is the newest row).
    for (const t of ['a', 'b', 'a']) expect(await lc.evaluate(t, now)).toBeDefined();
    const tenants = ['a', 'b', 'c', 'nobody'];
    const reads = await lc.prepare(tenants, now);
    expect([...reads.keys()]).toEqual(tenants);
    const perTenant = factsStore(k);
    for (const t of tenants) {
      const pre = reads.get(t)!;
      expect(pre.facts).toEqual(await perTenant.tenantFacts(t, now));
      expect(answers(await lc.context(t, now, undefined, pre))).toEqual(answers(await lc.context(t, now)));
      const state = (await lc.state(t))!;
      expect(pre.history.map((r) => ({ ...r, evidence: JSON.parse(r.evidence) as unknown }))).toEqual(state.transitions);
      expect(await lc.evaluate(t, now, undefined, undefined, pre)).toEqual(await lc.evaluate(t, now));
    }
    // The data tells the tenants apart (the comparison above is not between empty answers).
    // eve's event after `now` counts: the facts' windows have no upper bound (store/state.ts).
    expect(reads.get('a')!.facts).toMatchObject({ active_users_7d: 2, datasets_ingested: 1, integrations_connected: 1 });
    expect(reads.get('a')!.scalars).toMatchObject({ traits: expect.stringContaining('"seats":10'), traitsAny: expect.stringContaining('"seats":12') });
    expect(reads.get('b')!.attestedRefs).toEqual([{ ref: 'onboarding/first-report' }]);
    expect(reads.get('c')!.scalars.traits).toContain('"seats":4');
    expect(reads.get('a')!.history.length).toBeGreaterThan(0);
    expect(reads.get('nobody')).toMatchObject({ events: [], users: [], history: [], scalars: { first: null, firstAny: null, traits: null } });
  });

  test('without unverified counts asked for, none are read; no event names, no event query', async () => {
    await seed(k);
    const r = (await sweepReads(k, ['a', 'b'], now, [], false)).get('a')!;
    expect(r.events).toEqual([]);
    expect(r.scalars).not.toHaveProperty('active7');
    expect(r.facts).toEqual(await factsStore(k).tenantFacts('a', now));
    expect(await sweepReads(k, [], now, ['x'], true)).toEqual(new Map());
  });
});
