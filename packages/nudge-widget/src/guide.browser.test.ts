// The guidance engine (Keel.init) with its lazily loaded UI (./ui), in Chromium, against the real
// ingest API: one fatigue budget (two eligible nudges → one shown, the other after the quiet
// period), nudge actions, hotspots from the keyboard, a recipe from start to the checklist item it
// completes (progress stored by the server), the decision trace and the ?keel_debug overlay.
import { type ClientConfig, init, type Keel } from '@keel/sdk-core';
import { inHoldout } from '@keel/sdk-core/engine';
import { afterEach, beforeEach, expect, inject, test, vi } from 'vitest';
import { userEvent } from 'vitest/browser';
import { adminCall } from '../../../config/browser-admin.js';
import type { KeelNudge } from './nudge.js';
import type { KeelRecipe } from './recipe.js';
import { axeClean, frame } from './test-helpers.js';

const { url, writeKey, adminKey, tokens } = inject('ingestGuide');
let users = 0;
const clients: Keel[] = [];

beforeEach(async () => {
  localStorage.clear();
  await new Promise((r) => {
    const q = indexedDB.deleteDatabase(`keel-state:${writeKey}`);
    q.onsuccess = q.onerror = q.onblocked = r;
  });
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.shutdown();
  document.body.replaceChildren();
});

async function publish(config: ClientConfig) {
  const res = await adminCall(url, adminKey, '/v1/admin/config', { config, actor: 'guide-test' });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
}

/** Keel.init for a user of its own (progress on the server starts empty), with the UI module loaded lazily. */
async function start(opts: Partial<Parameters<typeof init>[0]> = {}) {
  const user = `guide-${++users}`;
  const tracked: { event: string; properties: Record<string, unknown> }[] = [];
  let loads = 0;
  const keel = init({
    writeKey,
    host: url,
    userToken: tokens[user]!,
    telemetry: { dbName: `keel-guide-${crypto.randomUUID()}`, flushInterval: 50, autocapture: false },
    ui: () => (loads++, import('./ui.js')),
    ...opts,
  });
  clients.push(keel);
  keel.telemetry.subscribe((m) => {
    if (m.type === 'track' && m.event) tracked.push({ event: m.event, properties: (m.properties ?? {}) as Record<string, unknown> });
  });
  await keel.ready;
  return { keel, tracked, user, loads: () => loads, events: (name: string) => tracked.filter((t) => t.event === name).map((t) => t.properties) };
}

const nudgeEl = (id: string) => document.querySelector<KeelNudge>(`keel-nudge[nudge-id="${id}"]`);
const panelOf = (el: Element | null) => el?.shadowRoot?.querySelector<HTMLElement>('.panel') ?? null;
const onScreen = (id: string) => !!panelOf(nudgeEl(id))?.matches(':popover-open, [open]');
const recipeEl = () => document.querySelector<KeelRecipe>('keel-recipe');
const stepOpen = () => !!panelOf(recipeEl())?.matches(':popover-open');
const stepText = (sel: string) => recipeEl()?.shadowRoot?.querySelector(sel)?.textContent?.replace(/\s+/g, ' ').trim();

const INGESTED = { event: 'feature.used', where: { feature: 'dataset.ingest' } };

