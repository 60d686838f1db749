// <keel-nudge> in Chromium: anchors (present, late, never, in a shadow root, removed), the top
// layer over a max-z-index overlay, focus in and back, Escape, modal inertness, actions, axe.
import { fixture, html } from '@open-wc/testing-helpers';
import { afterEach, expect, test } from 'vitest';
import { userEvent } from 'vitest/browser';
import './define.js';
import type { KeelNudge, NudgeAction } from './nudge.js';
import { axeClean, frame } from './test-helpers.js';

afterEach(() => document.body.replaceChildren());

const panel = (el: KeelNudge) => el.shadowRoot!.querySelector<HTMLElement>('.panel')!;
const ACTIONS: NudgeAction[] = [
  { label: 'Show me', recipe: 'first-report' },
  { label: 'Not now', snooze: '3d' },
];

function page() {
  document.body.insertAdjacentHTML('beforeend', '<button id="start">start</button><nav><a href="/reports" data-keel="reports-nav">Reports</a></nav>');
  return document.getElementById('start')!;
}
async function nudge(anchor: string | string[] = '[data-keel="reports-nav"]', extra: Partial<KeelNudge> = {}) {
  const el = await fixture<KeelNudge>(html`<keel-nudge nudge-id="reports-unused" heading="Turn this data into a report"
    body="Teams like yours save **3 hours a week** with scheduled reports." .anchor=${anchor} .actions=${ACTIONS}></keel-nudge>`);
  Object.assign(el, extra);
  await el.updateComplete;
  return el;
}

test('anchor present: shown in the top layer next to its anchor, focus moves in, Escape closes and focus returns', async () => {
  const start = page();
  start.focus();
  const el = await nudge();
  const events: string[] = [];
  el.addEventListener('keel-nudge-shown', (e) => events.push(`shown:${e.detail.anchor}`));
  el.addEventListener('keel-nudge-hidden', (e) => events.push(`hidden:${e.detail.reason}`));
  expect(await el.show()).toBe(true);
  await frame();
  const p = panel(el);
  expect(p.matches(':popover-open')).toBe(true);
  const a = document.querySelector('[data-keel="reports-nav"]')!.getBoundingClientRect();
  const b = p.getBoundingClientRect();
  expect(b.top).toBeGreaterThanOrEqual(a.bottom); // below its anchor
  expect(Math.abs(b.top - a.bottom)).toBeLessThan(20);
  expect(el.shadowRoot!.activeElement).toBe(el.shadowRoot!.querySelector('h2'));
  expect(p.querySelector('.body')!.innerHTML).toBe('<p>Teams like yours save <strong>3 hours a week</strong> with scheduled reports.</p>');
  await axeClean(el);
  await userEvent.keyboard('{Escape}');
  await frame();
  expect(el.open).toBe(false);
  expect(document.activeElement).toBe(start);
  expect(events).toEqual(['shown:[data-keel="reports-nav"]', 'hidden:escape']);
});

test('a late anchor (after 2 s) is waited for; an anchor that never appears skips the nudge with keel-anchor-missing', async () => {
  const el = await nudge('#late-anchor', { anchorTimeout: 4000 });
  setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<button id="late-anchor">late</button>'), 2000);
  const t0 = performance.now();
  expect(await el.show()).toBe(true);
  expect(performance.now() - t0).toBeGreaterThanOrEqual(1900);
  el.hide();
  const never = await nudge(['#nope', '.never'], { anchorTimeout: 300 });
  const missing: unknown[] = [];
  never.addEventListener('keel-anchor-missing', (e) => missing.push(e.detail));
  expect(await never.show()).toBe(false);
  expect(never.open).toBe(false);
  expect(panel(never).matches(':popover-open')).toBe(false);
  expect(missing).toEqual([{ nudgeId: 'reports-unused', selectors: ['#nope', '.never'], waitedMs: expect.any(Number) }]);
});

