// The lifecycle and server-decided progress on both dialects, on a KeelDb directly (rows written
// with insertRows): the same queries must give the same answers on SQLite and PostgreSQL.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigText } from '@keel/sdk-core/authoring';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { KeelDb } from '../store/db.js';
import { openDatabase } from '../store/sqlite.js';
import type { FactsStore } from '../store/state-types.js';
import { testPostgres } from '../test-support/pg.js';
import { noHealth, publishedConfig } from '../test-support/services.js';
import { insertRows, type TestRow } from '../test-support/rows.js';
import { lifecycleService } from './lifecycle.js';
import { type ConfigChecklist, progressEvaluator } from './progress.js';

const ACME = validateConfigText(readFileSync(new URL('../../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config!;
const DAY = 86_400_000;
const dialects: [string, () => Promise<KeelDb>][] = [
  ['sqlite', () => openDatabase(join(mkdtempSync(join(tmpdir(), 'keel-lc-')), 'keel.db'))],
  ['postgres', testPostgres],
];
const facts: FactsStore = {
  tenantFacts: async () => ({ active_users_7d: 0, active_users_30d: 0, integrations_connected: 0, datasets_ingested: 0, events_7d: 0 }),
};
const track = (
  userId: string,
  event: string,
  properties: Record<string, unknown>,
  ts = Date.now() - 60_000,
  trust: TestRow['trust'] = 'verified',
): TestRow => ({ type: 'track', event, userId, groupId: 'acme', timestamp: new Date(ts).toISOString(), properties, trust });

describe.each(dialects)('lifecycle and progress on %s', (_name, open) => {
  let k: KeelDb;
  beforeEach(async () => {
    k = await open();
  });
  afterEach(async () => {
    await k?.close();
  });

  test('transitions come from verified events (a user item done by another user counts); recorded once, with evidence', async () => {
    const lc = lifecycleService(k, publishedConfig(ACME), noHealth, facts);
    expect(await lc.evaluate('acme')).toMatchObject({ state: 'onboarding', transitions: [] });
    // Unverified events decide nothing.
    await insertRows(k, [
      track('ada', 'integration.state', { integration: 'sso', state: 'connected' }, undefined, 'unverified'),
      track('bob', 'feature.used', { feature: 'dataset.ingest' }),
    ]);
    expect((await lc.evaluate('acme'))!.state).toBe('onboarding');
    await insertRows(k, [track('ada', 'integration.state', { integration: 'sso', state: 'connected' })]);
    const r = (await lc.evaluate('acme'))!;
    expect(r.state).toBe('activated');
    expect(r.transitions).toEqual([
      { from: 'onboarding', to: 'activated', at: expect.any(String), configVersion: 1, evidence: expect.objectContaining({ ok: true, actual: 'completed' }) },
    ]);
    expect((await lc.evaluate('acme'))!.transitions).toHaveLength(1);
    expect((await lc.state('acme'))!.state).toBe('activated');
    // hours since checklist progress: from the newest event an item counts.
    expect((await lc.context('acme'))!.facts).toMatchObject({ hours_since_checklist_progress: 0 });
  });

  test('a rule context refuses an event its config never reads, rather than count it as 0', async () => {
    const lc = lifecycleService(k, publishedConfig(ACME), noHealth, facts);
    const ctx = (await lc.context('acme'))!;
    expect(() => ctx.countEvents({ event: 'not.in.config', until: Date.now() })).toThrow('did not read "not.in.config"');
  });

  test('forUser: own verified events, per-day history, message ids since pendingSince, first seen; forTenant with no event clause at all', async () => {
    const now = Date.now();
    await insertRows(k, [
      track('ada', 'feature.used', { feature: 'reports' }, now - 2 * DAY),
      track('ada', 'feature.used', { feature: 'reports' }, now - 60_000),
      track('bob', 'feature.used', { feature: 'reports' }, now - 10 * DAY),
      { type: 'identify', userId: 'ada', groupId: 'acme', traits: { role: 'admin' }, timestamp: new Date(now - 3 * DAY).toISOString() },
    ]);
    const lists: ConfigChecklist[] = [
      {
        id: 'c',
        items: [
          { id: 'report', complete: { event: 'feature.used', where: { feature: 'reports' }, count: { gte: 2 } } },
          { id: 'admin', complete: { trait: 'role', eq: 'admin' } },
        ],
      },
    ];
    const p = progressEvaluator(k);
    const base = { tenantTraits: {}, facts: {}, metrics: {} };
    const ada = await p.forUser('acme', 'ada', now, lists, base, [{ event: 'feature.used', within: '7d' }], now - DAY);
    expect(ada.items.map((i) => [i.item, i.completed])).toEqual([
      ['report', true],
      ['admin', true],
    ]);
    expect(ada.history.tenantFirstSeen).toBe(new Date(now - 10 * DAY).toISOString());
    expect(ada.history.firstSeen).toBe(new Date(now - 3 * DAY).toISOString());
    expect(Object.values(ada.history.clauses[0]!.days).reduce((a, b) => a + b, 0)).toBe(2);
    expect(ada.history.messageIds).toHaveLength(1);
    const bob = await p.forUser('acme', 'bob', now, lists, base, []);
    expect(bob.items.map((i) => i.completed)).toEqual([false, false]);
    const only = await p.forTenant('acme', now, [{ id: 'f', items: [{ id: 'x', scope: 'tenant', complete: { fact: 'n', gte: 1 } }] }], {
      ...base,
      facts: { n: 1 },
    });
    expect(only.get('f')).toMatchObject({ completed: true });
    expect(await p.lastEvidence('acme', now, [])).toBeUndefined();
  });
});