test('two eligible nudges: the higher priority one shows, the other only after the quiet period; the UI module loads on first need', async () => {
  await publish({
    version: 1,
    product: 'acme',
    nudges: [
      {
        id: 'reports-unused',
        kind: 'tooltip',
        anchor: ['[data-keel="reports-nav"]', 'nav a[href="/reports"]'],
        title: 'Turn this data into a report',
        body: 'Teams like yours save **3 hours a week**.',
        priority: 50,
        when: INGESTED,
      },
      {
        id: 'invite-team',
        kind: 'banner',
        title: 'Bring your team',
        body: 'Invite a teammate.',
        priority: 10,
        when: INGESTED,
        actions: [{ label: 'Not now', snooze: '3d' }],
      },
    ],
  });
  document.body.insertAdjacentHTML('beforeend', '<nav><a href="/reports">Reports</a></nav><main><button id="work">work</button></main>');
  const g = await start({ fatigue: { quietMs: 1500 } });
  expect(g.loads()).toBe(0); // nothing to show yet: the UI chunk has not been fetched
  expect((await g.keel.debug.explain('reports-unused')).summary).toMatch(/^blocked by when: at least 1 "feature.used" where feature = "dataset.ingest" is 0/);
  document.getElementById('work')!.focus();
  g.keel.track('feature.used', { feature: 'dataset.ingest' });
  await expect.poll(() => onScreen('reports-unused')).toBe(true);
  expect(g.loads()).toBe(1);
  expect(nudgeEl('invite-team')).toBeNull();
  expect((await g.keel.debug.explain('invite-team')).summary).toBe('blocked by one at a time: nudge "reports-unused" is on screen');
  expect(g.events('nudge.sent')).toEqual([
    { nudge: 'reports-unused', kind: 'tooltip', anchor: 'nav a[href="/reports"]', priority: 50, version: expect.any(Number) },
  ]);
  await axeClean(nudgeEl('reports-unused')!);

  // The user closes it: the other one waits for the quiet period, then shows.
  const closedAt = performance.now();
  nudgeEl('reports-unused')!.shadowRoot!.querySelector<HTMLButtonElement>('.close')!.click();
  expect(document.activeElement).toBe(document.getElementById('work')); // focus went back
  await new Promise((r) => setTimeout(r, 300));
  expect(onScreen('invite-team')).toBe(false);
  expect((await g.keel.debug.explain('invite-team')).summary).toMatch(/^blocked by quiet period: \ds left after the last close/);
  await expect.poll(() => onScreen('invite-team'), { timeout: 5000 }).toBe(true);
  expect(performance.now() - closedAt).toBeGreaterThanOrEqual(1400);
  expect(g.events('nudge.acted')).toEqual([{ nudge: 'reports-unused', kind: 'tooltip', action: 'close', via: 'close' }]);
  expect((await g.keel.debug.explain('reports-unused')).summary).toBe('blocked by nudge cap: shown 1 of 1 time in 1d (the default cap)');
  await axeClean(nudgeEl('invite-team')!);

  // Its action snoozes it; nothing else is eligible.
  nudgeEl('invite-team')!.shadowRoot!.querySelector<HTMLButtonElement>('.actions button')!.click();
  expect(g.events('nudge.acted').at(-1)).toEqual({ nudge: 'invite-team', kind: 'banner', action: 'snooze', label: 'Not now' });
  await expect.poll(() => nudgeEl('invite-team')).toBeNull();
  expect((await g.keel.debug.explain('invite-team')).summary).toMatch(/^blocked by snoozed: snoozed for 3d more/);
  expect(g.loads()).toBe(1);
});

test('a modal never opens over a focused text field, and opens when the user leaves it; the host app can veto a nudge', async () => {
  await publish({
    version: 1,
    product: 'acme',
    nudges: [
      { id: 'welcome', kind: 'modal', title: 'Welcome', body: 'Here is what is new.', when: INGESTED, actions: [{ label: 'Got it' }] },
      { id: 'vetoed', kind: 'banner', body: 'Never seen', priority: 99, when: INGESTED },
    ],
  });
  document.body.insertAdjacentHTML('beforeend', '<label>Search <input id="q" type="search"></label><button id="other">other</button>');
  document.addEventListener(
    'keel-nudge-show',
    (e) => {
      if (e.detail.nudgeId === 'vetoed') e.preventDefault();
    },
    { once: true },
  );
  const g = await start();
  document.getElementById('q')!.focus();
  g.keel.track('feature.used', { feature: 'dataset.ingest' });
  await new Promise((r) => setTimeout(r, 200));
  expect(onScreen('welcome')).toBe(false);
  expect((await g.keel.debug.explain('welcome')).summary).toBe('blocked by typing: the user is typing in <input #q>');
  document.getElementById('other')!.focus();
  // The vetoed one (priority 99) goes first and is prevented by the host app; then the modal shows.
  await expect.poll(() => onScreen('welcome')).toBe(true);
  expect((await g.keel.debug.explain('vetoed')).summary).toBe('blocked by anchor: the host app prevented it on / (keel-nudge-show was cancelled)');
  const dialog = panelOf(nudgeEl('welcome')) as HTMLDialogElement;
  expect(dialog.matches(':modal')).toBe(true); // the page behind is inert
  await axeClean(nudgeEl('welcome')!);
  await userEvent.keyboard('{Escape}');
  await expect.poll(() => onScreen('welcome')).toBe(false);
  expect(document.activeElement).toBe(document.getElementById('other'));
  expect(g.events('nudge.acted')).toEqual([{ nudge: 'welcome', kind: 'modal', action: 'close', via: 'escape' }]);
});

