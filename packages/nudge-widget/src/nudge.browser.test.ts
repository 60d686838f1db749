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
const ACTIONS: NudgeAction[] = [{ label: 'Show me', recipe: 'first-report' }, { label: 'Not now', snooze: '3d' }];

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
  document.body.insertAdjacentHTML('beforeend', `
    <header id="fixed" style="position:fixed;top:0;left:0;right:0;height:40px;background:#eee;z-index:2147483647">header</header>
    <div id="cover" style="position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.05)"></div>
    <div id="scroller" style="height:200px;overflow:auto;margin-top:60px"><div style="height:150px"></div><button id="deep">deep</button><div style="height:800px"></div></div>`);
  const el = await nudge('#deep');
  await el.show();
  await frame();
  const h2 = el.shadowRoot!.querySelector('h2')!.getBoundingClientRect();
  const hit = el.shadowRoot!.elementFromPoint(h2.x + 4, h2.y + 4);
  expect(hit && panel(el).contains(hit)).toBe(true);
  const scroller = document.getElementById('scroller')!;
  scroller.scrollTop = 100;
  await frame();
  await frame();
  const anchorRect = document.getElementById('deep')!.getBoundingClientRect();
  expect(Math.abs(panel(el).getBoundingClientRect().top - anchorRect.bottom)).toBeLessThan(20);
  el.hide();
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
