// The browser's counts start from the server's history and add only what the server has not
// acknowledged; events seen before a clause was watched count once it is.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { clauseKey, type ProgressHistory } from '../progress/answer.js';
import { evaluate, matches } from '../rules/evaluate.js';
import { memoryContext } from '../rules/memory.js';
import type { Rule } from '../rules/types.js';
import { Rollups } from './rollups.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 15, 12);
const today = Math.floor(NOW / DAY);
const used: Rule = { event: 'feature.used', where: { feature: 'reports' }, within: '7d' };
const server = (days: Record<number, number>, messageIds: string[], before = 0): ProgressHistory => ({
  fromDay: today - 7,
  firstSeen: new Date(NOW - 30 * DAY).toISOString(),
  tenantFirstSeen: null,
  messageIds,
  clauses: [{ key: clauseKey('feature.used', { feature: 'reports' }), event: 'feature.used', where: { feature: 'reports' }, days, before }],
});
const q = { event: 'feature.used', where: { feature: 'reports' }, since: NOW - 7 * DAY, until: NOW };

describe("rollups with the server's history", () => {
  test("a new device counts the server's history; its own messages count until the server lists them, then not twice", () => {
    const r = new Rollups();
    r.watch([used]);
    expect(r.count(q)).toBe(0);
    r.applyServer(server({ [today - 2]: 2 }, []));
    expect(r.count(q)).toBe(2); // from the server, nothing tracked here
    r.record('feature.used', { feature: 'reports' }, NOW - 1000, 'm1');
    r.record('feature.used', { feature: 'other' }, NOW - 1000, 'm2');
    expect(r.count(q)).toBe(3); // m1 still queued: added to the server's counts
    expect(r.pendingSince()).toBe(NOW - 1000);
    // The next answer has m1 in its counts and lists its id.
    r.applyServer(server({ [today - 2]: 2, [today]: 1 }, ['m1', 'm2']));
    expect(r.count(q)).toBe(3);
    expect(r.pendingSince()).toBeUndefined();
    expect(r.serverFirstSeen).toBe(NOW - 30 * DAY);
  });

  test('all-time clauses add what the server counted before its first reported day', () => {
    const r = new Rollups();
    const ever: Rule = { event: 'feature.used', where: { feature: 'reports' } };
    r.watch([ever]);
    r.applyServer(server({ [today]: 1 }, [], 5));
    expect(r.count({ event: 'feature.used', where: { feature: 'reports' }, until: NOW })).toBe(6);
    expect(r.count(q)).toBe(1);
  });

  test('events tracked before the config arrives count once it does (and survive a reload of the saved state)', () => {
    const early = new Rollups();
    expect(early.record('feature.used', { feature: 'reports' }, NOW - 5000, 'e1')).toBe(false); // nothing watches it yet
    const loaded = new Rollups({}, { recent: [] });
    loaded.absorb(early);
    loaded.watch([used]);
    expect(loaded.count(q)).toBe(1);
    const again = new Rollups(loaded.toJSON(), JSON.parse(JSON.stringify(loaded.history())));
    again.watch([used]);
    expect(again.count(q)).toBe(1); // not replayed twice
  });

  test('property: server counts + unacknowledged local messages = a count over every message once, whatever was acknowledged', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ day: fc.integer({ min: 0, max: 9 }), feature: fc.constantFrom('reports', 'other'), acked: fc.boolean(), local: fc.boolean() }), {
          maxLength: 30,
        }),
        (msgs) => {
          const all = msgs.map((m, i) => ({ id: `m${i}`, ts: NOW - m.day * DAY, ...m }));
          const r = new Rollups();
          r.watch([used]);
          // Messages from this browser are recorded here; acknowledged ones (from any device) are in the server's counts.
          for (const m of all) if (m.local) r.record('feature.used', { feature: m.feature }, m.ts, m.id);
          const days: Record<number, number> = {};
          let before = 0;
          for (const m of all) {
            if (!(m.acked || !m.local) || m.feature !== 'reports') continue;
            const d = Math.floor(m.ts / DAY);
            if (d < today - 7) before++;
            else days[d] = (days[d] ?? 0) + 1;
          }
          r.applyServer(
            server(
              days,
              all.filter((m) => m.acked || !m.local).map((m) => m.id),
              before,
            ),
          );
          const expected = memoryContext(
            all.map((m) => ({ event: 'feature.used', ts: m.ts, properties: { feature: m.feature } })),
            { now: NOW },
          ).countEvents({ ...q, since: Math.floor(q.since / DAY) * DAY }); // rollups count whole days
          expect(r.count(q)).toBe(expected);
        },
      ),
    );
  });
});

describe('absences need history as long as their window', () => {
  const unused: Rule = { not: { event: 'feature.used', within: '7d' } };
  const none: Rule = { event: 'feature.used', count: { lte: 0 }, within: '7d' };
  const ctx = (firstSeenAgo: number) => memoryContext([], { now: NOW, historySince: NOW - firstSeenAgo });

  test('"unused for 7 days" is false, and explained, for a user first seen 3 minutes ago; true once the history is long enough', () => {
    for (const rule of [unused, none]) {
      const e = evaluate(rule, ctx(3 * 60_000));
      expect(e).toMatchObject({ ok: false, reason: 'history', note: 'history shorter than the window: first seen 3 minutes ago' });
      expect(matches(rule, ctx(3 * 60_000))).toBe(false);
      expect(evaluate(rule, ctx(8 * DAY)).ok).toBe(true);
      expect(matches(rule, ctx(8 * DAY))).toBe(true);
    }
    expect(evaluate(unused, ctx(5 * 3_600_000)).note).toBe('history shorter than the window: first seen 5 hours ago');
    expect(evaluate(unused, ctx(2 * DAY)).note).toBe('history shorter than the window: first seen 2 days ago');
  });

  test('clauses an event proves are not held back: "at least one in 7d", "not none in 7d"', () => {
    const c = memoryContext([{ event: 'feature.used', ts: NOW - 1000 }], { now: NOW, historySince: NOW - 60_000 });
    expect(evaluate({ event: 'feature.used', within: '7d' }, c).ok).toBe(true);
    expect(evaluate({ not: none }, c).ok).toBe(true);
    expect(evaluate(unused, memoryContext([], { now: NOW })).ok).toBe(true); // no history known: no check (previews, tests)
  });
});