test('a hotspot is a beacon reachable from the keyboard: Enter opens it, focus moves in, Escape returns to the beacon', async () => {
  await publish({
    version: 1,
    product: 'acme',
    // A cap above one, so the beacon stays after the tip closes (the next test is the capped case).
    nudges: [
      {
        id: 'filters-tip',
        kind: 'hotspot',
        anchor: '#filters',
        title: 'Filters',
        body: 'Narrow a report with *filters*.',
        when: { page: '/**' },
        cap: { times: 5, per: '1d' },
      },
    ],
  });
  document.body.insertAdjacentHTML('beforeend', '<button id="filters">Filters</button>');
  const g = await start();
  const beacon = () => nudgeEl('filters-tip')?.shadowRoot?.querySelector<HTMLButtonElement>('.beacon') ?? null;
  await expect.poll(() => beacon()?.matches(':popover-open')).toBe(true);
  expect(g.events('nudge.sent')).toEqual([]); // a beacon is not an interruption: nothing is "sent" until opened
  expect(beacon()!.getAttribute('aria-label')).toBe('Tip: Filters');
  await axeClean(nudgeEl('filters-tip')!);
  beacon()!.focus();
  await userEvent.keyboard('{Enter}');
  await expect.poll(() => onScreen('filters-tip')).toBe(true);
  expect(nudgeEl('filters-tip')!.shadowRoot!.activeElement?.localName).toBe('h2');
  expect(g.events('nudge.sent')).toEqual([
    { nudge: 'filters-tip', kind: 'hotspot', anchor: null, priority: 0, opened: 'by the user', version: expect.any(Number) },
  ]);
  await axeClean(nudgeEl('filters-tip')!);
  await userEvent.keyboard('{Escape}');
  await expect.poll(() => onScreen('filters-tip')).toBe(false);
  expect(nudgeEl('filters-tip')!.shadowRoot!.activeElement).toBe(beacon());
});

test('a hotspot capped as it closes (the default, once a day) hands keyboard focus to its anchor, not to <body>', async () => {
  await publish({
    version: 1,
    product: 'acme',
    nudges: [{ id: 'filters-tip', kind: 'hotspot', anchor: '#filters', title: 'Filters', body: 'Narrow a report.', when: { page: '/**' } }],
  });
  document.body.insertAdjacentHTML('beforeend', '<button id="filters">Filters</button>');
  await start();
  const beacon = () => nudgeEl('filters-tip')?.shadowRoot?.querySelector<HTMLButtonElement>('.beacon') ?? null;
  await expect.poll(() => beacon()?.matches(':popover-open')).toBe(true);
  beacon()!.focus();
  await userEvent.keyboard('{Enter}');
  await expect.poll(() => onScreen('filters-tip')).toBe(true);
  await userEvent.keyboard('{Escape}');
  // Seen once today: the engine retires the tip, and its beacon goes with it.
  await expect.poll(() => nudgeEl('filters-tip')).toBe(null);
  expect(document.activeElement).toBe(document.getElementById('filters'));
});

test('an error mapped to a repair shows it in place when it happens (a nudge the engine chooses and explains); its retry reaches the host app and the outcome is tracked', async () => {
  await publish({
    version: 1,
    product: 'acme',
    errors: [
      {
        id: 'no-dataset',
        match: { code: 'E_NO_DATASET' },
        anchor: '#new-report',
        title: 'This report needs data',
        body: 'Import a dataset first, then try again.',
        actions: [{ label: 'Try again', event: 'report.retry' }],
      },
      { id: 'other', match: { code: 'E_OTHER' }, body: 'Never shown here.' },
    ],
  } as ClientConfig);
  document.body.insertAdjacentHTML('beforeend', '<main><button id="new-report">New report</button></main>');
  const g = await start();
  const heard: unknown[] = [];
  document.addEventListener('keel-nudge-action', (e) => heard.push(e.detail.action.event));
  expect((await g.keel.debug.explain('repair-no-dataset')).summary).toMatch(/^blocked by when: at least 1 "error.raised" where code = "E_NO_DATASET"/);
  g.keel.track('error.raised', { code: 'E_NO_DATASET', message: 'no dataset' });
  await expect.poll(() => onScreen('repair-no-dataset')).toBe(true);
  const el = nudgeEl('repair-no-dataset')!;
  expect(el.shadowRoot!.querySelector('.body')!.textContent).toContain('Import a dataset first');
  expect(nudgeEl('repair-other')).toBeNull();
  expect(g.events('nudge.sent')).toEqual([{ nudge: 'repair-no-dataset', kind: 'tooltip', anchor: '#new-report', priority: 100, version: expect.any(Number) }]);
  await axeClean(el);
  // By keyboard: focus is in the tip; Tab to its button and press it.
  await userEvent.keyboard('{Tab}');
  expect(el.shadowRoot!.activeElement?.textContent).toBe('Try again');
  await userEvent.keyboard('{Enter}');
  await expect.poll(() => onScreen('repair-no-dataset')).toBe(false);
  expect(heard).toEqual(['report.retry']);
  expect(g.events('nudge.acted')).toEqual([{ nudge: 'repair-no-dataset', kind: 'tooltip', action: 'event', label: 'Try again' }]);
  expect(g.events('report.retry')).toEqual([{ nudge: 'repair-no-dataset' }]);
});

