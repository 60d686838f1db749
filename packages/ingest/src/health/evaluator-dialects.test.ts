// The evaluator on a KeelDb, on both dialects (changed tenants since the cursor, every known tenant
// on a sweep), and on PostgreSQL as several nodes: every pass runs under the "evaluate" job lock,
// its cursor kept in the job's row, so passes on two nodes evaluate each tenant once and deliver
// each alert once.
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigText } from '@keel/sdk-core/authoring';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { type KeelDb, postgresKeelDb, quoteIdent } from '../store/db.js';
import { runExclusive } from '../store/jobs.js';
import { migrateToLatest } from '../store/migrations.js';
import { openDatabase } from '../store/sqlite.js';
import { configStore, factsStore } from '../store/state.js';
import { testSchema } from '../test-support/pg.js';
import { insertRows, type TestRow } from '../test-support/rows.js';
import { alertService } from './alerts.js';
import { startEvaluator } from './evaluator.js';
import { lifecycleService } from './lifecycle.js';
import { healthService } from './service.js';

const ACME = validateConfigText(readFileSync(new URL('../../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config!;

// A real local receiver: every delivery, by path.
let receiver: Server;
let receiverUrl = '';
const received: { path: string; body: { alert?: string; tenant?: string } }[] = [];
beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(body) as { alert?: string; tenant?: string } });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => receiver.close(() => r())));
const unpaidAt = (path: string) =>
  received
    .filter((r) => r.path === path && r.body.alert === 'unpaid-invoice')
    .map((r) => r.body.tenant!)
    .sort();

const overdue = (groupId: string): TestRow => ({
  type: 'track',
  event: 'billing.invoice',
  userId: 'u1',
  groupId,
  timestamp: new Date(Date.now() - 60_000).toISOString(),
  properties: { invoice: `inv-${groupId}`, status: 'overdue' },
});
const seen = (groupId: string): TestRow => ({
  type: 'track',
  event: 'feature.used',
  userId: 'u1',
  groupId,
  timestamp: new Date(Date.now() - 60_000).toISOString(),
  properties: {},
});

/** One node: the services and an evaluator on its KeelDb (timers far off: passes are called directly). */
function node(k: KeelDb, path: string, name: string) {
  const config = configStore(k);
  const health = healthService(k, config);
  const lifecycle = lifecycleService(k, config, health, factsStore(k));
  const alerts = alertService(k, config, health, lifecycle, { webhooks: [{ url: `${receiverUrl}${path}` }] });
  return {
    alerts,
    evaluator: startEvaluator(k, { health, lifecycle, alerts }, { intervalMs: 3_600_000, sweepMs: 3_600_000, sweepOnStart: false, node: name }),
  };
}
const publish = (k: KeelDb) =>
  configStore(k).publish({ document: JSON.stringify(ACME), hash: 'h', publishedAt: new Date().toISOString(), publishedBy: 't', summary: 'acme' });
const jobRow = (k: KeelDb) => k.db.selectFrom('keel_jobs').selectAll().where('name', '=', 'evaluate').executeTakeFirst();

const dialects: [string, () => Promise<KeelDb>][] = [
  ['sqlite', () => openDatabase(join(mkdtempSync(join(tmpdir(), 'keel-ev-')), 'keel.db'))],
  [
    'postgres',
    async () => {
      const s = await testSchema();
      const k = await postgresKeelDb({ url: s.url, schema: s.schema, max: 4 });
      await migrateToLatest(k);
      return { ...k, close: async () => void (await k.close(), await s.drop()) };
    },
  ],
];

describe.each(dialects)('the evaluator on %s', (dialect, open) => {
  let k: KeelDb | undefined;
  let stop: () => Promise<void> = async () => {};
  afterEach(async () => {
    await stop();
    await k?.close();
    k = undefined;
  });

  test('incremental passes evaluate the tenants with events since the cursor (kept in the job row); a sweep every known tenant', async () => {
    k = await open();
    await publish(k);
    const path = `/single-${dialect}`;
    const { evaluator, alerts } = node(k, path, 'n1');
    stop = evaluator.stop;
    expect(await evaluator.runOnce()).toBe(0);
    await insertRows(k, [overdue('a'), seen('b'), { type: 'track', event: 'feature.used', userId: 'x', groupId: null }]);
    expect(await evaluator.pass()).toMatchObject({ tenants: 2, alerts: 1 });
    expect(unpaidAt(path)).toEqual(['a']);
    expect(await evaluator.runOnce()).toBe(0); // nothing new
    const row = await jobRow(k);
    const max = await k.db
      .selectFrom('events')
      .select((eb) => eb.fn.max('rowid').as('m'))
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ last_node: 'n1' });
    expect(JSON.parse(row!.state!)).toMatchObject({ rowid: Number(max.m) });
    await insertRows(k, [seen('b'), overdue('c')]);
    expect(await evaluator.runOnce()).toBe(2);
    expect(unpaidAt(path)).toEqual(['a', 'c']);
    // A sweep: every tenant with an attributed event; the alerts are in their cooldown.
    expect(await evaluator.sweep()).toMatchObject({ tenants: 3, alerts: 0 });
    const snaps = await k.db.selectFrom('health_snapshots').select('tenant_id').orderBy('tenant_id').execute();
    expect(snaps.map((r) => r.tenant_id)).toEqual(['a', 'b', 'c']);
    expect((await alerts.list('a')).map((x) => x.alert)).toEqual(['unpaid-invoice']);
    expect(JSON.parse((await jobRow(k))!.state!)).toMatchObject({ sweptAt: expect.any(String) });
  });
});