test('an anchor inside a shadow root is found and pointed at; removing it mid-show hides the nudge', async () => {
  const comp = document.createElement('div');
  document.body.append(comp);
  const target = document.createElement('button');
  target.textContent = 'Save';
  target.dataset.keel = 'save-report';
  comp.attachShadow({ mode: 'open' }).append(target);
  const el = await nudge('[data-keel="save-report"]');
  const hidden: string[] = [];
  el.addEventListener('keel-nudge-hidden', (e) => hidden.push(e.detail.reason));
  expect(await el.show()).toBe(true);
  await frame();
  expect(panel(el).getBoundingClientRect().top).toBeGreaterThanOrEqual(target.getBoundingClientRect().bottom);
  target.remove();
  window.dispatchEvent(new Event('resize')); // autoUpdate re-checks on layout changes
  await frame();
  await expect.poll(() => hidden).toEqual(['anchor-removed']);
});

test('stays on top of a host overlay with z-index 2147483647, and inside a scroll container under a fixed header it stays attached', async () => {
  document.body.insertAdjacentHTML(
    'beforeend',
    `
    <header id="fixed" style="position:fixed;top:0;left:0;right:0;height:40px;background:#eee;z-index:2147483647">header</header>
    <div id="cover" style="position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.05)"></div>
    <div id="scroller" style="height:200px;overflow:auto;margin-top:60px"><div style="height:150px"></div><button id="deep">deep</button><div style="height:800px"></div></div>
    <div style="height:2000px"></div>`,
  );
  const el = await nudge('#deep');
  await el.show();
  await frame();
  const h2 = el.shadowRoot!.querySelector('h2')!.getBoundingClientRect();
  const hit = el.shadowRoot!.elementFromPoint(h2.x + 4, h2.y + 4);
  expect(hit && panel(el).contains(hit)).toBe(true); // on top of both max-z-index layers
  const anchor = document.getElementById('deep')!;
  const attached = async () => {
    await frame();
    await frame();
    return Math.abs(panel(el).getBoundingClientRect().top - anchor.getBoundingClientRect().bottom);
  };
  // The scroll container scrolls: the tooltip follows.
  const scroller = document.getElementById('scroller')!;
  scroller.scrollTop = 100;
  expect(await attached()).toBeLessThan(20);
  // The page scrolls until the anchor is under the fixed header: still attached to it.
  window.scrollTo(0, 90);
  const a = anchor.getBoundingClientRect();
  expect(a.top).toBeLessThan(40);
  expect(a.top).toBeGreaterThanOrEqual(0);
  expect(await attached()).toBeLessThan(20);
  expect(panel(el).style.visibility).toBe('visible');
  // Scrolled out of its container: hidden, never pointing at nothing; back in view, shown again.
  scroller.scrollTop = 600;
  await frame();
  await frame();
  expect(panel(el).style.visibility).toBe('hidden');
  scroller.scrollTop = 100;
  await frame();
  await frame();
  expect(panel(el).style.visibility).toBe('visible');
  expect(await attached()).toBeLessThan(20);
  window.scrollTo(0, 0);
  el.hide();
});

test('never opens over a text field the user is typing in: it waits, keeps their focus, and opens once they leave it', async () => {
  page();
  document.body.insertAdjacentHTML('beforeend', '<input id="q" type="search"><button id="other">other</button>');
  const q = document.getElementById('q') as HTMLInputElement;
  const el = await nudge(undefined, { deferWhile: () => (document.activeElement === q ? '<input #q>' : undefined) });
  q.focus();
  let settled = false;
  const shown = el.show().then((ok) => ((settled = true), ok));
  await new Promise((r) => setTimeout(r, 300));
  expect(settled).toBe(false);
  expect(panel(el).matches(':popover-open')).toBe(false);
  expect(document.activeElement).toBe(q); // still typing, undisturbed
  document.getElementById('other')!.focus();
  expect(await shown).toBe(true);
  expect(panel(el).matches(':popover-open')).toBe(true);
  el.hide();
});

test('a display:none match is not an anchor: a visible lower-ranked one wins, or the wait goes on until it shows', async () => {
  document.body.insertAdjacentHTML(
    'beforeend',
    '<button id="first" style="display:none">hidden</button><button id="second">visible</button><nav class="m" style="display:none"><a class="go">m</a></nav><nav class="d"><a class="go">d</a></nav>',
  );
  const el = await nudge(['#first', '#second']);
  const anchors: (string | null)[] = [];
  el.addEventListener('keel-nudge-shown', (e) => anchors.push(e.detail.anchor));
  expect(await el.show()).toBe(true);
  el.hide();
  // Two matches of one selector, the first hidden (a mobile copy of the nav): the visible one.
  const dup = await nudge('a.go', { anchorTimeout: 500 });
  expect(await dup.show()).toBe(true);
  await frame();
  const d = document.querySelector('nav.d a')!.getBoundingClientRect();
  expect(Math.abs(panel(dup).getBoundingClientRect().top - d.bottom)).toBeLessThan(20);
  dup.hide();
  const later = await nudge('#first', { anchorTimeout: 3000 });
  later.addEventListener('keel-nudge-shown', (e) => anchors.push(e.detail.anchor));
  setTimeout(() => document.getElementById('first')!.style.removeProperty('display'), 300);
  expect(await later.show()).toBe(true);
  expect(anchors).toEqual(['#second', '#first']);
  later.hide();
});