test('a recipe from its checklist item: click, Next and event steps, a late anchor, one in a shadow root; completion completes the item, on the server too', async () => {
  await publish({
    version: 1,
    product: 'acme',
    checklists: [
      {
        id: 'onboarding',
        title: 'Get started',
        items: [
          { id: 'first-report', title: 'Ship your first report', complete: { event: 'report.shipped' }, launch: { label: 'Show me', recipe: 'first-report' } },
        ],
      },
    ],
    recipes: [
      {
        id: 'first-report',
        title: 'Create your first report',
        steps: [
          { anchor: 'nav a[href="/reports"]', title: 'Open Reports', text: 'Open **Reports**.', advance: 'click' },
          { anchor: '[data-keel="new-report"]', text: 'Start a new report.', advance: 'next' },
          { anchor: '#save', text: 'Give it a name and save it.', advance: { event: 'feature.used', where: { feature: 'reports.create' } } },
        ],
      },
    ],
  });
  document.body.insertAdjacentHTML(
    'beforeend',
    '<nav><a href="/reports" id="nav-reports">Reports</a></nav><button id="launcher">Show me</button><div id="shell"></div>',
  );
  document.getElementById('nav-reports')!.addEventListener('click', (e) => e.preventDefault()); // an SPA link
  const shell = document.getElementById('shell')!.attachShadow({ mode: 'open' });
  shell.innerHTML = '<button data-keel="new-report">New report</button>';
  const g = await start();
  document.getElementById('launcher')!.focus();
  g.keel.act('onboarding', 'first-report', 'launch', { label: 'Show me', recipe: 'first-report' });
  await expect.poll(() => stepOpen()).toBe(true);
  expect(g.loads()).toBe(1);
  expect(stepText('[part~="progress"]')).toBe('Step 1 of 3 · Create your first report');
  expect(stepText('[role="status"]')).toBe('Step 1 of 3: Open Reports');
  expect(recipeEl()!.shadowRoot!.activeElement?.localName).toBe('h2');
  expect(g.events('recipe.started')).toEqual([{ recipe: 'first-report', source: 'checklist:onboarding/first-report', step: 1, steps: 3, resumed: false }]);
  await axeClean(recipeEl()!);

  document.getElementById('nav-reports')!.click();
  await expect.poll(() => stepText('[part~="progress"]')).toBe('Step 2 of 3');
  await expect.poll(() => stepOpen()).toBe(true);
  await frame();
  const anchor = shell.querySelector('button')!.getBoundingClientRect();
  expect(panelOf(recipeEl())!.getBoundingClientRect().top).toBeGreaterThanOrEqual(anchor.bottom);
  setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<button id="save">Save</button>'), 2000);
  [...recipeEl()!.shadowRoot!.querySelectorAll('button')].find((b) => b.textContent!.trim() === 'Next')!.click();
  await expect.poll(() => stepText('[part~="progress"]')).toBe('Step 3 of 3');
  expect(stepOpen()).toBe(false); // waiting for #save
  await expect.poll(() => stepOpen(), { timeout: 4000 }).toBe(true);
  // The recipe's completion is the evidence for the item: hold its PUT back, so a client that sent
  // the item's completion alongside (not after) it would have the item refused as unproven.
  const realFetch = globalThis.fetch;
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const body = typeof init?.body === 'string' ? init.body : '';
    if (init?.method === 'PUT' && /"kind":"recipe"[^}]*"state":"completed"/.test(body)) await new Promise((r) => setTimeout(r, 400));
    return realFetch(input, init);
  });
  g.keel.track('feature.used', { feature: 'reports.create' });
  await expect.poll(() => stepOpen()).toBe(false);
  expect(g.keel.recipes.active).toBeUndefined();
  expect(g.events('recipe.step_completed').map((p) => `${String(p.step)}:${String(p.how)}`)).toEqual(['1:click', '2:next', '3:event']);
  expect(g.events('recipe.completed')).toEqual([{ recipe: 'first-report', steps: 3 }]);
  expect(document.activeElement).toBe(document.getElementById('launcher'));
  // The checklist item it serves is done, and said so.
  expect(g.keel.checklist('onboarding')?.items[0]?.state).toBe('done');
  expect(g.events('checklist.item_completed')).toEqual([{ checklist: 'onboarding', item: 'first-report', scope: 'user' }]);
  await expect
    .poll(async () => {
      const res = await fetch(`${url}/v1/progress`, { headers: { authorization: `Bearer ${tokens[g.user]}` } });
      const body = (await res.json()) as { user: { kind: string; ref: string; state: string }[] };
      return body.user.map((e) => `${e.kind}:${e.ref}:${e.state}`).sort();
    })
    .toEqual(['checklist:onboarding/first-report:completed', 'recipe:first-report:completed']);
  expect(spy.mock.calls.filter(([, i]) => i?.method === 'PUT').length).toBeGreaterThan(0);
  spy.mockRestore();
});

