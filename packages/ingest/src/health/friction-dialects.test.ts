// The friction log (friction.ts) on both dialects, over a fixture whose answer is known: an error
// that hit 10 of 20 active users the week before a nudge addressing it was published and 2 of 20
// the week after; an anchor that never appeared for 3 users in 2 tenants; recipe exits and skips;
// a failing integration; tickets by tag; and events that are not failures (a recipe replaced, an
// integration connected) that must not count.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeelConfig } from '@keel/sdk-core/schema';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { KeelDb } from '../store/db.js';
import { openDatabase } from '../store/sqlite.js';
import { configStore } from '../store/state.js';
import { testPostgres } from '../test-support/pg.js';
import { insertRows, type TestRow } from '../test-support/rows.js';
import { fingerprintOf, frictionLog, routeOf } from './friction.js';

const DAY = 86_400_000;
const now = Date.parse('2026-03-01T12:00:00.000Z');
const at = (ago: number) => new Date(now - ago).toISOString();
const track = (tenant: string, user: string, event: string, properties: Record<string, unknown>, ago: number, extra: Partial<TestRow> = {}): TestRow => ({
  type: 'track',
  event,
  userId: user,
  groupId: tenant,
  timestamp: at(ago),
  properties,
  trust: 'verified',
  ...extra,
});
const FIX: KeelConfig = {
  version: 1,
  product: 'acme',
  nudges: [
    {
      id: 'explain-report-error',
      kind: 'banner',
      body: 'Reports need a dataset first.',
      when: { event: 'error.raised', where: { code: 'E_NO_DATASET' }, within: '1d' },
    },
  ],
  // An error repair addresses it too (served as the nudge repair-import-first); one for another code does not.
  errors: [
    { id: 'import-first', match: { code: 'E_NO_DATASET' }, body: 'Import a dataset first.' },
    { id: 'reconnect', match: { code: 'E_AUTH' }, body: 'Reconnect.' },
  ],
} as KeelConfig;
const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
const tenantOf = (u: string) => `t${Number(u.slice(1)) % 4}`;

function fixture(): TestRow[] {
  const rows: TestRow[] = [];
  // Every user is active in both weeks.
  for (const u of users)
    rows.push(track(tenantOf(u), u, 'feature.used', { feature: 'x' }, 10 * DAY), track(tenantOf(u), u, 'feature.used', { feature: 'x' }, 3 * DAY));
  // The error: 10 users the week before the fix (published 7 days ago), 2 the week after; ids and numbers vary.
  const err = (u: string, ago: number, n: number) =>
    track(tenantOf(u), u, 'error.raised', { code: 'E_NO_DATASET', message: `Report ${n} failed` }, ago, {
      payload: JSON.stringify({
        type: 'track',
        event: 'error.raised',
        properties: { code: 'E_NO_DATASET', message: `Report ${n} failed` },
        context: { page: { path: `/reports/${1000 + n}` } },
      }),
    });
  users.slice(0, 10).forEach((u, i) => rows.push(err(u, 9 * DAY + i * 1000, i)));
  rows.push(err('u0', 2 * DAY, 50), err('u1', DAY, 51), err('u1', DAY - 5000, 52));
  // An anchor that never appeared: 3 users, 2 tenants, on a route with an id.
  for (const u of ['u2', 'u3', 'u6'])
    rows.push(
      track(tenantOf(u), u, 'anchor.missing', { nudge: 'reports-tip', selectors: ['#x'], waitedMs: 5000, path: '/reports/9f8e7d6c5b4a39281706' }, 2 * DAY),
    );
  // Recipe: an exit (counted), a replacement (not), a skipped step.
  rows.push(track('t0', 'u4', 'recipe.exited', { recipe: 'first-report', step: 2, steps: 3, reason: 'exited' }, DAY));
  rows.push(track('t0', 'u8', 'recipe.exited', { recipe: 'first-report', step: 2, steps: 3, reason: 'replaced' }, DAY));
  rows.push(track('t1', 'u5', 'recipe.step_completed', { recipe: 'first-report', step: 1, steps: 3, how: 'skip' }, DAY));
  rows.push(track('t1', 'u5', 'recipe.step_completed', { recipe: 'first-report', step: 2, steps: 3, how: 'next' }, DAY));
  // Integrations: one failing (an unverified claim), one fine.
  rows.push(track('t2', 'u6', 'integration.state', { integration: 'slack', state: 'auth_failed' }, DAY, { trust: 'unverified' }));
  rows.push(track('t3', 'u7', 'integration.state', { integration: 'github', state: 'connected' }, DAY));
  rows.push(track('t3', 'u7', 'ticket.created', { tags: ['billing'] }, DAY));
  return rows;
}

