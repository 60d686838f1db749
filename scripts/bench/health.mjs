// Health recompute cost: 10,000 tenants × 30 days of events in a store (`open`: SQLite in a temp
// dir by default, or PostgreSQL in a fresh schema, see stores.mjs), then every tenant's report
// (metrics from SQL, scoring, snapshot) computed once, timed.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { validateConfigText } from '../../packages/sdk-core/dist/authoring.js';
import { publishBenchConfig, STORES } from './stores.mjs';

const DAY = 86_400_000;

export async function measureHealthRecompute({ tenants = 10_000, days = 30, eventsPerDay = 6, log = () => {}, open = STORES.sqlite } = {}) {
  const { store, label, cleanup } = await open();
  try {
    return await recompute(store, label, { tenants, days, eventsPerDay, log });
  } finally {
    await store.close().catch(() => undefined);
    await cleanup();
  }
}

async function recompute(store, label, { tenants, days, eventsPerDay, log }) {
  const config = validateConfigText(readFileSync(new URL('../../packages/sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config;
  await publishBenchConfig(store, config);
  const now = Date.now();
  const kinds = [
    ['track', 'feature.used', (i) => ({ properties: { feature: `f${i % 7}` } })],
    ['track', 'user.session', () => ({ properties: { action: 'start' } })],
    ['track', 'error.raised', () => ({ properties: { message: 'boom' } })],
    ['track', 'ticket.created', () => ({ properties: {} })],
    ['track', 'csat.submitted', (i) => ({ properties: { score: 3 + (i % 3) } })],
    ['track', 'billing.invoice', (i) => ({ properties: { invoice: `inv-${i % 4}`, status: i % 11 ? 'paid' : 'overdue' } })],
  ];
  let total = 0;
  let rows = [];
  const flush = async () => {
    await store.insert(rows);
    total += rows.length;
    rows = [];
  };
  const seed0 = performance.now();
  for (let t = 0; t < tenants; t++) {
    const groupId = `tenant-${t}`;
    const push = (type, event, userId, ts, body) =>
      rows.push({
        writeKey: 'bench',
        messageId: randomUUID(),
        type,
        event,
        userId,
        anonymousId: null,
        groupId,
        timestamp: new Date(ts).toISOString(),
        originalTimestamp: null,
        sentAt: null,
        receivedAt: new Date(ts).toISOString(),
        payload: JSON.stringify(body),
      });
    push('group', null, `u-${t}-0`, now - days * DAY, { traits: { seats: 20, plan_features: ['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7'] } });
    for (let d = 0; d < days; d++) {
      for (let e = 0; e < eventsPerDay; e++) {
        const [type, event, body] = kinds[(t + d + e) % kinds.length];
        push(type, event, `u-${t}-${(d + e) % 9}`, now - d * DAY - e * 60_000, body(t + d + e));
      }
    }
    if (rows.length >= 5000) await flush();
    if (t % 2000 === 1999) log(`  health (${label}): stored ${total.toLocaleString('en-US')} events for ${t + 1} tenants`);
  }
  await flush();
  const seedMs = performance.now() - seed0;
  const t0 = performance.now();
  let bands = { healthy: 0, watch: 0, 'at-risk': 0 };
  for (let t = 0; t < tenants; t++) {
    const r = await store.health.report(`tenant-${t}`, now);
    bands[r.band]++;
  }
  const ms = performance.now() - t0;
  return { store: label, tenants, days, events: total, seedMs, totalMs: ms, perTenantMs: ms / tenants, bands };
}
