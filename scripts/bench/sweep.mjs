// The alert sweep: 10,000 tenants in a store (`open`: SQLite in a temp dir by default, or
// PostgreSQL in a fresh schema, see stores.mjs), each with two weeks of events and some onboarding
// progress (a share of them quiet for days, so time-based alerts fire), then one full sweep (every
// tenant's metrics, score, snapshot, lifecycle and alerts) timed, cold and again.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { validateConfigText } from '../../packages/sdk-core/dist/authoring.js';
import { openStore } from '../../packages/ingest/dist/index.js';
import { publishBenchConfig, STORES } from './stores.mjs';

const DAY = 86_400_000;

/** `keepDir`: a SQLite data dir to fill and keep (for profiling the sweep afterwards); it overrides `open`. */
export async function measureSweep({ tenants = 10_000, days = 14, eventsPerDay = 2, log = () => {}, instrument, keepDir, open = STORES.sqlite } = {}) {
  const opened = keepDir ? { store: await openStore({ dataDir: keepDir }), label: 'SQLite', cleanup: () => undefined } : await open();
  const { store, label, cleanup } = opened;
  try {
    return await sweepOf(store, label, { tenants, days, eventsPerDay, log, instrument });
  } finally {
    await store.close().catch(() => undefined);
    await cleanup();
  }
}

async function sweepOf(store, label, { tenants, days, eventsPerDay, log, instrument }) {
  const config = validateConfigText(readFileSync(new URL('../../packages/sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config;
  await publishBenchConfig(store, config);
  const now = Date.now();
  const kinds = [
    ['feature.used', (i) => ({ properties: { feature: `f${i % 7}` } })],
    ['user.session', () => ({ properties: { action: 'start' } })],
    ['error.raised', () => ({ properties: { message: 'boom' } })],
    ['billing.invoice', (i) => ({ properties: { invoice: `inv-${i % 3}`, status: i % 13 ? 'paid' : 'overdue' } })],
  ];
  let total = 0;
  let rows = [];
  const flush = async () => {
    await store.insert(rows);
    total += rows.length;
    rows = [];
  };
  for (let t = 0; t < tenants; t++) {
    const groupId = `tenant-${t}`;
    // A third of the tenants went quiet 4 days ago: no event since.
    const quietDays = t % 3 === 0 ? 4 : 0;
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
    push('group', null, `u-${t}-0`, now - days * DAY, { traits: { seats: 10, plan_features: ['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7'] } });
    if (t % 10 === 0) push('identify', null, `u-${t}-0`, now - days * DAY, { traits: { role: 'sponsor' } });
    for (let d = quietDays; d < days; d++) {
      for (let e = 0; e < eventsPerDay; e++) {
        const [event, body] = kinds[(t + d + e) % kinds.length];
        push('track', event, `u-${t}-${(d + e) % 5}`, now - d * DAY - e * 60_000, body(t + d + e));
      }
    }
    await store.progress.merge(groupId, `u-${t}-0`, [
      { scope: 'user', kind: 'checklist', ref: 'onboarding/sso', state: 'completed', updatedAt: new Date(now - (quietDays + 1) * DAY).toISOString() },
    ]);
    if (rows.length >= 5000) await flush();
    if (t % 2000 === 1999) log(`  sweep (${label}): stored ${total.toLocaleString('en-US')} events for ${t + 1} tenants`);
  }
  await flush();
  instrument?.(store);
  const evaluator = store.startEvaluator({ intervalMs: 3_600_000, sweepMs: 3_600_000, sweepOnStart: false });
  // CPU time besides wall time: on a shared machine the wall clock also counts other processes' turns.
  const timed = async (at) => {
    const cpu = process.cpuUsage();
    const r = await evaluator.sweep(at);
    const d = process.cpuUsage(cpu);
    return { ...r, cpuMs: (d.user + d.system) / 1000 };
  };
  const first = await timed(now);
  const second = await timed(now + 60_000);
  evaluator.stop();
  return { store: label, tenants, days, events: total, first, second };
}