test('keel.recipes.start refuses what the config lacks, with the reason; a running recipe holds back nudges; ✕ exits and keeps the step', async () => {
  await publish({
    version: 1,
    product: 'acme',
    nudges: [{ id: 'later', kind: 'banner', body: 'Later', when: INGESTED }],
    recipes: [{ id: 'tour', title: 'Tour', steps: [{ text: 'One' }, { text: 'Two' }] }],
  });
  const g = await start();
  expect(await g.keel.recipes.start('nope')).toEqual({ ok: false, reason: 'no recipe "nope" in the published config (recipes: tour)' });
  expect(await g.keel.recipes.start('tour')).toEqual({ ok: true });
  await expect.poll(() => stepOpen()).toBe(true);
  expect(panelOf(recipeEl())!.classList.contains('centered')).toBe(true);
  g.keel.track('feature.used', { feature: 'dataset.ingest' });
  await new Promise((r) => setTimeout(r, 200));
  expect(nudgeEl('later')).toBeNull();
  expect((await g.keel.debug.explain('later')).summary).toBe('blocked by one at a time: recipe "tour" is running (step 1 of 2)');
  [...recipeEl()!.shadowRoot!.querySelectorAll('button')].find((b) => b.textContent!.trim() === 'Next')!.click();
  await expect.poll(() => g.keel.recipes.active).toEqual({ id: 'tour', step: 2, total: 2 });
  recipeEl()!.shadowRoot!.querySelector<HTMLButtonElement>('.close')!.click();
  await expect.poll(() => stepOpen()).toBe(false);
  expect(g.events('recipe.exited')).toEqual([{ recipe: 'tour', step: 2, steps: 2, reason: 'exited' }]);
  expect(await g.keel.recipes.start('tour')).toEqual({ ok: true });
  expect(g.keel.recipes.active).toEqual({ id: 'tour', step: 2, total: 2 }); // where the user left it
});

test('?keel_debug=1: an overlay lists every nudge, eligible or blocked, with the reasons and each check', async () => {
  await publish({
    version: 1,
    product: 'acme',
    nudges: [
      { id: 'shown-one', kind: 'banner', body: 'Hello', when: { page: '/**' } },
      { id: 'needs-data', kind: 'banner', body: 'Later', when: INGESTED },
    ],
  });
  const g = await start({ debug: true });
  const overlay = () => document.querySelector('keel-debug');
  await expect.poll(() => overlay()?.shadowRoot?.querySelectorAll('li').length).toBe(2);
  const lines = () => [...overlay()!.shadowRoot!.querySelectorAll('summary')].map((s) => s.textContent!.replace(/\s+/g, ' ').trim());
  await expect.poll(() => lines()[0]).toMatch(/^● shown-one: on screen since \d\d:\d\d:\d\d UTC$/);
  expect((await g.keel.debug.report()).budget.session).toEqual({ count: 1, limit: 3 });
  expect(lines()[1]).toBe('✕ needs-data: blocked by when: at least 1 "feature.used" where feature = "dataset.ingest" is 0 (needs at least 1)');
  const checks = [...overlay()!.shadowRoot!.querySelectorAll('li')[1]!.querySelectorAll('tr')].map((r) =>
    [...r.cells].map((c) => c.textContent!.trim()).join(' '),
  );
  expect(checks).toContain('✓ session cap 1 of 3 interruptions this session');
  expect(checks).toContain('✕ when at least 1 "feature.used" where feature = "dataset.ingest" is 0 (needs at least 1)');
  expect(overlay()!.shadowRoot!.querySelector('.panel')!.matches(':popover-open')).toBe(true);
  await axeClean(overlay()!);
});

