import { fixture, html } from '@open-wc/testing-helpers';
import axe from 'axe-core';
import { expect, test, vi } from 'vitest';
import type { KeelChecklist } from './checklist.js';
import './define.js';
import type { ChecklistAction, ChecklistSource, ChecklistView } from './types.js';

const VIEW: ChecklistView = {
  id: 'onboarding',
  title: { en: 'Get Acme running', fr: 'Démarrer avec Acme' },
  items: [
    {
      id: 'sso',
      title: 'Connect SSO',
      state: 'pending',
      dueDay: 7,
      overdue: true,
      launch: { label: 'Set up SSO', link: '/settings/sso' },
      recovery: { label: 'Fix SSO', recipe: 'fix-sso' },
    },
    { id: 'dataset', title: { en: 'Ingest a dataset', fr: 'Importer des données' }, state: 'pending', dueDay: 7 },
    { id: 'report', title: 'Ship a report', state: 'done', dueDay: 14 },
  ],
};

/** A source whose view the test changes, as the engine would. */
function fakeSource(view: ChecklistView) {
  let current = structuredClone(view);
  const listeners = new Set<() => void>();
  const acted: [string, string, string, ChecklistAction][] = [];
  const source: ChecklistSource & { set(f: (v: ChecklistView) => void): void; acted: typeof acted } = {
    checklist: (id) => (id === current.id ? current : undefined),
    subscribe: (fn) => (listeners.add(fn), () => listeners.delete(fn)),
    act: (c, i, k, a) => void acted.push([c, i, k, a]),
    set(f) {
      current = structuredClone(current);
      f(current);
      for (const l of listeners) l();
    },
    acted,
  };
  return source;
}

const shadow = (el: KeelChecklist) => el.shadowRoot!;
const q = <T extends Element = HTMLElement>(el: KeelChecklist, sel: string) => shadow(el).querySelector<T>(sel)!;
const text = (el: KeelChecklist) => shadow(el).textContent!.replace(/\s+/g, ' ').trim();

