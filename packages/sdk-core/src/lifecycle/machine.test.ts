import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { validateConfigText } from '../authoring/validate.js';
import { memoryContext, type MemoryEvent } from '../rules/memory.js';
import type { ChecklistProgress } from '../rules/types.js';
import { advance, allows, type LifecycleModel, replay, toXState } from './machine.js';

const ACME = validateConfigText(readFileSync(new URL('../authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8')).config!;
const MODEL = ACME.lifecycle as unknown as LifecycleModel;
const DAY = 86_400_000;

/** The tenant's world at `now`: its events, facts, metrics, onboarding progress, health. */
function world(
  now: number,
  o: { done?: string[]; facts?: Record<string, number>; metrics?: Record<string, number>; band?: string; events?: MemoryEvent[] } = {},
) {
  const progress: ChecklistProgress = { completedItems: o.done ?? [], completed: (o.done ?? []).length === 6 };
  return memoryContext(o.events ?? [], {
    // seats_used_ratio and days_to_renewal are the tenant's own traits (the fixture reads them with tenantTrait).
    now,
    facts: o.facts ?? {},
    tenantTraits: o.facts ?? {},
    metrics: o.metrics ?? {},
    checklist: (id) => (id === 'onboarding' ? progress : undefined),
    ...(o.band ? { health: { band: o.band, score: o.band === 'at-risk' ? 30 : 80 } } : {}),
  });
}

describe('transitions, each with its evidence', () => {
  test('onboarding → activated when the three setup items are done; the evidence names them', () => {
    const t0 = Date.parse('2026-03-01T00:00:00Z');
    expect(advance(MODEL, 'onboarding', world(t0, { done: ['sso', 'first-integration'] }))).toEqual({ state: 'onboarding', transitions: [] });
    const r = advance(MODEL, 'onboarding', world(t0, { done: ['sso', 'first-integration', 'first-dataset'] }));
    expect(r.state).toBe('activated');
    expect(r.transitions).toEqual([{ from: 'onboarding', to: 'activated', at: t0, evidence: expect.objectContaining({ ok: true, actual: 'completed' }) }]);
  });

  test('activated → adopted needs both 5 active users and DAU/WAU ≥ 0.3; the evidence shows each value', () => {
    const ctx = world(0, { done: ['sso', 'first-integration', 'first-dataset'], facts: { active_users_7d: 6 }, metrics: { dau_over_wau: 0.25 } });
    expect(advance(MODEL, 'activated', ctx).state).toBe('activated');
    const r = advance(MODEL, 'activated', world(0, { facts: { active_users_7d: 6 }, metrics: { dau_over_wau: 0.35 } }));
    expect(r.state).toBe('adopted');
    expect(r.transitions[0]!.evidence.children!.map((c) => [c.ok, c.actual])).toEqual([
      [true, 6],
      [true, 0.35],
    ]);
  });

  test('several transitions can chain in one evaluation, in config order', () => {
    const r = advance(
      MODEL,
      'onboarding',
      world(0, { done: ['sso', 'first-integration', 'first-dataset'], facts: { active_users_7d: 9, seats_used_ratio: 0.95 }, metrics: { dau_over_wau: 0.5 } }),
    );
    expect(r.transitions.map((t) => `${t.from}→${t.to}`)).toEqual(['onboarding→activated', 'activated→adopted', 'adopted→expanding']);
  });

  test('any of several states → at-risk when the health band says so; and back to adopted', () => {
    expect(advance(MODEL, 'expanding', world(0, { band: 'at-risk' })).state).toBe('at-risk');
    expect(advance(MODEL, 'onboarding', world(0, { band: 'at-risk' })).state).toBe('onboarding'); // no transition from onboarding
    expect(advance(MODEL, 'at-risk', world(0, { facts: { active_users_7d: 5 }, metrics: { dau_over_wau: 0.3 } })).state).toBe('adopted');
  });
});

describe('allowed actions', () => {
  test('a state with allows refuses what it does not list, naming why; wildcards match', () => {
    expect(allows(MODEL, 'onboarding', 'checklist:onboarding')).toEqual({ ok: true });
    expect(allows(MODEL, 'onboarding', 'recipe:first-report')).toEqual({ ok: true });
    expect(allows(MODEL, 'expanding', 'nudge:upgrade-seats')).toEqual({ ok: true });
    expect(allows(MODEL, 'expanding', 'nudge:reports-unused')).toEqual({
      ok: false,
      reason: '"nudge:reports-unused" is not allowed in lifecycle state "expanding" (allows: nudge:upgrade-*)',
    });
    expect(allows(MODEL, 'adopted', 'nudge:anything')).toEqual({ ok: true }); // no allows list: everything
    expect(allows(MODEL, 'nowhere', 'nudge:x')).toMatchObject({ ok: false, reason: 'unknown lifecycle state "nowhere"' });
  });
});

describe('determinism', () => {
  test('replaying the same events gives the same states and transitions (property)', () => {
    const setup = ['sso', 'first-integration', 'first-dataset'];
    const point = fc.record({
      done: fc.subarray(setup),
      active: fc.integer({ min: 0, max: 12 }),
      dauWau: fc.double({ min: 0, max: 1, noNaN: true }),
      seats: fc.double({ min: 0, max: 1, noNaN: true }),
      band: fc.constantFrom('healthy', 'watch', 'at-risk'),
      renewalDays: fc.integer({ min: 0, max: 400 }),
    });
    fc.assert(
      fc.property(fc.array(point, { maxLength: 12 }), (points) => {
        const ctxs = points.map((p, i) =>
          world(i * DAY, {
            done: p.done,
            facts: { active_users_7d: p.active, seats_used_ratio: p.seats, days_to_renewal: p.renewalDays },
            metrics: { dau_over_wau: p.dauWau },
            band: p.band,
          }),
        );
        const a = replay(MODEL, ctxs);
        const b = replay(MODEL, ctxs);
        expect(b).toEqual(a);
        // Every transition taken is one the config declares, and each is backed by a proof that held.
        for (const t of a.transitions) {
          expect(MODEL.transitions.some((d) => (typeof d.from === 'string' ? [d.from] : d.from).includes(t.from) && d.to === t.to)).toBe(true);
          expect(t.evidence.ok).toBe(true);
        }
      }),
    );
  });
});

test('XState-shaped JSON for visualisers', () => {
  const x = toXState(MODEL);
  expect(x.initial).toBe('onboarding');
  expect(x.states.onboarding!.on!.EVALUATE).toEqual([{ target: 'activated', guard: 'proof:activated' }]);
  expect(x.states['at-risk']!.on!.EVALUATE!.map((t) => t.target)).toEqual(['adopted', 'renewing']);
  expect(x.states.expanding!.meta).toMatchObject({ owner: 'account-management', allows: ['nudge:upgrade-*'] });
});