test('an anchor that never appears: skipped with anchor.missing on the wire, the next nudge shows; a re-rendered beacon anchor gets its beacon back', async () => {
  await publish({
    version: 1,
    product: 'acme',
    nudges: [
      { id: 'ghost', kind: 'tooltip', anchor: ['#never-there', '.nor-this'], body: 'Pointing at nothing', priority: 50, when: INGESTED },
      { id: 'next-up', kind: 'banner', body: 'Shown instead', priority: 10, when: INGESTED },
      { id: 'export-tip', kind: 'hotspot', anchor: '#export', title: 'Export', body: 'Export as CSV.', when: INGESTED },
    ],
  });
  document.body.insertAdjacentHTML('beforeend', '<div id="toolbar"><button id="export">Export</button></div>');
  const g = await start();
  g.keel.track('feature.used', { feature: 'dataset.ingest' });
  const beacon = () => nudgeEl('export-tip')?.shadowRoot?.querySelector<HTMLElement>('.beacon') ?? null;
  await expect.poll(() => beacon()?.matches(':popover-open')).toBe(true);
  // The toolbar re-renders: the beacon goes with its anchor and comes back on the new one.
  const old = nudgeEl('export-tip');
  document.getElementById('toolbar')!.replaceChildren(Object.assign(document.createElement('button'), { id: 'export', textContent: 'Export' }));
  await expect.poll(() => nudgeEl('export-tip') !== old && beacon()?.matches(':popover-open')).toBe(true);
  expect(old!.isConnected).toBe(false);
  // The tooltip's anchor never appears (the UI waits 5 s): skipped, reported, and the banner goes next.
  await expect
    .poll(() => g.events('anchor.missing'), { timeout: 8000 })
    .toEqual([{ nudge: 'ghost', selectors: ['#never-there', '.nor-this'], waitedMs: expect.any(Number), path: location.pathname }]);
  await expect.poll(() => onScreen('next-up')).toBe(true);
  expect(nudgeEl('ghost')).toBeNull();
  expect((await g.keel.debug.explain('ghost')).summary).toMatch(/^blocked by anchor: not found on \S+ after \d+ ms: "#never-there", ".nor-this"$/);
  expect(g.events('nudge.sent').map((e) => e.nudge)).toEqual(['next-up']);
}, 20_000);

test('a nudge chosen before the user began typing waits for them to stop, even once its anchor is there; not in a background tab', async () => {
  await publish({ version: 1, product: 'acme', nudges: [{ id: 'late-tip', kind: 'tooltip', anchor: '#late', body: 'Over here', when: INGESTED }] });
  document.body.insertAdjacentHTML('beforeend', '<input id="q" type="text"><button id="other">other</button>');
  const visibility = Object.getOwnPropertyDescriptor(Document.prototype, 'visibilityState')!;
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
  try {
    const g = await start();
    g.keel.track('feature.used', { feature: 'dataset.ingest' });
    await expect.poll(async () => (await g.keel.debug.explain('late-tip')).summary).toBe('blocked by page visible: the page is in a background tab');
    Object.defineProperty(document, 'visibilityState', visibility);
    delete (document as { visibilityState?: unknown }).visibilityState;
    document.dispatchEvent(new Event('visibilitychange'));
    await expect.poll(async () => (await g.keel.debug.explain('late-tip')).summary).toBe('chosen; waiting for its anchor to appear');
    const q = document.getElementById('q')!;
    q.focus();
    document.body.insertAdjacentHTML('beforeend', '<button id="late">late</button>');
    await new Promise((r) => setTimeout(r, 400));
    expect(onScreen('late-tip')).toBe(false);
    expect(document.activeElement).toBe(q);
    document.getElementById('other')!.focus();
    await expect.poll(() => onScreen('late-tip')).toBe(true);
  } finally {
    delete (document as { visibilityState?: unknown }).visibilityState;
  }
});

