// Outcomes cost: 1,000 tenants × 30 days of nudge exposures (shown, or held out by the server's
// own assignment), actions and goal events in a store (`open`: SQLite by default, or PostgreSQL,
// see stores.mjs), then GET /v1/admin/outcomes's computation timed: overall, and with a row per
// tenant. The true lift is known (goal 10% held out, 20% shown), so the run also says whether
// the computed interval contains it. The same store carries the friction log's inputs: a sync
// error that hits 30% of users a week until a nudge addressing it is published 14 days ago and 10%
// a week after, plus missing anchors and recipe exits; GET /v1/admin/friction's computation is
// timed too, and the run says whether its before/after rates are the truth.
import { randomUUID } from 'node:crypto';
import { inHoldout } from '../../packages/sdk-core/dist/engine.js';
import { STORES } from './stores.mjs';

const DAY = 86_400_000;

export async function measureOutcomes({ tenants = 1_000, usersPerTenant = 30, log = () => {}, open = STORES.sqlite } = {}) {
  const { store, label, cleanup } = await open();
  try {
    const now = Date.now();
    const nudge = (id, event) => ({ id, kind: 'modal', body: 'x', when: { event: 'x' }, goal: { event, within: '7d' }, holdout: 20 });
    const config = { version: 1, product: 'bench', nudges: [nudge('lift', 'report.created'), nudge('flat', 'team.invited')] };
    // Version 1 without the fix, 30 days ago; version 2 brings the nudge addressing the sync error, 14 days ago.
    const fixedAt = now - 14 * DAY;
    const version = (doc, at) =>
      store.config.publish({
        document: JSON.stringify(doc),
        hash: `bench-${at}`,
        publishedAt: new Date(at).toISOString(),
        publishedBy: 'bench',
        summary: 'bench',
      });
    await version(config, now - 30 * DAY);
    const fix = {
      id: 'explain-sync',
      kind: 'banner',
      body: 'Reconnect your source.',
      when: { event: 'error.raised', where: { code: 'E_SYNC' }, within: '1d' },
    };
    await version({ ...config, nudges: [...config.nudges, fix] }, fixedAt);
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
        // Other activity the query must pass over (and that makes each user active in every week).
        for (let e = 0; e < 3; e++) push(tenant, user, 'feature.used', now - rnd() * 30 * DAY, { feature: `f${e}` });
        for (const w of [1, 2, 3]) push(tenant, user, 'feature.used', fixedAt - DAY * 7 + w * DAY * 3.5 - rnd() * DAY, { feature: 'weekly' });
        // Friction: the sync error in the week before the fix (30% of users) and the week after (10%).
        const sync = (at) => push(tenant, user, 'error.raised', at, { kind: 'error', code: 'E_SYNC', message: `Sync ${Math.floor(rnd() * 1e6)} failed` });
        if (rnd() < 0.3) sync(fixedAt - (0.1 + rnd() * 6.8) * DAY);
        if (rnd() < 0.1) sync(fixedAt + (0.1 + rnd() * 6.8) * DAY);
        if (rnd() < 0.05)
          push(tenant, user, 'anchor.missing', now - rnd() * 6 * DAY, { nudge: 'lift', selectors: ['#x'], waitedMs: 5000, path: `/reports/${u}` });
        if (rnd() < 0.05) push(tenant, user, 'recipe.exited', now - rnd() * 6 * DAY, { recipe: 'setup', step: 2, steps: 4, reason: 'exited' });
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
    const t2 = performance.now();
    const friction = await store.outcomes.friction({ now, days: 30 });
    const frictionMs = performance.now() - t2;
    const syncFix = friction.find((e) => e.key.startsWith('error:code E_SYNC'))?.addressedBy[0];
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
      frictionMs,
      frictionEntries: friction.length,
      syncBefore: syncFix?.before.rate ?? null,
      syncAfter: syncFix?.after.rate ?? null,
    };
  } finally {
    await store.close().catch(() => undefined);
    await cleanup();
  }
}
