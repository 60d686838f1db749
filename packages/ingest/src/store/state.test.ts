import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { testSchema } from '../test-support/pg.js';
import { insertRows } from '../test-support/rows.js';
import { type KeelDb, postgresKeelDb } from './db.js';
import { migrateToLatest } from './migrations.js';
import { openDatabase } from './sqlite.js';
import { configStore, factsStore, progressStore } from './state.js';

/**
 * Two handles on one database, as two processes (SQLite: one file) or two nodes (PostgreSQL: one
 * schema) see it. `close()` closes both (and drops the schema).
 */
type Pair = { a: KeelDb; b: KeelDb; close(): Promise<void> };
const dialects: [string, () => Promise<Pair>][] = [
  [
    'sqlite',
    async () => {
      const path = join(mkdtempSync(join(tmpdir(), 'keel-state-')), 'keel.db');
      const a = await openDatabase(path);
      const b = await openDatabase(path);
      return { a, b, close: async () => void (await a.close(), await b.close()) };
    },
  ],
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

const version = (n: number, at = new Date().toISOString()) => ({
  document: JSON.stringify({ version: 1, product: `p${n}` }),
  hash: `h${n}`,
  publishedAt: at,
  publishedBy: `ada${n}`,
  summary: `change ${n}`,
});
/**
 * PostgreSQL: all at once, as two nodes would. SQLite: one after the other, alternating handles
 * (two handles in one process would wait on each other's write lock: better-sqlite3's busy wait
 * blocks the event loop; two processes take turns).
 */
async function race<T>(dialect: string, fs: readonly (() => Promise<T>)[]): Promise<T[]> {
  if (dialect === 'postgres') return Promise.all(fs.map((f) => f()));
  const out: T[] = [];
  for (const f of fs) out.push(await f());
  return out;
}
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe.each(dialects)('state stores on %s', (dialect, open) => {
  let pair: Pair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  test('config: versions are immutable and listed newest first, each publish has its audit entry; drafts expire', async () => {
    pair = await open();
    const c = configStore(pair.a);
    expect(await c.latest()).toBeUndefined();
    const v1 = await c.publish(version(1));
    const v2 = await c.publish(version(2));
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect(await c.latest()).toEqual({ version: 2, ...version(2, v2.publishedAt) });
    expect((await c.versions()).map((v) => [v.version, v.summary])).toEqual([
      [2, 'change 2'],
      [1, 'change 1'],
    ]);
    expect((await c.versions(1)).map((v) => v.version)).toEqual([2]);
    expect((await c.versions())[0]).not.toHaveProperty('document');
    const now = Date.now();
    await c.saveDraft({
      id: 'draft-0123456789',
      document: '{"d":1}',
      createdAt: new Date(now).toISOString(),
      createdBy: 'bo',
      expiresAt: new Date(now + HOUR).toISOString(),
    });
    expect(await c.draft('draft-0123456789', now)).toMatchObject({ id: 'draft-0123456789', document: '{"d":1}', createdBy: 'bo' });
    expect(await c.draft('draft-0123456789', now + 2 * HOUR)).toBeUndefined(); // expired
    expect(await c.draft('nope', now)).toBeUndefined();
    expect((await c.audit()).map((e) => [e.action, e.detail])).toEqual([
      ['config.draft_saved', `draft draft-01… for preview until ${new Date(now + HOUR).toISOString()}`],
      ['config.published', 'version 2: change 2'],
      ['config.published', 'version 1: change 1'],
    ]);
  });

  test('config: latest() follows a version published by another process or node (its cache re-reads when the newest version moves)', async () => {
    pair = await open();
    const here = configStore(pair.a);
    const there = configStore(pair.b);
    await here.publish(version(1));
    expect((await there.latest())?.hash).toBe('h1');
    await here.publish(version(2));
    expect((await there.latest())?.hash).toBe('h2');
    expect(await there.latest()).toBe(await there.latest()); // unchanged: the cached version, not a new read
  });

  test('config: publishes racing on two handles get distinct versions, and each audit entry names its own', async () => {
    pair = await open();
    const stores = [configStore(pair.a), configStore(pair.b)];
    const n = 12;
    const published = await race(
      dialect,
      Array.from({ length: n }, (_, i) => () => stores[i % 2]!.publish(version(i))),
    );
    const versions = published.map((p) => p.version);
    expect(new Set(versions).size).toBe(n);
    const audit = await stores[0]!.audit();
    expect(audit).toHaveLength(n);
    // Each entry's version is the one its publish returned, with that publish's summary.
    const named = new Map(audit.map((e) => [Number(/^version (\d+):/.exec(e.detail)![1]), e.detail]));
    for (const p of published) expect(named.get(p.version)).toBe(`version ${p.version}: ${p.summary}`);
    const stored = new Map((await stores[1]!.versions()).map((v) => [v.version, v.summary]));
    for (const p of published) expect(stored.get(p.version)).toBe(p.summary);
    expect((await stores[1]!.latest())?.version).toBe(Math.max(...versions));
  });

  test('progress: merges monotonically, tenant-wide entries are shared, an attestation stays with the state it set', async () => {
    pair = await open();
    const p = progressStore(pair.a);
    const t0 = new Date(Date.now() - 2 * HOUR).toISOString();
    const t1 = new Date(Date.now() - HOUR).toISOString();
    await p.merge('acme', 'ada', [
      { scope: 'user', kind: 'checklist', ref: 'onboarding/sso', state: 'completed', updatedAt: t1, data: { attested: { by: 'ada' } } },
      { scope: 'tenant', kind: 'checklist', ref: 'onboarding/billing', state: 'started', updatedAt: t0 },
      { scope: 'user', kind: 'recipe', ref: 'tour', state: 'started', updatedAt: t0, data: { step: 3 } },
    ]);
    // An older device syncs later: nothing moves backwards; the step only advances.
    const merged = await p.merge('acme', 'ada', [
      { scope: 'user', kind: 'checklist', ref: 'onboarding/sso', state: 'started', updatedAt: t0 },
      { scope: 'user', kind: 'recipe', ref: 'tour', state: 'started', updatedAt: t1, data: { step: 1 } },
    ]);
    expect(merged.map((e) => [e.scope, e.kind, e.ref, e.state])).toEqual([
      ['tenant', 'checklist', 'onboarding/billing', 'started'],
      ['user', 'checklist', 'onboarding/sso', 'completed'],
      ['user', 'recipe', 'tour', 'started'],
    ]);
    expect(merged.find((e) => e.ref === 'onboarding/sso')).toMatchObject({ completedAt: t1, data: { attested: { by: 'ada' } } });
    expect(merged.find((e) => e.ref === 'tour')!.data).toEqual({ step: 3 });
    // Another user of the tenant sees the tenant-wide entry only; another tenant sees nothing.
    expect((await p.get('acme', 'bo')).map((e) => e.ref)).toEqual(['onboarding/billing']);
    expect(await p.get('globex', 'ada')).toEqual([]);
  });

  test('progress: merges racing on two handles lose no step (the highest state wins whatever the order)', async () => {
    pair = await open();
    const stores = [progressStore(pair.a), progressStore(pair.b)];
    const at = new Date().toISOString();
    const entry = (ref: string, state: 'started' | 'completed') => ({ scope: 'tenant' as const, kind: 'checklist' as const, ref, state, updatedAt: at });
    const refs = Array.from({ length: 10 }, (_, i) => `c/item${i}`);
    await race(
      dialect,
      refs.flatMap((ref, i) => [
        () => stores[i % 2]!.merge('acme', 'ada', [entry(ref, 'completed')]),
        () => stores[(i + 1) % 2]!.merge('acme', 'bo', [entry(ref, 'started')]),
      ]),
    );
    const got = await stores[0]!.get('acme', 'ada');
    expect(got.map((e) => [e.ref, e.state])).toEqual(refs.map((r) => [r, 'completed']));
  });

  test('facts: verified events only; active users per window, the latest state per integration, datasets, events in 7 days', async () => {
    pair = await open();
    const k = pair.a;
    const now = Date.now();
    const ago = (d: number) => new Date(now - d * DAY).toISOString();
    const integration = (name: string, state: string, d: number, trust: 'verified' | 'unverified' = 'verified') => ({
      type: 'track' as const,
      event: 'integration.state',
      groupId: 'acme',
      userId: 'ada',
      timestamp: ago(d),
      trust,
      properties: { integration: name, state },
    });
    await insertRows(k, [
      { type: 'track', event: 'feature.used', groupId: 'acme', userId: 'ada', timestamp: ago(1), properties: { feature: 'dataset.ingest' } },
      { type: 'track', event: 'feature.used', groupId: 'acme', anonymousId: 'anon-1', timestamp: ago(2), properties: { feature: 'reports' } },
      { type: 'track', event: 'feature.used', groupId: 'acme', userId: 'bo', timestamp: ago(20), properties: { feature: 'dataset.ingest' } },
      {
        type: 'track',
        event: 'feature.used',
        groupId: 'acme',
        userId: 'eve',
        timestamp: ago(1),
        trust: 'unverified',
        properties: { feature: 'dataset.ingest' },
      },
      { type: 'page', event: 'home', groupId: 'acme', userId: 'cy', timestamp: ago(1) }, // not a track: not an active user
      integration('sso', 'connected', 5),
      integration('sso', 'disconnected', 3),
      integration('sso', 'connected', 2),
      integration('slack', 'connected', 4),
      integration('slack', 'disconnected', 1),
      integration('jira', 'connected', 1, 'unverified'),
      { type: 'track', event: 'feature.used', groupId: 'globex', userId: 'gil', timestamp: ago(1), properties: { feature: 'dataset.ingest' } },
    ]);
    expect(await factsStore(k).tenantFacts('acme', now)).toEqual({
      active_users_7d: 2, // ada, anon-1 (eve is unverified, cy sent a page)
      active_users_30d: 3, // and bo
      integrations_connected: 1, // sso (reconnected); slack disconnected last; jira unverified
      datasets_ingested: 2,
      events_7d: 8, // ada's 1 + anon-1 + cy's page + the 5 verified integration states in the week
    });
    expect(await factsStore(k).tenantFacts('nobody', now)).toEqual({
      active_users_7d: 0,
      active_users_30d: 0,
      integrations_connected: 0,
      datasets_ingested: 0,
      events_7d: 0,
    });
  });
});