test('a hotspot whose anchor is removed says so; a nudge removed while it waits stops waiting and says so', async () => {
  document.body.insertAdjacentHTML('beforeend', '<button id="tip-anchor">Export</button>');
  const hot = await nudge('#tip-anchor', { kind: 'hotspot' });
  const hidden: string[] = [];
  hot.addEventListener('keel-nudge-hidden', (e) => hidden.push(`hot:${e.detail.reason}`));
  expect(await hot.show()).toBe(true);
  const beacon = hot.shadowRoot!.querySelector<HTMLElement>('.beacon')!;
  expect(beacon.matches(':popover-open')).toBe(true);
  document.getElementById('tip-anchor')!.remove();
  await expect.poll(() => hidden).toEqual(['hot:anchor-removed']);
  expect(beacon.matches(':popover-open')).toBe(false);

  const waiting = await nudge('#not-yet', { anchorTimeout: 2000 });
  waiting.addEventListener('keel-nudge-hidden', (e) => hidden.push(`waiting:${e.detail.reason}`));
  const shown = waiting.show();
  waiting.remove();
  expect(await shown).toBe(false);
  document.body.insertAdjacentHTML('beforeend', '<button id="not-yet">late</button>');
  await new Promise((r) => setTimeout(r, 150));
  expect(panel(waiting).matches(':popover-open')).toBe(false); // its wait (and observers) ended with it
  expect(hidden).toEqual(['hot:anchor-removed', 'waiting:disconnected']);
});

test('a modal makes the page behind inert; an action emits keel-nudge-action and closes; axe-clean', async () => {
  page();
  const el = await nudge(undefined, { kind: 'modal' });
  const acted: NudgeAction[] = [];
  el.addEventListener('keel-nudge-action', (e) => acted.push(e.detail.action));
  await el.show();
  const dialog = panel(el) as HTMLDialogElement;
  expect(dialog.open).toBe(true);
  expect(dialog.matches(':modal')).toBe(true);
  await axeClean(el);
  el.shadowRoot!.querySelector<HTMLButtonElement>('.actions button')!.click();
  expect(acted).toEqual([{ label: 'Show me', recipe: 'first-report' }]);
  expect(dialog.open).toBe(false);
  el.heading = ''; // no title: the dialog still has a name
  await el.show();
  expect((panel(el) as HTMLDialogElement).getAttribute('aria-label')).toBe('Tip');
  el.hide();
});

test('config strings with markup render inert inside a nudge; unsafe link actions become plain buttons', async () => {
  page();
  const w = window as unknown as { __pwned?: number };
  delete w.__pwned;
  const el = await nudge(undefined, {
    heading: '"><img src=x onerror="window.__pwned=1">',
    body: '<script>window.__pwned=1</script> [go](javascript:window.__pwned=1)',
    actions: [{ label: 'Open', link: 'javascript:window.__pwned=1' }],
  });
  await el.show();
  await new Promise((r) => setTimeout(r, 50));
  expect(w.__pwned).toBeUndefined();
  expect(el.shadowRoot!.querySelectorAll('img, script, a')).toHaveLength(0);
  expect(el.shadowRoot!.querySelector('h2')!.textContent).toBe('"><img src=x onerror="window.__pwned=1">');
  el.hide();
});

