// <keel-recipe> in Chromium, on its own: a step anchored like a nudge (present, late, never, in a
// shadow root, removed and back), in a scroll container under a fixed header, over a max-z-index
// overlay; its controls, announcements, focus, Escape, inert content, axe and reduced motion.
import { fixture, html } from '@open-wc/testing-helpers';
import { afterEach, expect, test } from 'vitest';
import { cdp, userEvent } from 'vitest/browser';
import './define.js';
import type { KeelRecipe, RecipeStep } from './recipe.js';
import { axeClean, frame } from './test-helpers.js';

afterEach(() => document.body.replaceChildren());

const panel = (el: KeelRecipe) => el.shadowRoot!.querySelector<HTMLElement>('.panel');
const isOpen = (el: KeelRecipe) => !!panel(el)?.matches(':popover-open');
const text = (el: KeelRecipe, sel: string) => el.shadowRoot!.querySelector(sel)?.textContent?.replace(/\s+/g, ' ').trim();
const button = (el: KeelRecipe, name: string) =>
  [...el.shadowRoot!.querySelectorAll('button')].find((b) => b.textContent!.trim() === name || b.getAttribute('aria-label') === name)!;

function step(over: Partial<RecipeStep> = {}): RecipeStep {
  return {
    recipeId: 'first-report',
    recipeTitle: 'Create your first report',
    index: 1,
    total: 3,
    anchor: ['#new-report'],
    text: 'Start a **new** report.',
    advance: 'next',
    title: 'New report',
    ...over,
  };
}

async function mount(s: RecipeStep | undefined, timeout = 5000) {
  const el = await fixture<KeelRecipe>(html`<keel-recipe anchor-timeout=${timeout}></keel-recipe>`);
  const events: string[] = [];
  for (const type of [
    'keel-recipe-next',
    'keel-recipe-back',
    'keel-recipe-skip',
    'keel-recipe-exit',
    'keel-recipe-step-shown',
    'keel-recipe-anchor-missing',
  ] as const) {
    el.addEventListener(type, (e) => events.push(`${type.slice(12)}${'cause' in e.detail ? `:${e.detail.cause}` : ''}`));
  }
  el.step = s;
  await el.updateComplete;
  return { el, events };
}

test('a step next to its anchor: progress, title, text, Back/Skip/Next, announced, focus in; Escape exits and focus returns', async () => {
  document.body.insertAdjacentHTML('beforeend', '<button id="start">Show me how</button><button id="new-report">New report</button>');
  document.getElementById('start')!.focus();
  const { el, events } = await mount(step());
  await expect.poll(() => isOpen(el)).toBe(true);
  await frame();
  const a = document.getElementById('new-report')!.getBoundingClientRect();
  const p = panel(el)!.getBoundingClientRect();
  expect(p.top).toBeGreaterThanOrEqual(a.bottom);
  expect(p.top - a.bottom).toBeLessThan(24);
  expect(text(el, '[part~="progress"]')).toBe('Step 2 of 3 · Create your first report');
  expect(text(el, 'h2')).toBe('New report');
  expect(el.shadowRoot!.querySelector('.body')!.innerHTML).toBe('<p>Start a <strong>new</strong> report.</p>');
  expect(text(el, '[role="status"]')).toBe('Step 2 of 3: New report');
  expect(el.shadowRoot!.activeElement).toBe(el.shadowRoot!.querySelector('h2'));
  expect([...el.shadowRoot!.querySelectorAll('.actions button')].map((b) => b.textContent!.trim())).toEqual(['Back', 'Skip step', 'Next']);
  await axeClean(el);
  button(el, 'Back').click();
  button(el, 'Skip step').click();
  button(el, 'Next').click();
  expect(events).toEqual(['step-shown', 'back', 'skip', 'next:next']);
  await userEvent.keyboard('{Escape}');
  expect(events.at(-1)).toBe('exit');
  el.step = undefined; // the engine ends it
  await el.updateComplete;
  await frame();
  expect(isOpen(el)).toBe(false);
  expect(document.activeElement).toBe(document.getElementById('start'));
});