/** Every state is checked the same way: axe finds nothing, and no inline style (strict CSP). */
async function axeClean(el: KeelChecklist) {
  const r = await axe.run(el, { resultTypes: ['violations'] });
  expect(r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(' | ')}`)).toEqual([]);
  expect(shadow(el).querySelectorAll('[style]')).toHaveLength(0);
}

/** The text that names the progress bar ("2 of 3 done"), read through its aria-labelledby. */
const progressName = (el: KeelChecklist) => shadow(el).getElementById(q(el, 'progress').getAttribute('aria-labelledby')!)!.textContent;

async function mount(source = fakeSource(VIEW)) {
  const el = await fixture<KeelChecklist>(html`<keel-checklist checklist-id="onboarding" .source=${source}></keel-checklist>`);
  return { el, source };
}

test('renders title, items, due days, overdue marker and progress from the source', async () => {
  const { el } = await mount();
  expect(q(el, '[part~="title"]').textContent).toBe('Get Acme running');
  expect([...shadow(el).querySelectorAll('[part~="item-title"]')].map((n) => n.textContent)).toEqual(['Connect SSO', 'Ingest a dataset', 'Ship a report']);
  expect(q(el, '[part~="progress-label"]').textContent).toBe('1 of 3 done');
  expect(q(el, '[part~="progress-label"]').getAttribute('aria-live')).toBe('polite');
  expect(progressName(el)).toBe('1 of 3 done');
  const bar = q<HTMLProgressElement>(el, 'progress');
  expect([bar.value, bar.max]).toEqual([1, 3]);
  expect(text(el)).toContain('Day 7');
  expect(q(el, '[data-item="sso"] .overdue').textContent).toBe('Overdue');
  expect(q(el, '[data-item="dataset"] .overdue')).toBeNull();
  expect(q(el, '[data-item="sso"] [part~="action"]').textContent).toContain('Set up SSO');
  await axeClean(el);
});

test('an item the engine completes ticks with a transition, updates progress and fires keel-item-completed; the last fires keel-checklist-completed', async () => {
  const { el, source } = await mount();
  const events: string[] = [];
  el.addEventListener('keel-item-completed', (e) => events.push(`item:${e.detail.itemId}`));
  el.addEventListener('keel-checklist-completed', (e) => events.push(`checklist:${e.detail.checklistId}`));
  source.set((v) => void (v.items[1]!.state = 'done'));
  await el.updateComplete;
  expect(q(el, '[data-item="dataset"]').classList.contains('just-done')).toBe(true);
  expect(q(el, '[part~="progress-label"]').textContent).toBe('2 of 3 done');
  expect(events).toEqual(['item:dataset']);
  await axeClean(el);
  source.set((v) => void (v.items[0]!.state = 'done'));
  await el.updateComplete;
  expect(events).toEqual(['item:dataset', 'item:sso', 'checklist:onboarding']);
  expect(progressName(el)).toBe('All done');
  expect(q(el, '[part~="base"]').classList.contains('completed')).toBe(true);
  expect(q(el, '[part~="progress-label"] .seal').getAttribute('aria-hidden')).toBe('true');
  expect(q<HTMLProgressElement>(el, 'progress').value).toBe(3);
  await axeClean(el);
  // Re-renders that change nothing (a collapse) fire nothing again.
  el.collapsed = true;
  await el.updateComplete;
  expect(events).toHaveLength(3);
});

test('a failed item shows its recovery action; activating it fires keel-action and calls the source, unless prevented', async () => {
  const { el, source } = await mount();
  source.set((v) => void (v.items[0]!.state = 'failed'));
  await el.updateComplete;
  const recovery = q<HTMLButtonElement>(el, '[data-item="sso"] [part~="recovery"]');
  expect(recovery.textContent).toContain('Fix SSO');
  expect(q(el, '[data-item="sso"] [part~="action"]')).toBeNull();
  expect(text(el)).toContain('Connect SSO, needs attention');
  await axeClean(el);
  const seen = vi.fn();
  el.addEventListener('keel-action', (e) => seen(e.detail));
  recovery.click();
  expect(seen).toHaveBeenCalledWith({ checklistId: 'onboarding', itemId: 'sso', kind: 'recovery', action: { label: 'Fix SSO', recipe: 'fix-sso' } });
  expect(source.acted).toEqual([['onboarding', 'sso', 'recovery', { label: 'Fix SSO', recipe: 'fix-sso' }]]);
  el.addEventListener('keel-action', (e) => e.preventDefault());
  recovery.click();
  expect(source.acted).toHaveLength(1);
});

test('collapse and expand from the keyboard; dismiss, then show again, with focus kept sensible', async () => {
  const { el } = await mount();
  const toggle = q<HTMLButtonElement>(el, 'button[aria-controls]');
  expect(toggle.getAttribute('aria-expanded')).toBe('true');
  toggle.focus();
  const { userEvent } = await import('vitest/browser');
  await userEvent.keyboard('{Enter}');
  await el.updateComplete;
  expect(el.collapsed).toBe(true);
  expect(el.hasAttribute('collapsed')).toBe(true);
  expect(toggle.getAttribute('aria-expanded')).toBe('false');
  expect(q(el, 'ol').hidden).toBe(true);
  await axeClean(el);
  await userEvent.keyboard(' ');
  await el.updateComplete;
  expect(el.collapsed).toBe(false);
  expect(toggle.getAttribute('aria-expanded')).toBe('true');
  expect(toggle.getAttribute('aria-controls')).toBe(q(el, 'ol').id);

  const dismissed = vi.fn();
  el.addEventListener('keel-dismiss', dismissed);
  q<HTMLButtonElement>(el, 'button[aria-label="Dismiss checklist"]').click();
  await el.updateComplete;
  await el.updateComplete;
  expect(dismissed).toHaveBeenCalledOnce();
  const show = q<HTMLButtonElement>(el, '[part~="show"]');
  expect(show.textContent).toBe('Show checklist: Get Acme running');
  expect(shadow(el).activeElement).toBe(show);
  await axeClean(el);
  show.click();
  await el.updateComplete;
  await el.updateComplete;
  expect(el.dismissed).toBe(false);
  expect(shadow(el).activeElement).toBe(q(el, '[part~="title"]'));
});

test("collapsed and dismissed survive a reload through the source's UI state", async () => {
  const saved: Record<string, { collapsed?: boolean; dismissed?: boolean }> = {};
  const withUi = () =>
    Object.assign(fakeSource(VIEW), {
      uiState: (id: string) => saved[id],
      setUiState: (id: string, st: { collapsed?: boolean; dismissed?: boolean }) => void (saved[id] = { ...saved[id], ...st }),
    });
  const { el } = await mount(withUi());
  q<HTMLButtonElement>(el, 'button[aria-label="Dismiss checklist"]').click();
  await el.updateComplete;
  expect(saved.onboarding).toEqual({ dismissed: true });
  el.remove();
  const { el: again } = await mount(withUi()); // "after a reload"
  expect(again.dismissed).toBe(true);
  expect(q(again, '[part~="show"]')).not.toBeNull();
});

test('per-locale text: exact locale, then language, then en', async () => {
  const el = await fixture<KeelChecklist>(html`<keel-checklist locale="fr-CA" .view=${VIEW}></keel-checklist>`);
  expect(q(el, '[part~="title"]').textContent).toBe('Démarrer avec Acme');
  expect(q(el, '[data-item="dataset"] [part~="item-title"]').textContent).toBe('Importer des données');
  el.locale = 'de';
  await el.updateComplete;
  expect(q(el, '[part~="title"]').textContent).toBe('Get Acme running');
  el.strings = { progress: '{done}/{total} erledigt' };
  await el.updateComplete;
  expect(q(el, '[part~="progress-label"]').textContent).toBe('1/3 erledigt');
});

test('works under a strict CSP: no inline style attribute anywhere; reduced motion turns the transition off', async () => {
  const { el, source } = await mount();
  source.set((v) => void (v.items[1]!.state = 'done'));
  await el.updateComplete;
  expect(shadow(el).querySelectorAll('[style]')).toHaveLength(0);
  const css = (el.constructor as typeof KeelChecklist & { styles: { cssText: string } }).styles.cssText;
  expect(css).toMatch(/@media \(prefers-reduced-motion: reduce\)\s*\{\s*\.just-done \.mark \{ animation: none; \}/);
});

test('disconnecting unsubscribes from the source', async () => {
  const source = fakeSource(VIEW);
  const unsub = vi.fn();
  const subscribe = source.subscribe;
  source.subscribe = (fn) => {
    const off = subscribe(fn);
    return () => (unsub(), off());
  };
  const { el } = await mount(source);
  el.remove();
  expect(unsub).toHaveBeenCalledOnce();
});

test("a pending item's launch action fires keel-action (bubbling, composed) with kind launch and calls the source", async () => {
  const { el, source } = await mount();
  const seen: CustomEvent[] = [];
  const onDoc = (e: Event) => seen.push(e as CustomEvent);
  document.addEventListener('keel-action', onDoc);
  try {
    q<HTMLButtonElement>(el, '[data-item="sso"] [part~="action"]').click();
  } finally {
    document.removeEventListener('keel-action', onDoc);
  }
  expect(seen).toHaveLength(1);
  expect([seen[0]!.bubbles, seen[0]!.composed, seen[0]!.cancelable]).toEqual([true, true, true]);
  expect(seen[0]!.detail).toEqual({ checklistId: 'onboarding', itemId: 'sso', kind: 'launch', action: { label: 'Set up SSO', link: '/settings/sso' } });
  expect(source.acted).toEqual([['onboarding', 'sso', 'launch', { label: 'Set up SSO', link: '/settings/sso' }]]);
  // The button's accessible name says which item it acts on.
  expect(q(el, '[data-item="sso"] [part~="action"]').textContent!.replace(/\s+/g, ' ').trim()).toBe('Set up SSO: Connect SSO');
});

test('due and overdue: "Day n" on open items, "Overdue" only when overdue and not done; state is never colour-only', async () => {
  const view: ChecklistView = {
    id: 'due',
    title: 'Due days',
    items: [
      { id: 'late', title: 'Late', state: 'pending', dueDay: 7, overdue: true },
      { id: 'late-failed', title: 'Late and failed', state: 'failed', dueDay: 14, overdue: true },
      { id: 'late-done', title: 'Late but done', state: 'done', dueDay: 7, overdue: true },
      { id: 'later', title: 'Later', state: 'pending', dueDay: 30 },
      { id: 'whenever', title: 'Whenever', state: 'pending' },
    ],
  };
  const el = await fixture<KeelChecklist>(html`<keel-checklist .view=${view}></keel-checklist>`);
  const meta = (id: string) => q(el, `[data-item="${id}"]`).textContent!.replace(/\s+/g, ' ').trim();
  expect(meta('late')).toContain('Day 7');
  expect(q(el, '[data-item="late"] .overdue').textContent).toBe('Overdue');
  expect(q(el, '[data-item="late-failed"] .overdue')).not.toBeNull();
  expect(q(el, '[data-item="late-done"] .overdue')).toBeNull();
  expect(meta('later')).toContain('Day 30');
  expect(q(el, '[data-item="later"] .overdue')).toBeNull();
  expect(meta('whenever')).not.toContain('Day');
  // Icon plus words for assistive tech, not colour alone.
  expect(meta('late-done')).toContain(', done');
  expect(meta('late-failed')).toContain(', needs attention');
  expect(q(el, '[data-item="late-done"] .mark').textContent).toBe('✓');
  expect(q(el, '[data-item="late-failed"] .mark').textContent).toBe('!');
  el.strings = { day: 'Jour {n}', overdue: 'En retard' };
  await el.updateComplete;
  expect(meta('late')).toContain('Jour 7');
  expect(q(el, '[data-item="late"] .overdue').textContent).toBe('En retard');
  await axeClean(el);
});

test('locale: defaults to <html lang>, then en; a map without en falls back to its first value', async () => {
  const before = document.documentElement.lang;
  document.documentElement.lang = 'fr';
  try {
    const el = await fixture<KeelChecklist>(html`<keel-checklist .view=${VIEW}></keel-checklist>`);
    expect(q(el, '[part~="title"]').textContent).toBe('Démarrer avec Acme');
    document.documentElement.lang = '';
    el.requestUpdate();
    await el.updateComplete;
    expect(q(el, '[part~="title"]').textContent).toBe('Get Acme running');
    el.view = { id: 'x', title: { de: 'Einrichtung', ja: 'セットアップ' }, items: [] };
    await el.updateComplete;
    expect(q(el, '[part~="title"]').textContent).toBe('Einrichtung');
  } finally {
    document.documentElement.lang = before;
  }
});

test('static view: a new view with an item done fires keel-item-completed; another checklist does not', async () => {
  const el = await fixture<KeelChecklist>(html`<keel-checklist .view=${VIEW}></keel-checklist>`);
  const events: string[] = [];
  el.addEventListener('keel-item-completed', (e) => events.push(`${e.detail.checklistId}:${e.detail.itemId}`));
  el.addEventListener('keel-checklist-completed', (e) => events.push(`${e.detail.checklistId}:all`));
  const next = structuredClone(VIEW);
  next.items[1]!.state = 'done';
  el.view = next;
  await el.updateComplete;
  expect(events).toEqual(['onboarding:dataset']);
  // Switching to another checklist whose items happen to share ids (and are done) is not a completion.
  el.view = { id: 'other', title: 'Other', items: VIEW.items.map((i) => ({ ...i, state: 'done' as const })) };
  await el.updateComplete;
  expect(events).toEqual(['onboarding:dataset']);
  expect(progressName(el)).toBe('All done');
});

test('a source that has nothing yet renders nothing, then the checklist without completion events', async () => {
  // eslint-disable-next-line prefer-const -- the source reads it before its one assignment below (as const it would throw there)
  let view: ChecklistView | undefined;
  const listeners = new Set<() => void>();
  const source: ChecklistSource = { checklist: () => view, subscribe: (fn) => (listeners.add(fn), () => listeners.delete(fn)) };
  const el = await fixture<KeelChecklist>(html`<keel-checklist checklist-id="onboarding" .source=${source}></keel-checklist>`);
  expect(shadow(el).querySelector('[part~="base"]')).toBeNull();
  const completed = vi.fn();
  el.addEventListener('keel-item-completed', completed);
  view = VIEW;
  for (const l of listeners) l();
  await el.updateComplete;
  expect(q(el, '[part~="title"]').textContent).toBe('Get Acme running');
  expect(completed).not.toHaveBeenCalled();
});

test('prefers-reduced-motion: reduce turns the completion animation off (emulated through CDP)', async () => {
  const { cdp } = await import('vitest/browser');
  const animationOf = async (reduce: boolean) => {
    await cdp().send('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-reduced-motion', value: reduce ? 'reduce' : 'no-preference' }] });
    const { el, source } = await mount();
    source.set((v) => void (v.items[1]!.state = 'done'));
    await el.updateComplete;
    const mark = q(el, '[data-item="dataset"].just-done .mark');
    const name = getComputedStyle(mark).animationName;
    el.remove();
    return name;
  };
  try {
    expect(await animationOf(false)).toBe('keel-pop');
    expect(matchMedia('(prefers-reduced-motion: reduce)').matches).toBe(false);
    expect(await animationOf(true)).toBe('none');
    expect(matchMedia('(prefers-reduced-motion: reduce)').matches).toBe(true);
  } finally {
    await cdp().send('Emulation.setEmulatedMedia', { features: [] });
  }
});

test('collapsed, an item that fails asks to reopen (the fatigue budget decides): granted → expanded to show the recovery; refused → stays collapsed', async () => {
  for (const granted of [true, false]) {
    const source = fakeSource(VIEW);
    const asked: string[] = [];
    const ui: Record<string, unknown>[] = [];
    Object.assign(source, {
      interrupt: async (checklistId: string, itemId: string) => (asked.push(`${checklistId}/${itemId}`), granted),
      setUiState: (_id: string, st: Record<string, unknown>) => void ui.push(st),
    });
    const { el } = await mount(source);
    el.collapsed = true;
    await el.updateComplete;
    source.set((v) => void (v.items[1]!.state = 'failed'));
    await el.updateComplete;
    await expect.poll(() => asked).toEqual(['onboarding/dataset']);
    await new Promise((r) => setTimeout(r, 20));
    await el.updateComplete;
    expect(el.collapsed).toBe(!granted);
    expect(ui).toEqual(granted ? [{ collapsed: false }] : []);
    // Already failed: no second request on the next render.
    el.requestUpdate();
    await el.updateComplete;
    expect(asked).toHaveLength(1);
    el.remove();
  }
});
