// "Whose events are these?": a page of tenant A plants events under tenant B's context.groupId;
// nothing of B's moves. And what counts by default (verified events) and with `evidence: any`.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigText } from '@keel/sdk-core/authoring';
import { evaluate, type Rule } from '@keel/sdk-core/engine';
import { RuleSchema } from '@keel/sdk-core/schema';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { buildApp } from './app.js';
import { openSqliteStore, type SqliteStore } from './store/sqlite.js';
import { signUserToken } from './token.js';

const ACME = validateConfigText(readFileSync(new URL('../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config!;
const KEY = 'wk_public';
const SERVER = 'sk_backend';
const SECRET = 'token-secret';
const HOUR = 3_600_000;
let store: SqliteStore;
let app: FastifyInstance;

beforeEach(async () => {
  store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-trust-')));
  await store.config.publish({ document: JSON.stringify(ACME), hash: 'h', publishedAt: new Date().toISOString(), publishedBy: 't', summary: 'v1' });
  app = buildApp({
    store,
    writeKeys: [KEY],
    serverWriteKeys: [SERVER],
    secretKeys: [SECRET],
    logger: false,
    config: store.config,
    facts: store.facts,
    health: store.health,
    lifecycle: store.lifecycle,
    status: store.status,
    timeline: store.timeline,
  });
});
afterEach(async () => {
  await app.close();
  await store.close();
});

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
let n = 0;
const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * HOUR).toISOString();
const track = (userId: string, event: string, properties: Record<string, unknown>, over: Record<string, unknown> = {}) => ({
  type: 'track',
  messageId: `t-${++n}`,
  userId,
  event,
  properties,
  timestamp: at(1),
  ...over,
});
async function post(batch: unknown[], o: { key?: string; userToken?: string } = {}) {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/batch',
    headers: { 'content-type': 'text/plain', authorization: basic(o.key ?? KEY) },
    payload: JSON.stringify({ batch, ...(o.userToken ? { userToken: o.userToken } : {}) }),
  });
  expect(res.statusCode).toBe(200);
  return res.json() as { accepted: number };
}

/** Everything of a tenant that events could move. */
async function snapshot(tenant: string) {
  const { status } = await store.status.forTenant(tenant);
  const health = await store.health.report(tenant);
  const lifecycle = await store.lifecycle.evaluate(tenant);
  return {
    status,
    facts: await store.facts.tenantFacts(tenant),
    lifecycle: { state: lifecycle?.state, transitions: lifecycle?.transitions.length },
    health: { score: health?.score, band: health?.band, metrics: health?.metrics },
    timeline: (await store.timeline(tenant)).items.filter((i) => i.kind === 'event'),
  };
}

/** Globex (tenant B): its backend reports a connected Slack; two of its users work in it. */
async function globexHistory() {
  await post(
    [
      {
        type: 'group',
        messageId: `g-${++n}`,
        userId: 'gina',
        groupId: 'globex',
        traits: { seats: 10, plan_features: ['a', 'b', 'c', 'd'] },
        timestamp: at(48),
      },
      track('gina', 'integration.state', { integration: 'slack', state: 'connected' }, { timestamp: at(24), context: { groupId: 'globex' } }),
      track('gina', 'user.session', { action: 'start' }, { context: { groupId: 'globex' } }),
      track('gina', 'feature.used', { feature: 'dataset.ingest' }, { context: { groupId: 'globex' } }),
      track('gus', 'feature.used', { feature: 'reports.create' }, { context: { groupId: 'globex' } }),
    ],
    { key: SERVER },
  );
}

/** What a mischievous member of tenant A sends under globex's name. */
const planted = (who: string) => [
  track(who, 'integration.state', { integration: 'slack', state: 'failed' }, { context: { groupId: 'globex' } }),
  ...Array.from({ length: 20 }, () => track(who, 'error.raised', { area: 'imports' }, { context: { groupId: 'globex' } })),
  track(who, 'user.session', { action: 'start' }, { context: { groupId: 'globex' } }),
  ...['p1', 'p2', 'p3', 'p4', 'p5', 'p6'].map((u) => track(u, 'feature.used', { feature: 'x' }, { context: { groupId: 'globex' } })),
  track(who, 'billing.invoice', { invoice: 'inv-9', status: 'overdue' }, { context: { groupId: 'globex' } }),
  { type: 'group', messageId: `g-${++n}`, userId: who, groupId: 'globex', traits: { seats: 1, plan_features: [] }, timestamp: at(1) },
];