test('a click step advances when its anchor is clicked; the last next-step says Done; a step without anchor is centred', async () => {
  document.body.insertAdjacentHTML('beforeend', '<nav><a id="reports" href="#reports">Reports</a></nav>');
  const { el, events } = await mount(step({ index: 0, anchor: ['nav a#reports'], advance: 'click', title: 'Open Reports' }));
  await expect.poll(() => isOpen(el)).toBe(true);
  expect(text(el, '.hint')).toBe('Click it to continue.');
  expect(el.shadowRoot!.querySelectorAll('.actions button')).toHaveLength(1); // Skip only: no Back on the first, no Next on a click step
  document.getElementById('reports')!.click();
  expect(events).toEqual(['step-shown', 'next:click']);
  el.step = step({ index: 2, anchor: [], advance: 'next', title: 'All set' });
  await el.updateComplete;
  await expect.poll(() => events.length).toBe(3);
  expect(panel(el)!.classList.contains('centered')).toBe(true);
  expect(button(el, 'Done')).toBeDefined();
  const r = panel(el)!.getBoundingClientRect();
  expect(Math.abs(r.left + r.width / 2 - innerWidth / 2)).toBeLessThan(2);
  await axeClean(el);
});

test('a late anchor (after 2 s) is waited for; one inside a shadow root is found', async () => {
  const { el } = await mount(step({ anchor: ['#late'] }));
  setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<button id="late">late</button>'), 2000);
  await frame();
  expect(isOpen(el)).toBe(false);
  await expect.poll(() => isOpen(el), { timeout: 4000 }).toBe(true);
  const host = document.createElement('div');
  document.body.append(host);
  const inner = document.createElement('button');
  inner.dataset.keel = 'save-report';
  inner.textContent = 'Save';
  host.attachShadow({ mode: 'open' }).append(inner);
  el.step = step({ index: 2, anchor: ['[data-keel="save-report"]'], advance: 'event' });
  await expect.poll(() => text(el, '[part~="progress"]')).toBe('Step 3 of 3 · Create your first report');
  await expect.poll(() => isOpen(el)).toBe(true);
  await frame();
  expect(panel(el)!.getBoundingClientRect().top).toBeGreaterThanOrEqual(inner.getBoundingClientRect().bottom);
  expect(text(el, '.hint')).toBe('This step completes when you have done it.');
});

test('an anchor that never appears: the step is shown centred with Skip and a note, and reported; removed mid-step it waits for it to come back', async () => {
  const { el, events } = await mount(step({ anchor: ['#nope', '.never'] }), 400);
  await expect.poll(() => isOpen(el)).toBe(true);
  expect(events).toEqual(['anchor-missing', 'step-shown']);
  expect(panel(el)!.classList.contains('centered')).toBe(true);
  expect(el.shadowRoot!.querySelector('.arrow')).toBeNull();
  expect(text(el, '.note')).toContain("This step's place isn't on this page");
  expect([...el.shadowRoot!.querySelectorAll('.actions button')].map((b) => b.textContent!.trim())).toEqual(['Back', 'Skip step']);

  document.body.insertAdjacentHTML('beforeend', '<button id="moving">here</button>');
  el.step = step({ index: 2, anchor: ['#moving'] });
  await expect.poll(() => events.filter((e) => e === 'step-shown').length).toBe(2);
  expect(panel(el)!.classList.contains('centered')).toBe(false);
  document.getElementById('moving')!.remove(); // a re-render replaces the element
  await expect.poll(() => isOpen(el)).toBe(false); // never pointing at nothing
  document.body.insertAdjacentHTML('beforeend', '<button id="moving">here again</button>');
  await expect.poll(() => isOpen(el)).toBe(true);
  await frame();
  expect(panel(el)!.getBoundingClientRect().top).toBeGreaterThanOrEqual(document.getElementById('moving')!.getBoundingClientRect().bottom);
  document.getElementById('moving')!.remove();
  await expect.poll(() => events.filter((e) => e === 'anchor-missing').length, { timeout: 3000 }).toBe(2); // gone for good
  await expect.poll(() => panel(el)?.classList.contains('centered')).toBe(true);
});