test('removed from the page, a shown nudge stops following its anchor: autoUpdate and its observers are cleaned up', async () => {
  page();
  const added: [string, EventListenerOrEventListenerObject][] = [];
  const removed: [string, EventListenerOrEventListenerObject][] = [];
  const { addEventListener: add, removeEventListener: rm } = window;
  const observers = { made: 0, disconnected: 0 };
  const RealMO = window.MutationObserver;
  window.addEventListener = function (this: Window, type: string, l: EventListenerOrEventListenerObject, o?: boolean | AddEventListenerOptions) {
    if (type === 'scroll' || type === 'resize') added.push([type, l]);
    return add.call(this, type, l, o);
  } as typeof window.addEventListener;
  window.removeEventListener = function (this: Window, type: string, l: EventListenerOrEventListenerObject, o?: boolean | EventListenerOptions) {
    if (type === 'scroll' || type === 'resize') removed.push([type, l]);
    return rm.call(this, type, l, o);
  } as typeof window.removeEventListener;
  window.MutationObserver = class extends RealMO {
    constructor(cb: MutationCallback) {
      super(cb);
      observers.made++;
    }
    override disconnect() {
      observers.disconnected++;
      super.disconnect();
    }
  };
  try {
    const el = await nudge();
    expect(await el.show()).toBe(true);
    expect(new Set(added.map(([t]) => t))).toEqual(new Set(['resize', 'scroll'])); // autoUpdate follows the page
    expect(observers.made).toBeGreaterThan(0); // and the anchor's removal is watched
    el.remove();
    expect(removed).toEqual(expect.arrayContaining(added));
    expect(observers.disconnected).toBe(observers.made);
  } finally {
    window.addEventListener = add;
    window.removeEventListener = rm;
    window.MutationObserver = RealMO;
  }
});

test('declarative: <keel-nudge anchor="…" open> in markup shows itself next to its anchor', async () => {
  page();
  const shown: (string | null)[] = [];
  document.addEventListener('keel-nudge-shown', (e) => shown.push(e.detail.anchor), { once: true });
  const el = await fixture<KeelNudge>(
    html`<keel-nudge nudge-id="markup" anchor="nav a[href='/reports']" heading="From markup" body="Set in *HTML*." open></keel-nudge>`,
  );
  await expect.poll(() => panel(el).matches(':popover-open')).toBe(true);
  expect(shown).toEqual(["nav a[href='/reports']"]);
  expect(el.hasAttribute('open')).toBe(true);
  await frame();
  await frame();
  const a = document.querySelector('nav a')!.getBoundingClientRect();
  expect(Math.abs(panel(el).getBoundingClientRect().top - a.bottom)).toBeLessThan(20);
  expect(panel(el).querySelector('.body')!.innerHTML).toBe('<p>Set in <em>HTML</em>.</p>');
  el.hide();
  await el.updateComplete;
  expect(el.hasAttribute('open')).toBe(false);
  // A framework binding toggles it later: it shows, and hides (nothing left following the anchor).
  const hidden: string[] = [];
  el.addEventListener('keel-nudge-hidden', (e) => hidden.push(e.detail.reason));
  el.open = true;
  await expect.poll(() => panel(el).matches(':popover-open')).toBe(true);
  el.open = false;
  await expect.poll(() => panel(el).matches(':popover-open')).toBe(false);
  expect(hidden).toEqual(['close']);
  expect(await el.show()).toBe(true); // and show() still works after that
  expect(panel(el).matches(':popover-open')).toBe(true);
  el.hide();
});

test('a banner: across the top in the top layer, focus moves in, Escape closes it and focus returns; axe-clean', async () => {
  const start = page();
  start.focus();
  const el = await nudge(undefined, { kind: 'banner', heading: 'Scheduled maintenance', body: 'Reports are read-only on **Sunday**.' });
  const hidden: string[] = [];
  el.addEventListener('keel-nudge-hidden', (e) => hidden.push(e.detail.reason));
  expect(await el.show()).toBe(true);
  const p = panel(el);
  expect(p.matches(':popover-open')).toBe(true);
  expect(p.getAttribute('role')).toBe('region');
  await expect.poll(() => p.getBoundingClientRect().top).toBe(0); // after its entrance animation
  expect(Math.round(p.getBoundingClientRect().width)).toBe(document.documentElement.clientWidth);
  expect(el.shadowRoot!.activeElement).toBe(el.shadowRoot!.querySelector('h2'));
  await axeClean(el);
  await userEvent.keyboard('{Escape}');
  await expect.poll(() => p.matches(':popover-open')).toBe(false);
  expect(hidden).toEqual(['escape']);
  expect(document.activeElement).toBe(start);
});
