// The guidance engine's decisions in Node, with a real rule context over in-memory events, a
// Storage-shaped map for the ledger and fake timers: priority, one at a time, caps, quiet period,
// snooze and dismiss, typing, lifecycle, anchors per page, recipes (advance, route, resume) and
// the decision trace that explains all of it.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { durationMs } from '../rules/duration.js';
import { evaluate } from '../rules/evaluate.js';
import { glob } from '../rules/match.js';
import { memoryContext, type MemoryEvent } from '../rules/memory.js';
import { parseLedger } from './budget.js';
import { createGuide, explainLine, type GuideDeps } from './guide.js';
import { resolveText, SAFE_LINK } from './text.js';
import type { ClientConfig, GuideHost, ProgressEntry } from './types.js';

const MIN = 60_000;
const T0 = Date.parse('2026-11-23T09:00:00Z');

const CONFIG: ClientConfig = {
  version: 7,
  nudges: [
    {
      id: 'reports-unused',
      kind: 'tooltip',
      anchor: ['[data-keel="reports-nav"]', 'nav a[href="/reports"]'],
      title: 'Turn this data into a report',
      body: 'Teams like yours save **3 hours a week**.',
      priority: 50,
      cap: { times: 3, per: '14d' },
      when: {
        all: [
          { event: 'feature.used', where: { feature: 'dataset.ingest' }, within: '30d' },
          { not: { event: 'feature.used', where: { feature: 'reports.create' }, within: '7d' } },
        ],
      },
      actions: [
        { label: 'Show me', recipe: 'first-report' },
        { label: 'Not now', snooze: '3d' },
      ],
    },
    {
      id: 'invite-team',
      kind: 'modal',
      body: 'Invite your team',
      priority: 10,
      when: { event: 'feature.used', where: { feature: 'dataset.ingest' } },
      actions: [{ label: 'Never', dismiss: true }],
    },
    { id: 'tip', kind: 'hotspot', anchor: '#tip', body: 'A tip', when: { page: '/reports' } },
  ],
  recipes: [
    {
      id: 'first-report',
      title: 'Create your first report',
      steps: [
        { anchor: 'nav a[href="/reports"]', text: 'Open Reports.', advance: 'click' },
        { route: '/reports', anchor: '[data-keel="new-report"]', text: 'Start a new report.', advance: 'next' },
        { anchor: '[data-keel="save-report"]', text: 'Save it.', advance: { event: 'feature.used', where: { feature: 'reports.create' } } },
      ],
    },
  ],
  fatigue: { perSession: 3, perDay: 5, quiet: '10m' },
};

class MemoryStorage {
  map = new Map<string, string>();
  getItem = (k: string) => this.map.get(k) ?? null;
  setItem = (k: string, v: string) => void this.map.set(k, v);
}

function setup({
  config,
  lifecycle,
  ...over
}: Partial<Omit<GuideDeps, 'config'>> & { config?: ClientConfig; lifecycle?: { state: string; allows: string[] } } = {}) {
  const events: MemoryEvent[] = [];
  const tracked: [string, Record<string, unknown>][] = [];
  const progress = new Map<string, ProgressEntry>();
  const storage = over.storage ?? new MemoryStorage();
  const state = { path: '/', typing: undefined as string | undefined, config: config ?? CONFIG, completed: [] as string[] };
  const lc = lifecycle;
  const refused = (a: string) =>
    !lc || lc.allows.some((p) => (p.endsWith('*') ? a.startsWith(p.slice(0, -1)) : p === a))
      ? undefined
      : `"${a}" is not allowed in lifecycle state "${lc.state}"`;
  const deps: GuideDeps = {
    lib: { durationMs, evaluate, glob, memoryContext, resolveText, SAFE_LINK },
    storageKey: 'keel-guide:test',
    storage,
    now: () => Date.now(),
    config: () => state.config,
    ctx: () => memoryContext(events, { now: Date.now(), page: { path: state.path }, ...(lc ? { lifecycle: lc.state } : {}) }),
    refused,
    lifecycleState: () => lc?.state,
    // As in the client: what the engine tracks comes straight back to it as a message.
    track: (e, p) => {
      tracked.push([e, p]);
      guide.onMessage(e, p, Date.now());
    },
    progress: (kind, id) => progress.get(`${kind}:${id}`),
    saveProgress: (kind, id, st, data) => {
      const at = new Date().toISOString();
      progress.set(`${kind}:${id}`, { scope: 'user', kind, ref: id, state: st, updatedAt: at, ...(data ? { data } : {}) });
    },
    recipeCompleted: (id) => void state.completed.push(id),
    openLink: () => undefined,
    path: () => state.path,
    typing: () => state.typing,
    locale: () => 'en',
    loader: async () => ({ mountGuide: () => () => undefined }),
    debug: false,
    ...over,
  };
  const guide = createGuide(deps);
  const track = (event: string, properties?: Record<string, unknown>) => {
    events.push(properties ? { event, ts: Date.now(), properties } : { event, ts: Date.now() });
    guide.onMessage(event, properties, Date.now());
    guide.schedule();
  };
  const tick = async (ms = 20) => void (await vi.advanceTimersByTimeAsync(ms));
  const host: GuideHost = guide.host;
  return { guide, host, track, tick, tracked, progress, storage, state, events, names: () => tracked.map(([e]) => e) };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => vi.useRealTimers());

