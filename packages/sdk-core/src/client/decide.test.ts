// The pure decision (decide.ts) called directly: a snapshot in, decisions out, nothing changed.
// The engine's behaviour over time (timers, the ledger written, events) is guide.test.ts's.
import { describe, expect, test } from 'vitest';
import { durationMs } from '../rules/duration.js';
import { evaluate } from '../rules/evaluate.js';
import { memoryContext } from '../rules/memory.js';
import { DEFAULT_FATIGUE, Ledger } from './budget.js';
import { decide, type DecisionSnapshot, interruptionChecks } from './decide.js';
import type { ClientNudge } from './types.js';

const NOW = Date.parse('2026-11-23T09:00:00Z');
const nudge = (id: string, over: Partial<ClientNudge> = {}): ClientNudge => ({ id, kind: 'modal', body: 'Hi', when: { page: '/**' }, ...over });

function snapshot(nudges: ClientNudge[], over: Partial<DecisionSnapshot> = {}): DecisionSnapshot {
  return {
    now: NOW,
    policy: DEFAULT_FATIGUE,
    ledger: new Ledger(undefined, 'k', NOW),
    typing: undefined,
    hidden: false,
    nudges,
    ctx: memoryContext([], { now: NOW, page: { path: '/reports' } }),
    lifecycleState: undefined,
    lib: { evaluate, durationMs },
    refused: () => undefined,
    dismissedAt: () => undefined,
    holdout: () => undefined,
    exposed: new Set(),
    anchorProblem: () => undefined,
    uiProblem: undefined,
    ...over,
  };
}

describe('decide', () => {
  test('the highest priority wins; the others are blocked by priority and say who went first', () => {
    const d = decide(snapshot([nudge('low', { priority: 1 }), nudge('high', { priority: 9 }), nudge('tie', { priority: 9 })]));
    expect(d.winner?.id).toBe('high');
    expect(d.decisions.map((x) => [x.nudgeId, x.status, x.summary])).toEqual([
      ['low', 'blocked', 'blocked by priority: "high" goes first (priority 9 vs 1)'],
      ['high', 'eligible', 'eligible: every check passes; it shows now'],
      ['tie', 'blocked', 'blocked by priority: "high" goes first (priority 9 vs 9)'],
    ]);
  });

  test('the first failing check is the summary, and every check is listed in order', () => {
    const d = decide(snapshot([nudge('n', { audience: { trait: 'plan', eq: 'pro' } })], { typing: 'the search box', refused: () => undefined }));
    expect(d.winner).toBeUndefined();
    const [n] = d.decisions;
    expect(n!.checks.map((c) => c.check)).toEqual([
      'lifecycle',
      'audience',
      'when',
      'dismissed',
      'snoozed',
      'nudge cap',
      'session cap',
      'day cap',
      'quiet period',
      'one at a time',
      'typing',
      'page visible',
    ]);
    expect(n!.summary).toMatch(/^blocked by audience: /);
  });

  test('a hotspot skips the interruption budget, and a held-out one is counted but not placed', () => {
    const hot = nudge('tip', { kind: 'hotspot', anchor: '#x' });
    const typing = decide(snapshot([hot], { typing: 'a field' }));
    expect(typing.hot.map((n) => n.id)).toEqual(['tip']);
    expect(typing.decisions[0]!.checks.some((c) => c.check === 'typing')).toBe(false);
    const held = decide(snapshot([{ ...hot, holdout: 10 }], { holdout: () => true }));
    expect([held.hot, held.held.map((n) => n.id), held.decisions[0]!.summary]).toEqual([[], ['tip'], 'eligible; held out (counted as exposed, never shown)']);
  });

  test('the budget reads the ledger without writing it, and says when each limit frees up', () => {
    const ledger = new Ledger(undefined, 'k', NOW - 120_000); // the session began two minutes ago
    ledger.record('nudge', 'a', NOW - 60_000);
    ledger.closed(NOW - 60_000);
    const before = JSON.stringify(ledger.data);
    const checks = interruptionChecks({ ...snapshot([]), ledger, policy: { perSession: 1, perDay: 1, quietMs: 10 * 60_000 } });
    expect(JSON.stringify(ledger.data)).toBe(before);
    const by = Object.fromEntries(checks.map((c) => [c.check, c]));
    expect(by['session cap']).toMatchObject({ ok: false, count: 1, limit: 1 });
    expect(by['day cap']).toMatchObject({ ok: false, until: NOW - 60_000 + 86_400_000 });
    expect(by['quiet period']).toMatchObject({ ok: false, until: NOW + 9 * 60_000 });
  });
});
