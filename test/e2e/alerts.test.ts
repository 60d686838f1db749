// A tenant goes quiet after partial onboarding. The real `keel serve` (built CLI) sweeps every
// tenant every 200 ms; a test clock (KEEL_TEST_CLOCK_FILE, read by the sweep) moves time 73 hours
// on, and the "onboarding stalled" alert reaches a real HTTP receiver once, signed, carrying the
// tenant's lifecycle state and what it allows. No sleeping through 72 hours.
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { signUserToken } from '../../packages/ingest/dist/index.js';
import { freePort, IngestProcess, keelCli, waitFor, WRITE_KEY } from './harness.js';

const FIXTURE = new URL('../../packages/sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url).pathname;
const ADMIN = 'e2e-admin';
const SECRET = 'e2e-secret';
const WEBHOOK_SECRET = 'whsec_e2e';
const HOUR = 3_600_000;

const received: { headers: IncomingHttpHeaders; body: string }[] = [];
let receiver: Server;
let ingest: IngestProcess;
const clockFile = join(mkdtempSync(join(tmpdir(), 'keel-e2e-clock-')), 'offset-ms');

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/keel-alerts`;
  writeFileSync(clockFile, '0');
  ingest = new IngestProcess(
    await freePort(),
    'http://127.0.0.1',
    ['--admin-key', ADMIN, '--secret-key', SECRET, '--webhook', hook, '--webhook-secret', WEBHOOK_SECRET, '--sweep-interval', '200ms'],
    { KEEL_TEST_CLOCK_FILE: clockFile },
  );
  await ingest.start();
}, 30_000);

afterAll(async () => {
  await ingest?.stop();
  await new Promise<void>((r) => receiver.close(() => r()));
});

/** What a receiver does before trusting a delivery: recompute the HMAC of "t.body". */
function verified(body: string, header: string | undefined): boolean {
  const parts = Object.fromEntries((header ?? '').split(',').map((kv) => kv.split('='))) as { t?: string; v1?: string };
  if (!parts.t || !parts.v1) return false;
  return createHmac('sha256', WEBHOOK_SECRET).update(`${parts.t}.${body}`).digest('hex') === parts.v1;
}

const stalled = () => received.filter((r) => (JSON.parse(r.body) as { alert?: string }).alert === 'onboarding-stalled');

test('a quiet tenant with a stalled onboarding: the sweep fires the alert once, signed, to a real receiver', async () => {
  expect((await keelCli(['config', 'publish', FIXTURE], { KEEL_URL: ingest.url, KEEL_ADMIN_KEY: ADMIN })).code).toBe(0);

  // Partial onboarding: the tenant shows up, uses a feature, and completes one checklist item of three.
  const now = new Date().toISOString();
  const message = (m: Record<string, unknown>, i: number) => ({
    messageId: `quiet-${i}`,
    timestamp: now,
    userId: 'ada',
    context: { groupId: 'quiet-co' },
    ...m,
  });
  // The page's user token rides in the batch (as the SDK sends it): its events are verified, which proofs and facts count.
  const token = signUserToken({ sub: 'ada', tenant: 'quiet-co', role: 'admin' }, SECRET);
  const batch = await fetch(`${ingest.url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}` },
    body: JSON.stringify({
      batch: [
        message({ type: 'group', groupId: 'quiet-co', traits: { seats: 10 } }, 1),
        message({ type: 'track', event: 'feature.used', properties: { feature: 'sso.configured' } }, 2),
      ],
      userToken: token,
    }),
  });
  expect(batch.status).toBe(200);
  const put = await fetch(`${ingest.url}/v1/progress`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ entries: [{ scope: 'user', kind: 'checklist', ref: 'onboarding/sso', state: 'completed', updatedAt: now }] }),
  });
  expect(put.status).toBe(200);

  // Sweeps run (their snapshot shows on the health report) and nothing is stalled yet.
  const health = () =>
    fetch(`${ingest.url}/v1/tenants/quiet-co/health`, { headers: { authorization: `Bearer ${ADMIN}` } }).then(
      (r) => r.json() as Promise<{ trend: { history: unknown[] } }>,
    );
  await waitFor(health, (h) => h.trend.history.length > 0, 10_000);
  expect(stalled()).toEqual([]);

  // 73 hours later, with no new event from the tenant.
  writeFileSync(clockFile, String(73 * HOUR));
  await waitFor(
    () => stalled().length,
    (n) => n > 0,
    10_000,
  );
  // More sweeps run (≥ 5 at 200 ms) inside the 24 h cooldown: still one delivery.
  await new Promise((r) => setTimeout(r, 1_200));
  const deliveries = stalled();
  expect(deliveries).toHaveLength(1);
  const [d] = deliveries;
  expect(verified(d!.body, d!.headers['keel-signature'] as string)).toBe(true);
  expect(verified(d!.body.replace('quiet-co', 'other-co'), d!.headers['keel-signature'] as string)).toBe(false);
  const body = JSON.parse(d!.body) as Record<string, unknown>;
  expect(body).toMatchObject({
    type: 'keel.alert',
    alert: 'onboarding-stalled',
    tenant: 'quiet-co',
    notify: ['onboarding'],
    detail: { explanation: { ok: true, actual: 73 } },
    lifecycle: { state: 'onboarding', owner: 'onboarding', allows: ['checklist:onboarding', 'recipe:*', 'nudge:*'] },
  });
  expect(d!.headers['keel-event-id']).toBe(body.id);
}, 40_000);
