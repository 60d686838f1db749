// Two stateless `keel serve` nodes share one PostgreSQL schema, as behind a load balancer. Under
// load from senders that retry as the SDK does (same message ids, the other node on a network
// error or a 5xx), one node is SIGKILLed mid-run and restarted: every acknowledged event is
// stored, every sent event arrives, none twice. Both nodes sweep every 200 ms, and an alert that
// both could fire is delivered once.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { signUserToken } from '../../packages/ingest/dist/index.js';
import { freePort, IngestProcess, keelCli, postgresSchema, waitFor, WRITE_KEY } from './harness.js';

const FIXTURE = new URL('../../packages/sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url).pathname;
const ADMIN = 'e2e-admin';
const SECRET = 'e2e-secret';
const HOUR = 3_600_000;
const auth = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;

let db: Awaited<ReturnType<typeof postgresSchema>>;
let nodes: IngestProcess[] = [];
let receiver: Server;
const received: string[] = [];
const clockFile = join(mkdtempSync(join(tmpdir(), 'keel-e2e-clock-')), 'offset-ms');

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      received.push(body);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
  writeFileSync(clockFile, '0');
  db = await postgresSchema();
  const flags = ['--admin-key', ADMIN, '--secret-key', SECRET, '--webhook', hook, '--sweep-interval', '200ms', '--rate-limit-ip', '0', '--rate-limit-key', '0'];
  nodes = [
    new IngestProcess(await freePort(), 'http://127.0.0.1', flags, { KEEL_TEST_CLOCK_FILE: clockFile }, db),
    new IngestProcess(await freePort(), 'http://127.0.0.1', flags, { KEEL_TEST_CLOCK_FILE: clockFile }, db),
  ];
  // One after the other: the first migrates the schema, the second finds it migrated.
  for (const n of nodes) await n.start();
}, 60_000);

afterAll(async () => {
  for (const n of nodes) await n.stop();
  await new Promise<void>((r) => receiver.close(() => r()));
  await db?.drop();
});

/** One batch to one node: true once the node acknowledged it (200). */
async function send(node: IngestProcess, batch: unknown[]): Promise<boolean> {
  try {
    const r = await fetch(`${node.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth },
      body: JSON.stringify({ batch }),
      signal: AbortSignal.timeout(5_000),
    });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false; // connection refused or reset: the node is down
  }
}

test('one of two nodes SIGKILLed under load and restarted: acknowledged = stored, every event arrives once', async () => {
  const SENDERS = 4;
  const BATCHES = 25;
  const PER_BATCH = 40;
  const acknowledged = new Set<string>();
  let attempts = 0;
  let failures = 0;
  let sent = 0;
  const now = new Date().toISOString();
  const sender = async (s: number) => {
    for (let b = 0; b < BATCHES; b++) {
      const batch = Array.from({ length: PER_BATCH }, (_, i) => ({
        type: 'track',
        event: 'load.tested',
        messageId: `s${s}-b${b}-e${i}`,
        timestamp: now,
        userId: `u${s}`,
        context: { groupId: `t${s % 2}` },
        properties: { i },
      }));
      // Round robin; after a failure the same batch (same ids) goes to the other node, as the SDK retries.
      let n = (s + b) % 2;
      for (let tries = 0; ; tries++) {
        attempts++;
        if (await send(nodes[n]!, batch)) break;
        failures++;
        if (tries > 200) throw new Error(`batch s${s}-b${b} was never acknowledged`);
        n = 1 - n;
        await new Promise((r) => setTimeout(r, 20 + 10 * Math.min(tries, 10)));
      }
      for (const m of batch) acknowledged.add(m.messageId);
      sent++;
    }
  };
  const load = Promise.all(Array.from({ length: SENDERS }, (_, s) => sender(s)));
  // Mid-run: kill node 0 without warning, then bring it back on the same port.
  await waitFor(
    () => sent,
    (n) => n >= (SENDERS * BATCHES) / 3,
    30_000,
  );
  await nodes[0]!.kill();
  const killedAt = sent;
  await new Promise((r) => setTimeout(r, 500));
  await nodes[0]!.start();
  await load;

  const total = SENDERS * BATCHES * PER_BATCH;
  expect(killedAt).toBeLessThan(SENDERS * BATCHES); // the kill happened under load
  expect(acknowledged.size).toBe(total);
  const stored = await db.query<{ message_id: string }>('SELECT message_id FROM events WHERE write_key = $1', [WRITE_KEY]);
  const ids = stored.map((r) => r.message_id);
  expect(new Set(ids).size).toBe(ids.length); // 0 duplicates
  expect(ids.length).toBe(total);
  const storedIds = new Set(ids);
  expect([...acknowledged].filter((id) => !storedIds.has(id))).toEqual([]); // acknowledged ⊆ stored
  console.log(`multi-node: ${total} events, ${attempts} attempts, ${failures} refused or failed while a node was down, 0 duplicates`);
}, 120_000);

test('both nodes sweep every 200 ms; an alert either could fire is delivered once', async () => {
  expect((await keelCli(['config', 'publish', FIXTURE], { KEEL_URL: nodes[1]!.url, KEEL_ADMIN_KEY: ADMIN })).code).toBe(0);
  const now = new Date().toISOString();
  const token = signUserToken({ sub: 'ada', tenant: 'quiet-co', role: 'admin' }, SECRET);
  const message = (m: Record<string, unknown>, i: number) => ({
    messageId: `quiet-${i}`,
    timestamp: now,
    userId: 'ada',
    context: { groupId: 'quiet-co' },
    ...m,
  });
  const r = await fetch(`${nodes[0]!.url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: auth },
    body: JSON.stringify({
      batch: [
        message({ type: 'group', groupId: 'quiet-co', traits: { seats: 10 } }, 1),
        message({ type: 'track', event: 'feature.used', properties: { feature: 'sso.configured' } }, 2),
      ],
      userToken: token,
    }),
  });
  expect(r.status).toBe(200);
  const health = () =>
    fetch(`${nodes[1]!.url}/v1/tenants/quiet-co/health`, { headers: { authorization: `Bearer ${ADMIN}` } }).then(
      (x) => x.json() as Promise<{ trend?: { history: unknown[] } }>,
    );
  await waitFor(health, (h) => (h.trend?.history.length ?? 0) > 0, 15_000);
  const stalled = () => received.filter((b) => (JSON.parse(b) as { alert?: string; tenant?: string }).alert === 'onboarding-stalled' && b.includes('quiet-co'));
  expect(stalled()).toEqual([]);
  writeFileSync(clockFile, String(73 * HOUR));
  await waitFor(
    () => stalled().length,
    (n) => n > 0,
    15_000,
  );
  // Many more sweeps on both nodes (≥ 5 each at 200 ms): still one delivery.
  await new Promise((r) => setTimeout(r, 1_500));
  expect(stalled()).toHaveLength(1);
  const rows = await db.query<{ n: string }>(`SELECT COUNT(*) AS n FROM alerts WHERE tenant_id = 'quiet-co' AND alert = 'onboarding-stalled'`);
  expect(Number(rows[0]!.n)).toBe(1);
}, 60_000);
