import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigText } from '@keel/sdk-core/authoring';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../store/sqlite.js';
import type { StoredEvent } from '../store/types.js';

const ACME = validateConfigText(readFileSync(new URL('../../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config!;
const SECRET = 'whsec_test';
const HOUR = 3_600_000;

// A real local receiver: records each delivery with its headers.
let receiver: Server;
let receiverUrl = '';
const received: { path: string; headers: Record<string, string | string[] | undefined>; body: string }[] = [];
beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => receiver.close(() => r())));

let store: SqliteStore;
async function open(): Promise<SqliteStore> {
  store = openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-alerts-')), {
    alerts: { webhooks: [{ url: `${receiverUrl}/keel` }, { url: `${receiverUrl}/slack`, format: 'slack' }], webhookSecret: SECRET },
  });
  await store.config.publish({ document: JSON.stringify(ACME), hash: 'h', publishedAt: new Date().toISOString(), publishedBy: 't', summary: 'first version' });
  received.length = 0;
  return store;
}
afterEach(() => store?.close());

let n = 0;
const ev = (groupId: string, event: string, properties: Record<string, unknown>, hoursAgo = 1): StoredEvent => {
  const ts = new Date(Date.now() - hoursAgo * HOUR).toISOString();
  return { writeKey: 'wk', messageId: `a${++n}`, type: 'track', event, userId: 'u1', anonymousId: null, groupId, timestamp: ts, originalTimestamp: null, sentAt: null, receivedAt: ts, payload: JSON.stringify({ properties }) };
};

/** What a receiver does to trust a delivery. */
function verify(body: string, header: string) {
  const { t, v1 } = Object.fromEntries(header.split(',').map((kv) => kv.split('='))) as { t: string; v1: string };
  return createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex') === v1;
}

test('an unpaid invoice fires once, signed, to every webhook; not again within the cooldown; again after it', async () => {
  await open();
  await store.insert([ev('acme', 'billing.invoice', { invoice: 'inv-1', status: 'overdue' })]);
  const fired = await store.alerts.evaluate('acme');
  expect(fired.map((f) => f.alert)).toEqual(['unpaid-invoice']); // first seen an hour ago: not stalled yet
  const unpaid = fired[0]!;
  expect(unpaid.notify).toEqual(['finance', 'csm']);
  expect(unpaid.deliveries).toEqual([{ url: `${receiverUrl}/keel`, status: 200 }, { url: `${receiverUrl}/slack`, status: 200 }]);
  const json = received.find((r) => r.path === '/keel' && r.body.includes('unpaid-invoice'))!;
  expect(verify(json.body, json.headers['keel-signature'] as string)).toBe(true);
  expect(verify(`${json.body} `, json.headers['keel-signature'] as string)).toBe(false); // a tampered body fails
  expect(JSON.parse(json.body)).toMatchObject({ type: 'keel.alert', alert: 'unpaid-invoice', tenant: 'acme', notify: ['finance', 'csm'] });
  expect(json.headers['keel-event-id']).toBe(unpaid.id);
  const slack = received.find((r) => r.path === '/slack' && r.body.includes('unpaid-invoice'))!;
  expect(JSON.parse(slack.body).text).toContain('*unpaid-invoice* for *acme*');

  const count = received.length;
  expect(await store.alerts.evaluate('acme', Date.now() + HOUR)).toEqual([]);
  expect(received.length).toBe(count);
  const later = await store.alerts.evaluate('acme', Date.now() + 25 * HOUR);
  expect(later.map((f) => f.alert)).toContain('unpaid-invoice');
  expect((await store.alerts.list('acme')).map((a) => a.alert).filter((a) => a === 'unpaid-invoice')).toHaveLength(2);
});

test('onboarding stalled: no checklist progress for 72 h fires; recent progress does not', async () => {
  await open();
  await store.insert([ev('fresh', 'feature.used', {}, 1), ev('stalled', 'feature.used', {}, 1)]);
  await store.progress.merge('fresh', 'u1', [{ scope: 'user', kind: 'checklist', ref: 'onboarding/sso', state: 'completed', updatedAt: new Date(Date.now() - 2 * HOUR).toISOString() }]);
  await store.progress.merge('stalled', 'u1', [{ scope: 'user', kind: 'checklist', ref: 'onboarding/sso', state: 'completed', updatedAt: new Date(Date.now() - 80 * HOUR).toISOString() }]);
  expect((await store.alerts.evaluate('fresh')).map((f) => f.alert)).not.toContain('onboarding-stalled');
  const stalled = (await store.alerts.evaluate('stalled')).find((f) => f.alert === 'onboarding-stalled')!;
  expect(stalled.detail.explanation).toMatchObject({ ok: true, actual: 80 });
});

test('an error rate above the cohort\'s p95 fires for that tenant only', async () => {
  await open();
  const rows: StoredEvent[] = [];
  for (let t = 0; t < 20; t++) {
    const g = `t${t}`;
    for (let s = 0; s < 10; s++) rows.push(ev(g, 'user.session', { action: 'start' }));
    rows.push(ev(g, 'error.raised', {}));
  }
  rows.push(...Array.from({ length: 10 }, () => ev('spiky', 'user.session', { action: 'start' })), ...Array.from({ length: 40 }, () => ev('spiky', 'error.raised', {})));
  await store.insert(rows);
  const spike = (await store.alerts.evaluate('spiky')).find((f) => f.alert === 'error-spike')!;
  expect(spike.detail).toEqual({ metric: 'errors_per_session_1d', value: 4, cohortP95: 0.1, cohortSize: 20 });
  expect((await store.alerts.evaluate('t3')).map((f) => f.alert)).not.toContain('error-spike');
});

test('a healthy tenant fires no alert', async () => {
  await open();
  const rows: StoredEvent[] = [];
  for (let t = 0; t < 5; t++) for (let s = 0; s < 10; s++) rows.push(ev(`peer${t}`, 'user.session', { action: 'start' }));
  rows.push(...Array.from({ length: 10 }, () => ev('healthy', 'user.session', { action: 'start' })), ev('healthy', 'billing.invoice', { invoice: 'inv-1', status: 'paid' }));
  await store.insert(rows);
  await store.progress.merge('healthy', 'u1', [{ scope: 'user', kind: 'checklist', ref: 'onboarding/sso', state: 'completed', updatedAt: new Date().toISOString() }]);
  expect(await store.alerts.evaluate('healthy')).toEqual([]);
  expect(received).toEqual([]);
});
