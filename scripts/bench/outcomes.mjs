// Outcomes cost: 1,000 tenants × 30 days of nudge exposures (shown, or held out by the server's
// own assignment), actions and goal events in a store (`open`: SQLite by default, or PostgreSQL,
// see stores.mjs), then GET /v1/admin/outcomes's computation timed: overall, and with a row per
// tenant. The true lift is known (goal 10% held out, 20% shown), so the run also says whether
// the computed interval contains it.
import { randomUUID } from 'node:crypto';
import { inHoldout } from '../../packages/sdk-core/dist/engine.js';
import { publishBenchConfig, STORES } from './stores.mjs';

const DAY = 86_400_000;

export async function measureOutcomes({ tenants = 1_000, usersPerTenant = 30, log = () => {}, open = STORES.sqlite } = {}) {
  const { store, label, cleanup } = await open();
  try {
    const now = Date.now();
    const nudge = (id, event) => ({ id, kind: 'modal', body: 'x', when: { event: 'x' }, goal: { event, within: '7d' }, holdout: 20 });
    const config = { version: 1, product: 'bench', nudges: [nudge('lift', 'report.created'), nudge('flat', 'team.invited')] };
    await publishBenchConfig(store, config);
    // A seeded PRNG (mulberry32): the same rows every run.
    let a = 42;
    const rnd = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    let rows = [];
    let total = 0;
    const push = (tenant, user, event, ts, properties) =>
      rows.push({
        writeKey: 'bench',
        messageId: randomUUID(),
        type: 'track',
        event,
        userId: user,
        anonymousId: null,
        groupId: tenant,
        timestamp: new Date(ts).toISOString(),
        originalTimestamp: null,
        sentAt: null,
        receivedAt: new Date(ts).toISOString(),
        payload: JSON.stringify({ type: 'track', event, userId: user, properties }),
        sender: { kind: 'server' }, // verified, as a page with the user's token (or a backend) sends them
      });
    const seed0 = performance.now();
    for (let t = 0; t < tenants; t++) {
      const tenant = `tenant-${t}`;
      for (let u = 0; u < usersPerTenant; u++) {
        const user = `${tenant}-u${u}`;
        for (const [id, goal, shownRate, heldRate] of [
          ['lift', 'report.created', 0.2, 0.1],
          ['flat', 'team.invited', 0.15, 0.15],
        ]) {
          const at = now - (1 + rnd() * 29) * DAY;
          const held = inHoldout(id, user, 20);
          push(tenant, user, held ? 'nudge.held_out' : 'nudge.offered', at, { nudge: id, kind: 'modal', version: 1 });
          if (!held && rnd() < 0.4) push(tenant, user, 'nudge.acted', at + 60_000, { nudge: id, action: rnd() < 0.6 ? 'recipe' : 'close' });
          if (rnd() < (held ? heldRate : shownRate)) push(tenant, user, goal, at + rnd() * 6.9 * DAY, {});
          if (rnd() < 0.2) push(tenant, user, goal, at - rnd() * 3 * DAY, {}); // before the exposure: noise
        }
        // Other activity the query must pass over.
        for (let e = 0; e < 3; e++) push(tenant, user, 'feature.used', now - rnd() * 30 * DAY, { feature: `f${e}` });
      }
      if (rows.length >= 5000) {
        await store.insert(rows);
        total += rows.length;
        rows = [];
      }
      if (t % 250 === 249) log(`  outcomes (${label}): stored ${total.toLocaleString('en-US')} events for ${t + 1} tenants`);
    }
    await store.insert(rows);
    total += rows.length;
    const seedMs = performance.now() - seed0;
    const t0 = performance.now();
    const overall = await store.outcomes.nudges({ now });
    const overallMs = performance.now() - t0;
    const t1 = performance.now();
    const byTenant = await store.outcomes.nudges({ now, byTenant: true });
    const byTenantMs = performance.now() - t1;
    const lift = overall.find((o) => o.id === 'lift');
    const flat = overall.find((o) => o.id === 'flat');
    return {
      store: label,
      tenants,
      users: tenants * usersPerTenant,
      events: total,
      seedMs,
      overallMs,
      byTenantMs,
      rows: byTenant.length,
      lift: lift?.lift,
      liftContainsTruth: !!lift?.lift && lift.lift.low < 0.1 && lift.lift.high > 0.1,
      flatContainsZero: !!flat?.lift && flat.lift.low < 0 && flat.lift.high > 0,
    };
  } finally {
    await store.close().catch(() => undefined);
    await cleanup();
  }
}