test('the host app removing a nudge (or the recipe element) does not leave the engine stuck', async () => {
  await publish({
    version: 1,
    product: 'acme',
    nudges: [
      { id: 'first', kind: 'banner', body: 'First', priority: 50, when: INGESTED },
      { id: 'second', kind: 'banner', body: 'Second', priority: 10, when: INGESTED },
    ],
    recipes: [{ id: 'tour', title: 'Tour', steps: [{ text: 'One' }, { text: 'Two' }] }],
  });
  const g = await start({ fatigue: { quietMs: 60_000 } });
  g.keel.track('feature.used', { feature: 'dataset.ingest' });
  await expect.poll(() => onScreen('first')).toBe(true);
  nudgeEl('first')!.remove(); // a framework re-render, say
  await expect.poll(() => onScreen('second')).toBe(true); // no quiet period: the user closed nothing
  expect((await g.keel.debug.explain('first')).checks.find((c) => c.check === 'anchor')?.detail).toBe(`the host app removed it from ${location.pathname}`);
  nudgeEl('second')!.shadowRoot!.querySelector<HTMLButtonElement>('.close')!.click();
  expect((await g.keel.recipes.start('tour')).ok).toBe(true);
  await expect.poll(() => stepOpen()).toBe(true);
  recipeEl()!.remove();
  await expect.poll(() => stepOpen()).toBe(true); // put back, the step on screen again
  expect(stepText('h2')).toBe('Tour');
});

test('one budget: a checklist reopening itself for a failed item counts against the same caps as nudges, and holds them back until closed', async () => {
  await publish({
    version: 1,
    product: 'acme',
    fatigue: { perSession: 2 },
    checklists: [
      {
        id: 'onboarding',
        title: 'Setup',
        items: [{ id: 'sso', title: 'SSO', complete: { event: 'sso.ok' }, failed: { event: 'sso.failed' }, recovery: { label: 'Fix it', link: '/sso' } }],
      },
    ],
    nudges: [{ id: 'tip', kind: 'banner', body: 'A tip', when: INGESTED }],
  });
  const g = await start({ fatigue: { quietMs: 2000 } });
  expect(await g.keel.interrupt!('onboarding', 'sso')).toBe(true);
  expect(g.events('checklist.reopened')).toEqual([{ checklist: 'onboarding', item: 'sso', reason: 'failed' }]);
  g.keel.track('feature.used', { feature: 'dataset.ingest' });
  await expect.poll(async () => (await g.keel.debug.explain('tip')).summary).toMatch(/^blocked by one at a time: checklist "onboarding" reopened itself/);
  g.keel.setUiState!('onboarding', { collapsed: true }); // what <keel-checklist> does when the user collapses it
  expect((await g.keel.debug.explain('tip')).summary).toMatch(/^blocked by quiet period: \ds left/);
  await expect.poll(() => onScreen('tip'), { timeout: 4000 }).toBe(true);
  expect((await g.keel.debug.explain('tip')).summary).toMatch(/^on screen since/);
  nudgeEl('tip')!.shadowRoot!.querySelector<HTMLButtonElement>('.close')!.click();
  await expect.poll(async () => (await g.keel.debug.explain('tip')).summary).toBe('blocked by nudge cap: shown 1 of 1 time in 1d (the default cap)');
  await new Promise((r) => setTimeout(r, 2100)); // the quiet period after that close
  expect(await g.keel.interrupt!('onboarding', 'sso')).toBe(false); // two interruptions this session: spent
  expect((await g.keel.debug.report()).budget.session).toEqual({ count: 2, limit: 2 });
}, 15_000);

test('a step that waits for its route shows when an SPA navigation reaches it', async () => {
  const back = location.pathname;
  await publish({
    version: 1,
    product: 'acme',
    recipes: [
      { id: 'spa', title: 'SPA tour', steps: [{ text: 'Go to the reports page.' }, { route: '/spa-reports/**', anchor: '#spa-new', text: 'Start here.' }] },
    ],
  });
  document.body.insertAdjacentHTML('beforeend', '<button id="spa-new">New</button>');
  const g = await start();
  try {
    await g.keel.recipes.start('spa');
    await expect.poll(() => stepOpen()).toBe(true);
    [...recipeEl()!.shadowRoot!.querySelectorAll('button')].find((b) => b.textContent!.trim() === 'Next')!.click();
    await expect.poll(() => g.keel.recipes.active?.step).toBe(2);
    await new Promise((r) => setTimeout(r, 400));
    expect(stepOpen()).toBe(false); // not on its route yet
    history.pushState({}, '', '/spa-reports/new');
    await expect.poll(() => stepOpen()).toBe(true);
    expect(stepText('[part~="progress"]')).toBe('Step 2 of 2');
  } finally {
    history.replaceState({}, '', back);
  }
});