describe('nudges', () => {
  test('two eligible nudges: the higher priority one is offered, the other waits for it and then for the quiet period', async () => {
    const g = setup();
    g.track('feature.used', { feature: 'dataset.ingest' });
    await g.tick();
    expect(g.host.state().nudge?.id).toBe('reports-unused');
    const other = g.guide.explain('invite-team');
    expect(other.status).toBe('blocked');
    expect(other.summary).toBe('blocked by one at a time: nudge "reports-unused" is being shown');

    g.host.shown('reports-unused', '[data-keel="reports-nav"]');
    expect(g.tracked.at(-1)).toEqual([
      'nudge.sent',
      { nudge: 'reports-unused', kind: 'tooltip', anchor: '[data-keel="reports-nav"]', priority: 50, version: 7 },
    ]);
    expect(g.guide.explain('reports-unused').status).toBe('showing');
    const closedAt = Date.now();
    g.host.closed('reports-unused', 'close');
    await g.tick();
    expect(g.host.state().nudge).toBeUndefined();
    const quiet = g.guide.explain('invite-team');
    expect(quiet.summary).toMatch(/^blocked by quiet period: 10m left after the last close at 09:00:00 UTC$/);
    expect(quiet.checks.find((c) => c.check === 'quiet period')?.until).toBe(closedAt + 10 * MIN);
    // The first one is capped now (3 in 14d allows more, but it is the quiet period that blocks both).
    await g.tick(10 * MIN - 1000);
    expect(g.host.state().nudge).toBeUndefined();
    await g.tick(2000); // the engine woke itself when the quiet period ended
    expect(g.host.state().nudge?.id).toBe('reports-unused'); // priority 50 again: its own cap is 3 in 14 days
    g.host.acted('reports-unused', { label: 'Not now', snooze: '3d' });
    await g.tick(10 * MIN + 100);
    expect(g.host.state().nudge?.id).toBe('invite-team');
    expect(g.guide.explain('reports-unused').summary).toMatch(/^blocked by snoozed: snoozed for 2d 23h/);
  });

  test("holdouts: the server's assignment decides; held out, the exposure is tracked (once per cap) and nothing is drawn or counted as an interruption", async () => {
    const base = CONFIG.nudges![1]!;
    const config: ClientConfig = {
      ...CONFIG,
      nudges: [
        { ...base, goal: { event: 'team.invited', within: '7d' }, holdout: 20 },
        { ...CONFIG.nudges![2]!, holdout: 20, goal: { event: 'x', within: '1d' } },
      ],
    };
    const assign = (g: ReturnType<typeof setup>, id: string, holdout: boolean) =>
      g.progress.set(`nudge:${id}`, { scope: 'user', kind: 'nudge', ref: id, state: 'not_started', updatedAt: new Date(0).toISOString(), data: { holdout } });

    // Not known yet (no progress answer, or no user token): held back, and the trace says why.
    const unknown = setup({ config });
    unknown.track('feature.used', { feature: 'dataset.ingest' });
    await unknown.tick();
    expect(unknown.host.state().nudge).toBeUndefined();
    expect(unknown.guide.explain('invite-team').summary).toBe(
      "blocked by holdout: waiting for the server's holdout assignment (a 20% holdout; needs a user token)",
    );

    // Held out: nothing shown; one nudge.held_out with the config version; not an interruption.
    const held = setup({ config });
    assign(held, 'invite-team', true);
    held.track('feature.used', { feature: 'dataset.ingest' });
    await held.tick(100);
    expect(held.host.state().nudge).toBeUndefined();
    expect(held.tracked.filter(([e]) => e === 'nudge.held_out')).toEqual([
      ['nudge.held_out', { nudge: 'invite-team', kind: 'modal', holdout: 20, version: 7 }],
    ]);
    expect(held.guide.explain('invite-team').summary).toMatch(/^blocked by nudge cap: shown 1 of 1 time in 1d/);
    await held.tick(5 * MIN);
    expect(held.tracked.filter(([e]) => e === 'nudge.held_out')).toHaveLength(1); // not again within its cap
    // A held-out hotspot: no beacon, its exposure tracked once.
    held.state.path = '/reports';
    assign(held, 'tip', true);
    held.guide.schedule();
    await held.tick(100);
    expect(held.host.state().hotspots).toEqual([]);
    expect(held.tracked.filter(([e, p]) => e === 'nudge.held_out' && p.nudge === 'tip')).toHaveLength(1);

    // Not held out: shown as usual, and its nudge.sent carries the version too.
    const shown = setup({ config });
    assign(shown, 'invite-team', false);
    shown.track('feature.used', { feature: 'dataset.ingest' });
    await shown.tick();
    expect(shown.host.state().nudge?.id).toBe('invite-team');
    // Exposure in the shown arm is the same moment: when it is offered, before it is on screen.
    expect(shown.tracked.filter(([e]) => e === 'nudge.offered')).toEqual([['nudge.offered', { nudge: 'invite-team', kind: 'modal', version: 7 }]]);
    expect(shown.guide.explain('invite-team').checks.find((c) => c.check === 'holdout')).toMatchObject({ ok: true, detail: 'not in the 20% holdout' });
  });

  test('the decision trace: each rule with its value, each cap with its count', async () => {
    const g = setup();
    g.track('feature.used', { feature: 'dataset.ingest' });
    g.track('feature.used', { feature: 'reports.create' });
    await g.tick();
    const d = g.guide.explain('reports-unused');
    expect(d.status).toBe('blocked');
    expect(d.summary).toBe('blocked by when: no "feature.used" where feature = "reports.create" in the last 7d is 1 (needs no)');
    expect(d.checks.map((c) => [c.check, c.ok])).toEqual([
      ['lifecycle', true],
      ['when', false],
      ['dismissed', true],
      ['snoozed', true],
      ['nudge cap', true],
      ['session cap', true],
      ['day cap', true],
      ['quiet period', true],
      ['one at a time', false],
      ['typing', true],
      ['page visible', true],
    ]);
    const when = d.checks.find((c) => c.check === 'when')!;
    expect(when.explanation?.children?.map((c) => [c.ok, c.actual])).toEqual([
      [true, 1],
      [false, 1],
    ]);
    expect(d.checks.find((c) => c.check === 'nudge cap')).toMatchObject({ count: 0, limit: 3, detail: 'shown 0 of 3 times in 14d' });
    expect(d.checks.find((c) => c.check === 'session cap')).toMatchObject({ count: 0, limit: 3, detail: '0 of 3 interruptions this session' });
    expect(g.guide.explain('nope')).toMatchObject({
      status: 'unknown',
      summary: 'no nudge "nope" in config version 7 (nudges: reports-unused, invite-team, tip)',
    });
  });

  test('session and day caps count every interrupting surface; a new session starts after 30 minutes idle', async () => {
    const g = setup({ config: { ...CONFIG, fatigue: { perSession: 2, perDay: 3, quiet: '1m' } } });
    expect(g.guide.interrupt('checklist', 'onboarding')).toEqual({ ok: true });
    expect(g.guide.recipes.start('first-report', { source: 'api' })).toEqual({ ok: true });
    g.guide.recipes.exit();
    g.track('feature.used', { feature: 'dataset.ingest' });
    await g.tick(2 * MIN);
    expect(g.host.state().nudge).toBeUndefined();
    expect(g.guide.explain('reports-unused').summary).toBe('blocked by session cap: 2 of 2 interruptions this session');
    expect(g.guide.interrupt('checklist', 'onboarding')).toEqual({ ok: false, reason: 'session cap: 2 of 2 interruptions this session' });
    await g.tick(31 * MIN);
    g.track('user.session');
    await g.tick();
    expect(g.host.state().nudge?.id).toBe('reports-unused');
    g.host.shown('reports-unused', null);
    g.host.closed('reports-unused', 'escape');
    await g.tick(2 * MIN);
    const d = g.guide.explain('invite-team');
    expect(d.summary).toBe('blocked by day cap: 3 of 3 interruptions in the last 24 h');
    expect(d.checks.find((c) => c.check === 'day cap')?.until).toBe(T0 + 24 * 60 * MIN);
  });

  test('dismiss forever is synced as progress; a nudge never opens over a focused text field', async () => {
    const g = setup();
    g.state.typing = '<input #search>';
    g.track('feature.used', { feature: 'dataset.ingest' });
    g.track('feature.used', { feature: 'reports.create' }); // reports-unused does not apply
    await g.tick();
    expect(g.host.state().nudge).toBeUndefined();
    expect(g.guide.explain('invite-team').summary).toBe('blocked by typing: the user is typing in <input #search>');
    g.state.typing = undefined;
    g.guide.schedule(); // the client does this on focusout
    await g.tick();
    expect(g.host.state().nudge?.id).toBe('invite-team');
    g.host.shown('invite-team', null);
    g.host.acted('invite-team', { label: 'Never', dismiss: true });
    expect(g.progress.get('nudge:invite-team')?.state).toBe('dismissed');
    expect(g.tracked.filter(([e]) => e === 'nudge.acted').map(([, p]) => p)).toEqual([
      { nudge: 'invite-team', kind: 'modal', action: 'dismiss', label: 'Never' },
    ]);
    await g.tick(2 * 24 * 60 * MIN);
    expect(g.guide.explain('invite-team').summary).toMatch(/^blocked by dismissed: dismissed for good on 2026-11-23/);
  });

  test('an anchor that never appeared blocks the nudge on that page only; anchor.missing is tracked', async () => {
    const g = setup();
    g.track('feature.used', { feature: 'dataset.ingest' });
    await g.tick();
    g.host.skipped('reports-unused', { reason: 'anchor.missing', selectors: ['[data-keel="reports-nav"]'], waitedMs: 5000 });
    expect(g.tracked.at(-1)).toEqual(['anchor.missing', { nudge: 'reports-unused', selectors: ['[data-keel="reports-nav"]'], waitedMs: 5000, path: '/' }]);
    await g.tick();
    expect(g.host.state().nudge?.id).toBe('invite-team'); // the next one in line, no quiet period (nothing was shown)
    expect(g.guide.explain('reports-unused').checks.find((c) => c.check === 'anchor')?.detail).toBe(
      'not found on / after 5000 ms: "[data-keel=\\"reports-nav\\"]"',
    );
    g.host.shown('invite-team', null);
    g.host.closed('invite-team', 'close');
    g.state.path = '/reports';
    await g.tick(11 * MIN);
    expect(g.host.state().nudge?.id).toBe('reports-unused'); // another page: tried again
  });

  test('the lifecycle state and the audience are checks too; hotspots are listed, not interrupting', async () => {
    const g = setup({
      lifecycle: { state: 'onboarding', allows: ['nudge:invite-*', 'nudge:tip', 'recipe:*'] },
      config: { ...CONFIG, nudges: CONFIG.nudges!.map((n) => (n.id === 'invite-team' ? { ...n, audience: { trait: 'role', eq: 'admin' } } : n)) },
    });
    g.track('feature.used', { feature: 'dataset.ingest' });
    g.state.path = '/reports';
    await g.tick();
    expect(g.host.state().nudge).toBeUndefined();
    expect(g.guide.explain('reports-unused').summary).toBe('blocked by lifecycle: "nudge:reports-unused" is not allowed in lifecycle state "onboarding"');
    expect(g.guide.explain('invite-team').summary).toBe('blocked by audience: user role = "admin": no data yet');
    expect(g.host.state().hotspots.map((h) => h.id)).toEqual(['tip']);
    g.host.shown('tip', '#tip'); // the user opened the beacon
    expect(g.guide.explain('tip').status).toBe('showing');
    g.host.closed('tip', 'close');
    await g.tick();
    expect(g.host.state().hotspots).toEqual([]); // its cap (once a day) is spent
  });

  test('nothing interrupts a page in a background tab; it shows when the tab comes to the front', async () => {
    const view = { hidden: true };
    const g = setup({ hidden: () => view.hidden });
    g.track('feature.used', { feature: 'dataset.ingest' });
    await g.tick();
    expect(g.host.state().nudge).toBeUndefined();
    expect(g.guide.explain('reports-unused').summary).toBe('blocked by page visible: the page is in a background tab');
    view.hidden = false;
    g.guide.schedule(); // the client does this on visibilitychange
    await g.tick();
    expect(g.host.state().nudge?.id).toBe('reports-unused');
    // A checklist asks once, when its item fails: in a background tab it still reopens (seen on return).
    const h = setup({ hidden: () => true });
    expect(h.guide.interrupt('checklist', 'onboarding')).toEqual({ ok: true });
  });

  test('an open hotspot counts as one at a time; a beacon whose anchor left is offered again, and it is not a close', async () => {
    const g = setup({
      config: { ...CONFIG, nudges: CONFIG.nudges!.map((n) => (n.id === 'tip' ? { ...n, when: { event: 'feature.used' }, cap: { times: 5, per: '1d' } } : n)) },
    });
    g.track('feature.used', { feature: 'reports.create' }); // the tip applies; the others don't yet
    await g.tick();
    g.host.shown('tip', '#tip'); // the user opened the beacon
    g.track('feature.used', { feature: 'dataset.ingest' });
    await g.tick();
    expect(g.host.state().nudge).toBeUndefined();
    expect(g.guide.explain('invite-team').summary).toBe('blocked by one at a time: hotspot "tip" is open');
    // The page re-rendered the element the beacon was attached to.
    g.host.closed('tip', 'anchor-removed');
    expect(g.host.state().hotspots).toEqual([]); // that beacon is gone…
    await g.tick();
    expect(g.host.state().hotspots.map((h) => h.id)).toEqual(['tip']); // …and a new one is offered
    expect(g.host.state().nudge?.id).toBe('invite-team'); // no quiet period: the user closed nothing
    expect(g.names()).not.toContain('nudge.acted');
  });

  test('a nudge the host app removed from the page is not a close by the user: no quiet period, not stuck', async () => {
    const g = setup();
    g.track('feature.used', { feature: 'dataset.ingest' });
    await g.tick();
    g.host.shown('reports-unused', null);
    g.host.closed('reports-unused', 'disconnected');
    await g.tick();
    expect(g.host.state().nudge?.id).toBe('invite-team');
    expect(g.guide.explain('reports-unused').summary).toBe('blocked by anchor: the host app removed it from /'); // not on this page again
  });

  test('a checklist that reopened itself is one at a time until the user closes it (then the quiet period) or leaves the page', async () => {
    const g = setup();
    expect(g.guide.interrupt('checklist', 'onboarding')).toEqual({ ok: true });
    g.track('feature.used', { feature: 'dataset.ingest' });
    await g.tick();
    expect(g.host.state().nudge).toBeUndefined();
    expect(g.guide.explain('reports-unused').summary).toBe(
      'blocked by one at a time: checklist "onboarding" reopened itself to show a failed item (until the user closes it, leaves the page, or 09:10:00 UTC)',
    );
    g.guide.settled('elsewhere'); // not the one that reopened: nothing changes
    expect(g.guide.explain('reports-unused').summary).toMatch(/^blocked by one at a time/);
    g.guide.settled('onboarding'); // the user collapsed it
    await g.tick();
    expect(g.guide.explain('reports-unused').summary).toMatch(/^blocked by quiet period: 10m left/);
    await g.tick(10 * MIN + 100);
    expect(g.host.state().nudge?.id).toBe('reports-unused');

    const h = setup();
    h.guide.interrupt('checklist', 'onboarding');
    h.track('feature.used', { feature: 'dataset.ingest' });
    await h.tick();
    h.state.path = '/reports'; // left the page without closing it
    h.guide.schedule();
    await h.tick();
    expect(h.host.state().nudge?.id).toBe('reports-unused');

    const late = setup(); // collapsed long after the hold ended: no new quiet period
    late.guide.interrupt('checklist', 'onboarding');
    await late.tick(60 * MIN);
    late.guide.settled('onboarding');
    late.track('feature.used', { feature: 'dataset.ingest' });
    await late.tick();
    expect(late.host.state().nudge?.id).toBe('reports-unused');

    const k = setup(); // left open on the same page: it holds the others back for a quiet period at most
    k.guide.interrupt('checklist', 'onboarding');
    k.track('feature.used', { feature: 'dataset.ingest' });
    await k.tick(9 * MIN);
    expect(k.host.state().nudge).toBeUndefined();
    await k.tick(MIN + 100); // the engine woke itself when the hold ended
    expect(k.host.state().nudge?.id).toBe('reports-unused');
  });

  test('a nudge chosen but not on screen yet is withdrawn when the page changes, and decided again there', async () => {
    const g = setup({
      config: {
        ...CONFIG,
        nudges: [{ ...CONFIG.nudges![1]!, when: { all: [{ event: 'feature.used', where: { feature: 'dataset.ingest' } }, { page: '/' }] } }],
      },
    });
    g.track('feature.used', { feature: 'dataset.ingest' });
    await g.tick();
    expect(g.host.state().nudge?.id).toBe('invite-team'); // offered: the UI waits (anchor, typing)
    g.state.path = '/reports';
    g.guide.schedule();
    await g.tick();
    expect(g.host.state().nudge).toBeUndefined();
    expect(g.guide.explain('invite-team').summary).toMatch(/^blocked by when/);
  });

  test('a link action opens http(s) and paths on this site only', () => {
    const opened: string[] = [];
    const g = setup({ openLink: (h) => void opened.push(h) });
    for (const link of [
      '/reports',
      'https://docs.acme.example/x',
      'javascript:alert(1)',
      '//evil.example',
      '/\\evil.example',
      '/\t/evil.example',
      'data:text/html,x',
      'https://',
      'https:///evil.example',
    ]) {
      g.host.acted('invite-team', { label: 'Go', link });
    }
    expect(opened).toEqual(['/reports', 'https://docs.acme.example/x']);
  });

  test('without a UI module the engine still decides and says why nothing shows', async () => {
    const g = setup({ loader: undefined });
    g.track('feature.used', { feature: 'dataset.ingest' });
    await g.tick();
    expect(g.guide.explain('reports-unused').summary).toBe('blocked by ui: no UI to show it: pass ui: () => import("@keel/nudge-widget/ui") to init()');
  });
});