const dialects: [string, () => Promise<KeelDb>][] = [
  ['sqlite', () => openDatabase(join(mkdtempSync(join(tmpdir(), 'keel-fr-')), 'keel.db'))],
  ['postgres', testPostgres],
];

test('fingerprints and routes: what varies between occurrences is a placeholder', () => {
  expect(fingerprintOf(`Cannot read properties of undefined (reading 'id') at 12:3`)).toBe('Cannot read properties of undefined (reading "…") at <n>:<n>');
  expect(fingerprintOf('Order 5f1c9a2e-0d3b-4c5a-9e8f-1a2b3c4d5e6f not found at https://api.acme.example/o/5')).toBe('Order <id> not found at <url>');
  expect(routeOf('/reports/1042/edit?tab=2#x')).toBe('/reports/:id/edit');
  expect(routeOf('/teams/acme/settings')).toBe('/teams/acme/settings');
  expect(routeOf('/o/5f1c9a2e-0d3b-4c5a-9e8f-1a2b3c4d5e6f')).toBe('/o/:id');
  expect(routeOf('/docs/getting-started-v2')).toBe('/docs/getting-started-v2'); // a slug, not an id
  expect(routeOf('/share/aB3dE5fG7hJ9kL1mN2')).toBe('/share/:id');
  expect(fingerprintOf("Can't open 'a.txt'")).toBe('Can\'t open "…"'); // an apostrophe is not a quote
});