describe('the evaluator on PostgreSQL, two nodes on one schema', () => {
  let a: KeelDb;
  let b: KeelDb;
  let schema: Awaited<ReturnType<typeof testSchema>>;
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((s) => s()));
    await a.close();
    await b.close();
    await schema.drop();
  });
  const two = async () => {
    schema = await testSchema();
    a = await postgresKeelDb({ url: schema.url, schema: schema.schema, max: 4 });
    await migrateToLatest(a);
    b = await postgresKeelDb({ url: schema.url, schema: schema.schema, max: 4 });
    await publish(a);
  };

  test('passes racing on two nodes evaluate each tenant once and store and deliver each alert once; the cursor moves between nodes; sweeps too', async () => {
    await two();
    const path = '/two-nodes';
    const one = node(a, path, 'node-a');
    const other = node(b, path, 'node-b');
    stops.push(one.evaluator.stop, other.evaluator.stop);
    const tenants = Array.from({ length: 12 }, (_, i) => `t${i}`);
    await insertRows(a, tenants.map(overdue));
    const [x, y] = await Promise.all([one.evaluator.pass(), other.evaluator.pass()]);
    // One node ran the pass; the other skipped it (locked), or ran after it with nothing left.
    expect(x.tenants + y.tenants).toBe(tenants.length);
    expect(x.alerts + y.alerts).toBe(tenants.length); // counted right while tenants are evaluated several at once
    expect(unpaidAt(path)).toEqual([...tenants].sort());
    const stored = await a.db.selectFrom('alerts').select(['tenant_id', 'alert']).where('alert', '=', 'unpaid-invoice').execute();
    expect(stored.map((r) => r.tenant_id).sort()).toEqual([...tenants].sort());
    // New events for two tenants, evaluated on the other node: exactly those two (nothing skipped, nothing repeated).
    await insertRows(b, [seen('t3'), seen('t7')]);
    const ranOn = (await jobRow(a))!.last_node;
    const next = ranOn === 'node-a' ? other : one;
    expect(await next.evaluator.pass()).toMatchObject({ tenants: 2 });
    expect((await jobRow(a))!.last_node).toBe(ranOn === 'node-a' ? 'node-b' : 'node-a');
    expect(await (next === one ? other : one).evaluator.runOnce()).toBe(0);
    // Sweeps racing: every tenant once in all, no alert again (the cooldown), none delivered twice.
    const sweeps = await Promise.all([one.evaluator.sweep(), other.evaluator.sweep()]);
    expect(sweeps.filter((s) => !s.skipped).length).toBeGreaterThanOrEqual(1);
    expect(sweeps.reduce((n, s) => n + s.alerts, 0)).toBe(0);
    expect(received.filter((r) => r.path === path && r.body.alert === 'unpaid-invoice')).toHaveLength(tenants.length);
  });

  test('a pass waits for an insert in flight with a lower rowid than one already committed: its tenant is not skipped', async () => {
    await two();
    const { evaluator } = node(a, '/in-flight', 'node-a');
    stops.push(evaluator.stop);
    await insertRows(a, [seen('first')]);
    expect(await evaluator.runOnce()).toBe(1);
    const c = new pg.Client({ connectionString: schema.url });
    await c.connect();
    try {
      await c.query(`SET search_path TO ${quoteIdent(schema.schema)}`);
      await c.query('BEGIN');
      const ts = new Date().toISOString();
      await c.query(
        `INSERT INTO events (write_key, message_id, type, event, user_id, group_id, timestamp, received_at, payload) VALUES ('wk', 'late-1', 'track', 'feature.used', 'u1', 'late', $1, $1, '{}')`,
        [ts],
      );
      await insertRows(a, [seen('early')]); // a higher rowid, committed first
      const pass = evaluator.pass();
      await new Promise((r) => setTimeout(r, 300));
      await c.query('COMMIT');
      expect(await pass).toMatchObject({ tenants: 2 });
      expect(await evaluator.runOnce()).toBe(0);
    } finally {
      await c.end();
    }
  });

  test('runExclusive: while a node runs a job the other skips it; a run that throws saves nothing and frees the job', async () => {
    await two();
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const first = runExclusive(a, 'j', 'node-a', async (job) => {
      expect(job.state).toBeNull();
      await gate;
      job.save('s1');
      return 'a';
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(await runExclusive(b, 'j', 'node-b', async () => 'b')).toEqual({ ran: false });
    release();
    expect(await first).toEqual({ ran: true, value: 'a' });
    expect(await a.db.selectFrom('keel_jobs').select(['last_node', 'state']).where('name', '=', 'j').executeTakeFirst()).toEqual({
      last_node: 'node-a',
      state: 's1',
    });
    await expect(
      runExclusive(b, 'j', 'node-b', async (job) => {
        job.save('lost');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await runExclusive(b, 'j', 'node-b', async (job) => job.state)).toEqual({ ran: true, value: 's1' });
  });
});