describe('recipes', () => {
  test('start, click/next/event advance, back, completion: events, synced progress, the checklist item it serves', async () => {
    const g = setup();
    expect(g.guide.recipes.start('nope')).toEqual({ ok: false, reason: 'no recipe "nope" in the published config (recipes: first-report)' });
    expect(g.guide.recipes.start('first-report', { source: 'checklist:onboarding/first-report' })).toEqual({ ok: true });
    expect(g.host.state().step).toMatchObject({ recipeId: 'first-report', index: 0, total: 3, advance: 'click', anchor: ['nav a[href="/reports"]'] });
    expect(g.progress.get('recipe:first-report')).toMatchObject({ state: 'started', data: { step: 0, active: true } });
    g.host.recipe.next('click');
    const s2 = g.host.state().step!;
    expect([s2.index, s2.waitingForRoute]).toEqual([1, '/reports']); // waits for its route
    g.state.path = '/reports';
    await g.tick(300); // the engine watches the path while a step waits for it
    expect(g.host.state().step?.waitingForRoute).toBeUndefined();
    g.host.recipe.back();
    expect(g.host.state().step?.index).toBe(0);
    g.host.recipe.next('click');
    g.host.recipe.next('next');
    expect(g.host.state().step).toMatchObject({ index: 2, advance: 'event' });
    g.track('feature.used', { feature: 'dataset.ingest' }); // not the one it waits for
    expect(g.host.state().step?.index).toBe(2);
    g.track('feature.used', { feature: 'reports.create' });
    expect(g.host.state().step).toBeUndefined();
    expect(g.progress.get('recipe:first-report')).toMatchObject({ state: 'completed' });
    expect(g.state.completed).toEqual(['first-report']);
    expect(g.tracked.filter(([e]) => e.startsWith('recipe.')).map(([e, p]) => `${e}:${String(p.step ?? '')}:${String(p.how ?? p.source ?? '')}`)).toEqual([
      'recipe.started:1:checklist:onboarding/first-report',
      'recipe.step_completed:1:click',
      'recipe.step_completed:1:click',
      'recipe.step_completed:2:next',
      'recipe.step_completed:3:event',
      'recipe.completed::',
    ]);
  });

  test('a running recipe blocks nudges; exit keeps the step; a reload (new engine, same storage) resumes a running one', async () => {
    const storage = new MemoryStorage();
    const g = setup({ storage });
    g.guide.recipes.start('first-report');
    g.host.recipe.next('click');
    g.track('feature.used', { feature: 'dataset.ingest' });
    await g.tick();
    expect(g.host.state().nudge).toBeUndefined();
    expect(g.guide.explain('invite-team').summary).toBe('blocked by one at a time: recipe "first-report" is running (step 2 of 3)');
    g.guide.dispose();

    const after = setup({ storage }); // a reload or a new tab: same localStorage
    after.guide.resume();
    expect(after.host.state().step).toMatchObject({ recipeId: 'first-report', index: 1 });
    expect(after.tracked.at(-1)).toEqual(['recipe.resumed', { recipe: 'first-report', step: 2, steps: 3 }]);
    after.host.recipe.exit();
    expect(after.host.state().step).toBeUndefined();
    expect(after.progress.get('recipe:first-report')?.data).toEqual({ step: 1, active: false });
    after.guide.dispose();

    const again = setup({ storage });
    again.guide.resume();
    expect(again.host.state().step).toBeUndefined(); // exited: not resumed by itself
    again.guide.recipes.start('first-report');
    expect(again.host.state().step?.index).toBe(1); // …but started again where it was left
  });

  test('two tabs on one walkthrough: a step taken or an exit in one is followed by the other', async () => {
    const storage = new MemoryStorage();
    const a = setup({ storage });
    const b = setup({ storage });
    a.guide.recipes.start('first-report');
    b.guide.reload(); // the storage event
    await b.tick();
    expect(b.host.state().step).toMatchObject({ recipeId: 'first-report', index: 0 });
    a.host.recipe.next('click');
    b.guide.reload();
    expect(b.host.state().step).toMatchObject({ recipeId: 'first-report', index: 1 });
    a.host.recipe.exit();
    b.guide.reload();
    await b.tick();
    expect(b.host.state().step).toBeUndefined();
    expect(b.guide.recipes.active).toBeUndefined();
    expect(b.names().filter((e) => e.startsWith('recipe.') && e !== 'recipe.resumed')).toEqual([]); // the tab that acted tracked it, once
    // Finished in one tab: the other stops too, and does not pick it up again from its own progress.
    b.guide.recipes.start('first-report');
    a.guide.reload();
    await a.tick();
    expect(a.host.state().step?.index).toBe(1);
    b.host.recipe.next('next');
    b.host.recipe.next('next');
    expect(b.tracked.some(([e]) => e === 'recipe.completed')).toBe(true);
    a.guide.reload();
    await a.tick(100);
    expect(a.host.state().step).toBeUndefined();
    b.guide.reload();
    await b.tick(100);
    expect(b.host.state().step).toBeUndefined();
    a.guide.dispose();
    b.guide.dispose();
  });

  test('skipping a step still finishes the walkthrough, but says so: the completion carries how many were skipped', () => {
    const g = setup();
    g.guide.recipes.start('first-report');
    g.host.recipe.skip();
    g.host.recipe.next('next');
    g.host.recipe.next('next');
    expect(g.progress.get('recipe:first-report')).toMatchObject({ state: 'completed', data: { step: 3, active: false, skipped: 1 } });
    expect(g.tracked.find(([e]) => e === 'recipe.completed')?.[1]).toEqual({ recipe: 'first-report', steps: 3, skipped: 1 });
  });

  test('a running recipe resumes once the config that names it arrives (the engine can start before it)', async () => {
    const storage = new MemoryStorage();
    storage.setItem('keel-guide:test', JSON.stringify({ v: 1, shown: [], recipe: { id: 'first-report', step: 1, active: true, at: T0 - MIN } }));
    const g = setup({ storage, config: { version: 1 } });
    g.guide.resume();
    expect(g.host.state().step).toBeUndefined();
    g.state.config = CONFIG;
    g.guide.schedule();
    await g.tick();
    expect(g.host.state().step).toMatchObject({ recipeId: 'first-report', index: 1 });
  });

  test('a recipe left running on another device resumes from the synced progress', () => {
    const g = setup();
    g.progress.set('recipe:first-report', {
      scope: 'user',
      kind: 'recipe',
      ref: 'first-report',
      state: 'started',
      updatedAt: new Date(T0 - MIN).toISOString(),
      data: { step: 2, active: true },
    });
    g.guide.resume();
    expect(g.host.state().step).toMatchObject({ index: 2, advance: 'event' });
  });

  test('the lifecycle state can refuse a recipe, with the reason', () => {
    const g = setup({ lifecycle: { state: 'at-risk', allows: ['nudge:help-*'] } });
    expect(g.guide.recipes.start('first-report', { source: 'api' })).toEqual({
      ok: false,
      reason: '"recipe:first-report" is not allowed in lifecycle state "at-risk"',
    });
    expect(g.tracked).toEqual([['lifecycle.action_refused', { action: 'recipe:first-report', state: 'at-risk', source: 'api' }]]);
  });

  test('a nudge action opens its recipe, which replaces the nudge', async () => {
    const g = setup();
    g.track('feature.used', { feature: 'dataset.ingest' });
    await g.tick();
    g.host.shown('reports-unused', null);
    g.host.acted('reports-unused', { label: 'Show me', recipe: 'first-report' });
    expect(g.host.state().nudge).toBeUndefined();
    expect(g.host.state().step?.recipeId).toBe('first-report');
    expect(g.tracked.find(([e]) => e === 'recipe.started')?.[1]).toMatchObject({ source: 'nudge:reports-unused' });
  });
});

test('a ledger someone broke is read as a fresh one', () => {
  expect(parseLedger('{nope', T0)).toMatchObject({ v: 1, shown: [], closedAt: 0 });
  expect(parseLedger(JSON.stringify({ v: 1, shown: [{ id: 1 }, { kind: 'nudge', id: 'a', at: 5 }], snoozed: { a: 'x', b: 9 } }), T0)).toMatchObject({
    shown: [{ kind: 'nudge', id: 'a', at: 5, interrupting: true }],
    snoozed: { b: 9 },
  });
});

test('explainLine names the first failing clause, or says the rule holds', () => {
  expect(explainLine({ ok: true, clause: 'all of 2' })).toBe('holds: all of 2');
  expect(
    explainLine({
      ok: false,
      clause: 'any of 2',
      children: [
        { ok: false, clause: 'page', actual: '/', expected: 'matches "/r"' },
        { ok: false, clause: 'x', reason: 'missing' },
      ],
    }),
  ).toBe('none of 2 holds; the first: page is "/" (needs matches "/r")');
});
