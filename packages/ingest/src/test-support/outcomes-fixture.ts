/**
 * A deterministic fixture for outcomes with known ground truth: several tenants over 30 days, and
 * two nudges with a 20% holdout: `lift` truly raises its goal from 10% (held out) to 20% (shown),
 * `flat` changes nothing (15% either way). Arms come from the server's own assignment
 * (`inHoldout`), as in production. Besides the rows, it returns what the figures must be, counted
 * as the rows were made: who was exposed, who was still inside the window, who reached the goal.
 * Noise the outcome must ignore: goal events before the exposure or after the window, users
 * without a user id, another nudge's events.
 */
import { inHoldout } from '@keel/sdk-core/engine';
import type { TestRow } from './rows.js';

const DAY = 86_400_000;
/** mulberry32: a small seeded PRNG, so the fixture is the same on every run. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const FIXTURE_NUDGES = {
  lift: { goalEvent: 'report.created', shown: 0.2, held: 0.1 },
  flat: { goalEvent: 'team.invited', shown: 0.15, held: 0.15 },
} as const;
export const FIXTURE_HOLDOUT = 20;
export const FIXTURE_VERSION = 3;

export interface ArmTruth {
  users: number;
  goal: number;
}
export interface Truth {
  /** Per nudge: arms over users whose window has closed, and how many are still pending. */
  [nudge: string]: { shown: ArmTruth & { acted: number; dismissed: number }; heldOut: ArmTruth; pending: number; byTenant: Map<string, number> };
}

export function outcomesFixture(o: { now: number; seed?: number; tenants?: number; usersPerTenant?: number }): { rows: TestRow[]; truth: Truth } {
  const rnd = prng(o.seed ?? 7);
  const rows: TestRow[] = [];
  const truth: Truth = {};
  const at = (ms: number) => new Date(ms).toISOString();
  for (const id of Object.keys(FIXTURE_NUDGES))
    truth[id] = { shown: { users: 0, goal: 0, acted: 0, dismissed: 0 }, heldOut: { users: 0, goal: 0 }, pending: 0, byTenant: new Map() };
  for (let t = 0; t < (o.tenants ?? 6); t++) {
    const tenant = `tenant-${t}`;
    for (let u = 0; u < (o.usersPerTenant ?? 500); u++) {
      const user = `${tenant}-user-${u}`;
      for (const [id, n] of Object.entries(FIXTURE_NUDGES)) {
        const tr = truth[id]!;
        // Exposed some time in the last 30 days; about 1 in 12 within the last 7 (still pending).
        const exposedAt = o.now - (1 + rnd() * 29) * DAY;
        const held = inHoldout(id, user, FIXTURE_HOLDOUT);
        const track = (event: string, ms: number, properties: Record<string, unknown>): TestRow => ({
          type: 'track',
          event,
          userId: user,
          groupId: tenant,
          timestamp: at(ms),
          properties,
        });
        rows.push(
          track(held ? 'nudge.held_out' : 'nudge.offered', exposedAt, { nudge: id, kind: 'modal', holdout: FIXTURE_HOLDOUT, version: FIXTURE_VERSION }),
        );
        // On screen a moment later (shown arm), and a second exposure later on: the first one is what counts.
        if (!held) rows.push(track('nudge.sent', exposedAt + 1000, { nudge: id, kind: 'modal', version: FIXTURE_VERSION }));
        if (rnd() < 0.2)
          rows.push(track(held ? 'nudge.held_out' : 'nudge.offered', exposedAt + DAY / 2, { nudge: id, kind: 'modal', version: FIXTURE_VERSION }));
        let acted = false;
        let dismissed = false;
        if (!held) {
          const r = rnd();
          if (r < 0.3) {
            acted = true;
            rows.push(track('nudge.acted', exposedAt + 60_000, { nudge: id, action: 'recipe' }));
          } else if (r < 0.5) {
            dismissed = true;
            rows.push(track('nudge.acted', exposedAt + 60_000, { nudge: id, action: 'close' }));
          }
        }
        const reached = rnd() < (held ? n.held : n.shown);
        if (reached) rows.push(track(n.goalEvent, exposedAt + (0.01 + rnd() * 6.9) * DAY, { via: 'app' }));
        // Noise: the goal before the exposure, or after its window: neither counts.
        if (rnd() < 0.1) rows.push(track(n.goalEvent, exposedAt - rnd() * DAY, {}));
        if (rnd() < 0.1) rows.push(track(n.goalEvent, exposedAt + 7.5 * DAY, {}));
        const closed = exposedAt + 7 * DAY <= o.now;
        if (!closed) {
          tr.pending++;
          continue;
        }
        tr.byTenant.set(tenant, (tr.byTenant.get(tenant) ?? 0) + 1);
        // A goal after the window's end that falls before now was generated too late to count.
        const arm = held ? tr.heldOut : tr.shown;
        arm.users++;
        if (reached) arm.goal++;
        if (!held) {
          if (acted) tr.shown.acted++;
          if (dismissed) tr.shown.dismissed++;
        }
      }
      // Unverified exposures (anyone with the public write key could send them): not counted.
      if (u % 40 === 0)
        rows.push({
          type: 'track',
          event: 'nudge.offered',
          userId: `forged-${t}-${u}`,
          groupId: tenant,
          trust: 'unverified',
          timestamp: at(o.now - 10 * DAY),
          properties: { nudge: 'lift', version: FIXTURE_VERSION },
        });
      // Anonymous visitors' events: no user id, no assignment, not counted.
      if (u % 50 === 0)
        rows.push({
          type: 'track',
          event: 'nudge.sent',
          anonymousId: `anon-${t}-${u}`,
          groupId: tenant,
          timestamp: at(o.now - 10 * DAY),
          properties: { nudge: 'lift', version: FIXTURE_VERSION },
        });
    }
  }
  return { rows, truth };
}