test('inside a scroll container under a fixed header and under a z-index 2147483647 overlay: on top, attached, hidden when scrolled away', async () => {
  document.body.insertAdjacentHTML(
    'beforeend',
    `
    <header style="position:fixed;top:0;left:0;right:0;height:40px;background:#eee;z-index:2147483647">header</header>
    <div style="position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.05)"></div>
    <div id="scroller" style="height:220px;overflow:auto;margin-top:60px"><div style="height:150px"></div><button id="deep">deep</button><div style="height:900px"></div></div>`,
  );
  const { el } = await mount(step({ anchor: ['#deep'] }));
  await expect.poll(() => isOpen(el)).toBe(true);
  await frame();
  const h2 = el.shadowRoot!.querySelector('h2')!.getBoundingClientRect();
  const hit = el.shadowRoot!.elementFromPoint(h2.x + 4, h2.y + 4);
  expect(hit && panel(el)!.contains(hit)).toBe(true); // the top layer wins over any z-index
  const scroller = document.getElementById('scroller')!;
  scroller.scrollTop = 100;
  await frame();
  await frame();
  const anchor = document.getElementById('deep')!.getBoundingClientRect();
  expect(Math.abs(panel(el)!.getBoundingClientRect().top - anchor.bottom)).toBeLessThan(24); // stayed attached
  scroller.scrollTop = 600; // the anchor is scrolled out of its container
  await expect.poll(() => getComputedStyle(panel(el)!).visibility).toBe('hidden');
  scroller.scrollTop = 100;
  await expect.poll(() => getComputedStyle(panel(el)!).visibility).toBe('visible');
});

test('config strings with markup render inert in a step', async () => {
  document.body.insertAdjacentHTML('beforeend', '<button id="new-report">x</button>');
  const w = window as unknown as { __pwned?: number };
  delete w.__pwned;
  const { el } = await mount(
    step({
      title: '"><img src=x onerror="window.__pwned=1">',
      text: '<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1"> [go](javascript:window.__pwned=1)',
      recipeTitle: '<b onmouseover=alert(1)>t</b>',
    }),
  );
  await expect.poll(() => isOpen(el)).toBe(true);
  await new Promise((r) => setTimeout(r, 50));
  expect(w.__pwned).toBeUndefined();
  expect(el.shadowRoot!.querySelectorAll('img, script, a, b')).toHaveLength(0);
  expect(text(el, 'h2')).toBe('"><img src=x onerror="window.__pwned=1">');
});

test('prefers-reduced-motion: reduce turns the entrance animation off', async () => {
  document.body.insertAdjacentHTML('beforeend', '<button id="new-report">x</button>');
  const animation = async (reduce: boolean) => {
    await cdp().send('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-reduced-motion', value: reduce ? 'reduce' : 'no-preference' }] });
    const { el } = await mount(step());
    await expect.poll(() => isOpen(el)).toBe(true);
    const name = getComputedStyle(panel(el)!).animationName;
    el.remove();
    return name;
  };
  try {
    expect(await animation(false)).toBe('keel-in');
    expect(await animation(true)).toBe('none');
  } finally {
    await cdp().send('Emulation.setEmulatedMedia', { features: [] });
  }
});

test('a step shown while the user types in a text field does not take their focus, and is still announced; the live region stays one node', async () => {
  document.body.insertAdjacentHTML('beforeend', '<input id="search" type="search"><button id="new-report">New report</button>');
  const search = document.getElementById('search') as HTMLInputElement;
  search.focus();
  const el = await fixture<KeelRecipe>(html`<keel-recipe></keel-recipe>`);
  el.keepFocusWhile = () => (document.activeElement === search ? '<input #search>' : undefined);
  const live = el.shadowRoot!.querySelector('[role="status"]');
  el.step = step();
  await expect.poll(() => isOpen(el)).toBe(true);
  expect(document.activeElement).toBe(search);
  expect(text(el, '[role="status"]')).toBe('Step 2 of 3: New report');
  el.step = step({ index: 2, title: 'Save it', anchor: [] });
  await expect.poll(() => text(el, '[role="status"]')).toBe('Step 3 of 3: Save it');
  expect(el.shadowRoot!.querySelector('[role="status"]')).toBe(live); // the same node: each text is announced
  el.step = undefined;
  await el.updateComplete;
});