describe.each(dialects)('the friction log on %s', (_name, open) => {
  let k: KeelDb;
  beforeEach(async () => {
    k = await open();
    const store = configStore(k);
    const publish = (doc: unknown, ago: number) =>
      store.publish({ document: JSON.stringify(doc), hash: `h${ago}`, publishedAt: at(ago), publishedBy: 'test', summary: 's' });
    await publish({ version: 1, product: 'acme' }, 30 * DAY);
    await publish(FIX, 7 * DAY);
    await insertRows(k, fixture());
    await k.db
      .insertInto('health_snapshots')
      .values({ tenant_id: 't2', day: '2026-02-28', score: 31, band: 'at-risk', coverage: 1, components: '[]', computed_at: at(DAY) })
      .execute();
  });
  afterEach(async () => {
    await k.close();
  });

  test('ranked by users hit, each failure named once, non-failures left out', async () => {
    const log = await frictionLog(k, FIX, { now });
    expect(log.map((e) => [e.kind, e.title, e.users, e.tenants, e.occurrences])).toEqual([
      ['anchor_missing', 'the anchor of nudge "reports-tip" never appeared on /reports/:id', 3, 2, 3],
      ['error', 'code E_NO_DATASET on /reports/:id', 2, 2, 3],
      // Ties: by tenants, then occurrences, then key (a stable order).
      ['integration_failed', 'integration "slack" is failing', 1, 1, 1],
      ['recipe_exit', 'users leave recipe "first-report" at step 2', 1, 1, 1],
      ['recipe_skip', 'users skip step 1 of recipe "first-report"', 1, 1, 1],
      ['ticket', 'tickets tagged "billing"', 1, 1, 1],
    ]);
    const anchor = log[0]!;
    expect(anchor.affected).toEqual([
      { tenant: 't2', users: 2, band: 'at-risk' },
      { tenant: 't3', users: 1, band: null },
    ]);
    expect(anchor.trend).toBe('new');
    expect(anchor.samples).toHaveLength(3);
    expect(anchor.addressedBy).toEqual([]);
    expect(anchor.explanation).toContain('no config item addresses it yet');
  });

  test('the error fell after the nudge addressing it: its rate before and after that version', async () => {
    const e = (await frictionLog(k, FIX, { now })).find((x) => x.kind === 'error')!;
    expect([e.previous.users, e.users, e.trend]).toEqual([10, 2, 'falling']);
    expect(e.firstSeen).toBe(at(9 * DAY + 9000)); // the earliest of the ten
    expect(e.addressedBy.map((f) => [f.item, f.version])).toEqual([
      ['nudge:explain-report-error', 2],
      ['repair:import-first', 2],
    ]);
    const fix = e.addressedBy[0]!;
    expect([fix.item, fix.version, fix.publishedAt]).toEqual(['nudge:explain-report-error', 2, at(7 * DAY)]);
    expect([fix.before!.affectedUsers, fix.before!.activeUsers, fix.before!.rate]).toEqual([10, 20, 0.5]);
    expect([fix.after!.affectedUsers, fix.after!.activeUsers, fix.after!.rate]).toEqual([2, 20, 0.1]);
    expect(fix.explanation).toBe('50.0% of active users hit it in the 7 days before version 2 brought nudge:explain-report-error, 10.0% after');
  });

  test('only items that need the failure address it: not under "not", nor a count that holds at zero; a version older than the log reads has nothing to compare', async () => {
    const current = {
      ...FIX,
      nudges: [
        ...FIX.nudges!,
        { id: 'calm-week', kind: 'banner', body: 'x', when: { not: { event: 'error.raised', where: { code: 'E_NO_DATASET' } } } },
        { id: 'no-errors', kind: 'banner', body: 'x', when: { event: 'error.raised', where: { code: 'E_NO_DATASET' }, count: { lte: 0 } } },
        { id: 'old-fix', kind: 'banner', body: 'x', when: { event: 'error.raised', where: { code: 'E_NO_DATASET' } } },
      ],
    } as KeelConfig;
    await configStore(k).publish({ document: JSON.stringify(current), hash: 'old', publishedAt: at(120 * DAY), publishedBy: 'test', summary: 's' });
    const e = (await frictionLog(k, current, { now })).find((x) => x.kind === 'error')!;
    expect(e.addressedBy.map((f) => f.item)).toEqual(['nudge:explain-report-error', 'nudge:old-fix', 'repair:import-first']);
    const old = e.addressedBy.find((f) => f.item === 'nudge:old-fix')!;
    expect([old.before, old.after]).toEqual([null, null]);
    expect(old.explanation).toBe('version 3 brought nudge:old-fix on 2025-11-01, before the last 90 days this log reads: nothing to compare it with');
  });

  test('a repair glob is matched against what the log keeps of a message (500 characters), so a huge stored message cannot stall it', async () => {
    const huge = `${'timed out '.repeat(45_000)}/`;
    await insertRows(k, [track('t0', 'u0', 'error.raised', { message: huge }, DAY)]);
    const cfg = { ...FIX, errors: [{ id: 'timeouts', match: { message: { glob: '*timed out*timed out*x' } }, body: 'x' }] } as KeelConfig;
    const e = (await frictionLog(k, cfg, { now })).find((x) => x.title.startsWith('timed out'))!;
    expect(e.users).toBe(1);
    expect(e.addressedBy).toEqual([]); // matched against the first 500 characters: no "x" there
  });

  test('one tenant, verified evidence only, and a window that holds nothing', async () => {
    expect((await frictionLog(k, FIX, { now, tenant: 't2' })).map((e) => [e.kind, e.users])).toEqual([
      ['anchor_missing', 2],
      ['integration_failed', 1],
    ]);
    const verified = await frictionLog(k, FIX, { now, evidence: 'verified' });
    expect(verified.some((e) => e.kind === 'integration_failed')).toBe(false); // its one report was an unverified claim
    const all = await frictionLog(k, FIX, { now });
    expect(all.find((e) => e.kind === 'integration_failed')!.verifiedUsers).toBe(0);
    expect(await frictionLog(k, FIX, { now: now - 60 * DAY })).toEqual([]);
  });
});