test('a recipe finished by skipping its steps does not complete the checklist item it serves', async () => {
  await publish({
    version: 1,
    product: 'acme',
    checklists: [
      { id: 'onboarding', title: 'Setup', items: [{ id: 'tour', title: 'Take the tour', complete: { event: 'never.happens' }, launch: { recipe: 'tour' } }] },
    ],
    recipes: [{ id: 'tour', title: 'Tour', steps: [{ text: 'One' }, { text: 'Two' }] }],
  });
  const g = await start();
  g.keel.act('onboarding', 'tour', 'launch', { recipe: 'tour' });
  await expect.poll(() => stepOpen()).toBe(true);
  const press = (name: string) => [...recipeEl()!.shadowRoot!.querySelectorAll('button')].find((b) => b.textContent!.trim() === name)!.click();
  press('Skip step');
  await expect.poll(() => stepText('[part~="progress"]')).toBe('Step 2 of 2');
  press('Skip step');
  await expect.poll(() => g.events('recipe.completed')).toEqual([{ recipe: 'tour', steps: 2, skipped: 2 }]);
  expect(g.keel.checklist('onboarding')?.items[0]?.state).toBe('pending');
});

// Holdouts: two users, picked so that the server holds the first out of a 50% holdout and not the second.
let holdoutNudge = '';
const holdoutConfig = (id: string): ClientConfig => ({
  version: 1,
  product: 'acme',
  nudges: [
    { id, kind: 'banner', title: 'Try reports', body: 'Reports save time.', when: INGESTED, goal: { event: 'report.created', within: '7d' }, holdout: 50 },
  ],
});

test('a holdout: the user the server holds out never sees the nudge; the moment it would have shown is tracked as nudge.held_out', async () => {
  const [a, b] = [`guide-${users + 1}`, `guide-${users + 2}`];
  for (let i = 0; !holdoutNudge; i++) if (inHoldout(`holdout-${i}`, a, 50) && !inHoldout(`holdout-${i}`, b, 50)) holdoutNudge = `holdout-${i}`;
  await publish(holdoutConfig(holdoutNudge));
  const held = await start();
  expect(held.user).toBe(a);
  held.keel.identify(a); // outcomes count users by user id: the token's user
  held.keel.track('feature.used', { feature: 'dataset.ingest' });
  await vi.waitFor(
    () => expect(held.events('nudge.held_out')).toEqual([expect.objectContaining({ nudge: holdoutNudge, holdout: 50, version: expect.any(Number) })]),
    { timeout: 5000 },
  );
  await new Promise((r) => setTimeout(r, 300));
  expect(onScreen(holdoutNudge)).toBe(false);
  expect(held.events('nudge.sent')).toEqual([]);
  const trace = await held.keel.debug.explain(holdoutNudge);
  expect(trace.checks.find((c) => c.check === 'holdout')).toMatchObject({
    ok: false,
    detail: 'in the 50% holdout: never shown (its exposure on this page is counted)',
  });
});

test('a holdout: the user not held out sees it as usual; both exposures reach the server, which counts them (pending until the goal window closes)', async () => {
  const shown = await start();
  shown.keel.identify(shown.user);
  shown.keel.track('feature.used', { feature: 'dataset.ingest' });
  await vi.waitFor(() => expect(onScreen(holdoutNudge)).toBe(true), { timeout: 5000 });
  shown.keel.telemetry.flush();
  await vi.waitFor(
    async () => {
      const res = await adminCall(url, adminKey, '/v1/admin/outcomes', undefined, 'GET');
      const text = await res.clone().text();
      expect(res.status, text).toBe(200);
      const o = ((await res.json()) as { outcomes: { id: string; pending: number }[] }).outcomes.find((x) => x.id === holdoutNudge);
      expect(o?.pending).toBe(2);
    },
    { timeout: 10_000, interval: 200 },
  );
});