describe('a tenant-A page plants events under tenant B', () => {
  test("with A's user token: B's status, facts, lifecycle, health and timeline do not move", async () => {
    await globexHistory();
    const before = await snapshot('globex');
    expect(before.status.integrations).toEqual([{ integration: 'slack', state: 'connected', at: expect.any(String) }]);
    expect(before.facts.integrations_connected).toBe(1);

    const tokenA = signUserToken({ sub: 'mallory', tenant: 'acme' }, SECRET);
    expect((await post(planted('mallory'), { userToken: tokenA })).accepted).toBe(planted('x').length);

    const after = await snapshot('globex');
    expect(after).toEqual(before);
    // The planted messages are kept, as claims, attributed to no tenant.
    const rows = await store.list({ writeKey: KEY, limit: 1000 });
    // Every one of them, also those naming other users (p1…p6): the page is proven to be acme's.
    expect(rows.filter((r) => r.attribution === 'disputed')).toHaveLength(planted('x').length);
    expect(rows.filter((r) => r.groupId === 'globex' && r.trust === 'verified')).toHaveLength(0);
    // Mallory's group call claiming globex made no membership.
    expect(await store.memberships({ userId: 'mallory' })).toEqual([]);
  });

  test('without any token: status and facts do not move (unverified), and the status says what it left out', async () => {
    await globexHistory();
    const before = await snapshot('globex');
    await post(planted('mallory'));
    const after = await snapshot('globex');
    expect(after.status.integrations).toEqual(before.status.integrations);
    expect(after.status.overall).toBe(before.status.overall);
    expect(after.status.unverifiedLeftOut).toBe(1);
    expect(after.facts).toEqual(before.facts);
    expect(after.lifecycle).toEqual(before.lifecycle);
  });
});

describe('evidence', () => {
  async function mixed() {
    // One verified report (globex's own user, with globex's token) and three unverified ones.
    await post([track('gina', 'feature.used', { feature: 'reports.create' }, { context: { groupId: 'globex' } })], {
      userToken: signUserToken({ sub: 'gina', tenant: 'globex' }, SECRET),
    });
    await post([1, 2, 3].map(() => track('anon', 'feature.used', { feature: 'reports.create' }, { context: { groupId: 'globex' } })));
    await post([{ type: 'group', messageId: `g-${++n}`, userId: 'anon', groupId: 'globex', traits: { plan: 'enterprise' }, timestamp: at(1) }]);
  }
  const rule = (r: unknown) => RuleSchema.parse(r) as Rule;

  test('proofs count verified events by default and explain what was left out; evidence: any counts them', async () => {
    await mixed();
    const ctx = (await store.lifecycle.context('globex'))!;
    const strict = evaluate(rule({ event: 'feature.used', where: { feature: 'reports.create' }, count: { gte: 2 } }), ctx);
    expect(strict).toMatchObject({ ok: false, actual: 1 });
    expect(strict.note).toBe('unverified events left out: counting them, the count would be 4 and the clause would hold (evidence: any counts them)');
    const any = evaluate(rule({ event: 'feature.used', where: { feature: 'reports.create' }, count: { gte: 2 }, evidence: 'any' }), ctx);
    expect(any).toMatchObject({ ok: true, actual: 4 });
    expect(any.note).toBeUndefined();
    // Facts and tenant traits the same way.
    expect(evaluate(rule({ fact: 'active_users_7d', gte: 2 }), ctx)).toMatchObject({ ok: false, actual: 1, note: expect.stringContaining('would be 2') });
    expect(evaluate(rule({ fact: 'active_users_7d', gte: 2, evidence: 'any' }), ctx)).toMatchObject({ ok: true, actual: 2 });
    expect(evaluate(rule({ tenantTrait: 'plan', eq: 'enterprise' }), ctx).ok).toBe(false);
    expect(evaluate(rule({ tenantTrait: 'plan', eq: 'enterprise', evidence: 'any' }), ctx).ok).toBe(true);
  });

  test('the schema accepts evidence on event, fact and tenantTrait clauses only, and names a bad value', () => {
    expect(RuleSchema.safeParse({ event: 'x', evidence: 'any' }).success).toBe(true);
    expect(RuleSchema.safeParse({ fact: 'x', gte: 1, evidence: 'verified' }).success).toBe(true);
    const bad = RuleSchema.safeParse({ event: 'x', evidence: 'some' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.message).toMatch(/expected evidence "verified".*or "any", found "some"/);
    const wrongKind = RuleSchema.safeParse({ metric: 'dau_over_wau', gte: 1, evidence: 'any' });
    expect(wrongKind.success).toBe(false);
    expect(wrongKind.error!.issues.map((i) => i.message).join()).toMatch(/"evidence" does not belong in a "metric" clause/);
  });
});
