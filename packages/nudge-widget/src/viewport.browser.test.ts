// Panels never exceed the viewport, in Chromium: with long content (a long title, a dozen
// paragraphs, several actions), every Keel surface (modal, tooltip, banner, hotspot, recipe step
// centred and anchored, the checklist, the health badge's popover) fits the viewport, and every
// action and its close button can be brought into view by scrolling inside the panel, never the
// page, and is then the element a click at its centre hits.
//
// Sizes: 320×480 (a small phone), and 640×400 CSS px, which is what a page gets at 200% browser
// zoom of a 1280×800 window: zoom divides the CSS viewport by the zoom factor (and doubles
// devicePixelRatio, which changes rasterisation, not layout). The iframe's CSS viewport is set with
// vitest's page.viewport(); CSS `zoom` on the root is not used, because it is not what browser zoom
// does to layout (viewport units and the top layer are not scaled by it).
import { fixture, html } from '@open-wc/testing-helpers';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { page } from 'vitest/browser';
import '../../checklist-widget/src/define.js';
import type { KeelChecklist } from '../../checklist-widget/src/checklist.js';
import type { ChecklistView } from '../../checklist-widget/src/types.js';
import '../../health-badge/src/define.js';
import type { KeelHealthBadge } from '../../health-badge/src/badge.js';
import type { HealthReportView } from '../../health-badge/src/types.js';
import './define.js';
import type { KeelNudge, NudgeAction } from './nudge.js';
import type { KeelRecipe, RecipeStep } from './recipe.js';
import { axeClean, frame, settled } from './test-helpers.js';

const SIZES = [
  { name: '320×480', width: 320, height: 480 },
  { name: '200% zoom of 1280×800 (640×400 CSS px)', width: 640, height: 400 },
] as const;

const TITLE = 'Turn this data into a report your whole team can read every Monday morning';
const BODY = Array.from(
  { length: 12 },
  (_, i) =>
    `Paragraph ${i + 1}: teams like yours save **3 hours a week** with scheduled reports, delivered before the weekly meeting, with the numbers that matter.`,
).join('\n\n');
const ACTIONS: NudgeAction[] = [
  { label: 'Show me how this works', recipe: 'first-report' },
  { label: 'Remind me next week', snooze: '7d' },
  { label: 'Not interested', dismiss: true },
];

let original: { width: number; height: number };
beforeAll(() => {
  original = { width: innerWidth, height: innerHeight };
});
afterAll(async () => {
  await page.viewport(original.width, original.height);
});
afterEach(() => document.body.replaceChildren());

const fmt = (r: DOMRect) => `${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.width)}×${Math.round(r.height)}`;
const within = (r: DOMRect, o: { left: number; top: number; right: number; bottom: number }) =>
  r.left >= o.left - 0.5 && r.top >= o.top - 0.5 && r.right <= o.right + 0.5 && r.bottom <= o.bottom + 0.5;
const viewport = () => ({ left: 0, top: 0, right: document.documentElement.clientWidth, bottom: document.documentElement.clientHeight });

/** A page taller than the viewport, so that a scroll of the page (which must not happen) would show. */
function tallPage(anchorTop?: number) {
  document.body.insertAdjacentHTML('beforeend', '<div id="spacer"></div>');
  document.getElementById('spacer')!.style.height = '3000px';
  if (anchorTop !== undefined) {
    document.body.insertAdjacentHTML('beforeend', '<button id="anchor">Reports</button>');
    Object.assign(document.getElementById('anchor')!.style, { position: 'fixed', top: `${anchorTop}px`, left: '40px' });
  }
  scrollTo(0, 0);
}

/**
 * The panel fits the viewport; each target is brought into view by scrolling its scroll
 * containers (inside the panel), the page does not move, and a click at its centre hits it.
 */
async function expectReachable(label: string, root: ShadowRoot, panel: HTMLElement, targets: HTMLElement[]) {
  await frame();
  await settled(root.host);
  const vp = viewport();
  const box = panel.getBoundingClientRect();
  expect(within(box, vp), `${label}: the panel (${fmt(box)}) fits ${vp.right}×${vp.bottom}`).toBe(true);
  expect(targets.length).toBeGreaterThan(0);
  for (const t of targets) {
    const name = `${label}: "${t.textContent!.trim() || t.getAttribute('aria-label')}"`;
    t.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    await frame();
    expect([scrollX, scrollY], `${name} scrolled the page`).toEqual([0, 0]);
    const r = t.getBoundingClientRect();
    expect(within(r, vp), `${name} (${fmt(r)}) is in the viewport`).toBe(true);
    expect(within(r, panel.getBoundingClientRect()), `${name} (${fmt(r)}) is inside its panel (${fmt(panel.getBoundingClientRect())})`).toBe(true);
    const hit = root.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    expect(hit === t || (hit !== null && t.contains(hit)), `${name}: a click at its centre hits ${hit?.outerHTML.slice(0, 60)}`).toBe(true);
  }
}

async function nudge(kind: KeelNudge['kind'], anchor: string[] = []) {
  const el = await fixture<KeelNudge>(
    html`<keel-nudge nudge-id="long" .kind=${kind} .anchor=${anchor} heading=${TITLE} body=${BODY} .actions=${ACTIONS}></keel-nudge>`,
  );
  expect(await el.show()).toBe(true);
  const root = el.shadowRoot!;
  const panel = root.querySelector<HTMLElement>('.panel')!;
  const beacon = root.querySelector<HTMLButtonElement>('.beacon');
  if (beacon) {
    beacon.click(); // a hotspot's panel opens from its beacon
    await expect.poll(() => panel.matches(':popover-open')).toBe(true);
  }
  return { el, root, panel, targets: [...root.querySelectorAll<HTMLElement>('.actions > *, .close')] };
}

function step(over: Partial<RecipeStep> = {}): RecipeStep {
  return { recipeId: 'first-report', recipeTitle: TITLE, index: 1, total: 3, anchor: [], text: BODY, advance: 'next', title: TITLE, ...over };
}
async function recipe(s: RecipeStep) {
  const el = await fixture<KeelRecipe>(html`<keel-recipe anchor-timeout="3000"></keel-recipe>`);
  el.step = s;
  await el.updateComplete;
  const root = el.shadowRoot!;
  await expect.poll(() => !!root.querySelector('.panel')?.matches(':popover-open')).toBe(true);
  return { el, root, panel: root.querySelector<HTMLElement>('.panel')!, targets: [...root.querySelectorAll<HTMLElement>('.actions button, .close')] };
}

const CHECKLIST: ChecklistView = {
  id: 'onboarding',
  title: TITLE,
  items: Array.from({ length: 14 }, (_, i) => ({
    id: `item-${i}`,
    title: `Step ${i + 1}: connect the thing that makes the next step possible`,
    state: i % 3 === 2 ? 'done' : 'pending',
    description: 'A description long enough to wrap over a few lines on a small screen.',
    dueDay: i + 1,
    ...(i % 3 === 2 ? {} : { launch: { label: 'Start', link: '/settings' } }),
  })),
};

const REPORT: HealthReportView = {
  tenantId: 'acme',
  score: 44,
  band: 'watch',
  coverage: 0.9,
  components: Array.from({ length: 16 }, (_, i) => ({
    id: `component-${i}`,
    metric: `metric_${i}_30d`,
    value: 0.5,
    rule: 'linear 0.2 → 0.8 over thirty days of events',
    points: 50,
    weight: 6,
    contribution: 3,
    included: true,
  })),
  whatWouldMove: Array.from({ length: 4 }, (_, i) => ({
    component: `component-${i}`,
    target: 0.8,
    gain: 3,
    description: `metric_${i}_30d reaching 0.8 (now 0.5): +3 points`,
  })),
  trend: {
    wow: { points: -6, percent: -12, against: '2026-11-15' },
    history: [
      { day: '2026-11-20', score: 50, band: 'watch' },
      { day: '2026-11-21', score: 47, band: 'watch' },
      { day: '2026-11-22', score: 44, band: 'watch' },
    ],
  },
};

describe.each(SIZES)('$name', ({ width, height }) => {
  beforeAll(async () => {
    await page.viewport(width, height);
  });
  test('the viewport is the size under test', () => {
    expect([document.documentElement.clientWidth, innerHeight]).toEqual([width, height]);
  });

  test('modal', async () => {
    tallPage();
    const n = await nudge('modal');
    expect(n.panel.localName).toBe('dialog');
    await expectReachable('modal', n.root, n.panel, n.targets);
    await axeClean(n.el);
  });

  for (const [where, top] of [
    ['near the top', 8],
    ['in the middle', height / 2 - 12],
    ['near the bottom', height - 40],
  ] as const) {
    test(`tooltip anchored ${where}`, async () => {
      tallPage(top);
      const n = await nudge('tooltip', ['#anchor']);
      await expectReachable(`tooltip ${where}`, n.root, n.panel, n.targets);
      await axeClean(n.el);
    });
  }

  test('hotspot', async () => {
    tallPage(height / 2);
    const n = await nudge('hotspot', ['#anchor']);
    await expectReachable('hotspot', n.root, n.panel, n.targets);
    await axeClean(n.el);
  });

  test('banner', async () => {
    tallPage();
    const n = await nudge('banner');
    await expectReachable('banner', n.root, n.panel, n.targets);
    await axeClean(n.el);
  });

  test('recipe step, centred (no anchor)', async () => {
    tallPage();
    const r = await recipe(step());
    expect(r.panel.classList.contains('centered')).toBe(true);
    await expectReachable('centred step', r.root, r.panel, r.targets);
    await axeClean(r.el);
  });

  test('recipe step, anchored; then a centred step after it is centred and fits too', async () => {
    tallPage(height - 48);
    const r = await recipe(step({ anchor: ['#anchor'] }));
    expect(r.panel.classList.contains('centered')).toBe(false);
    await expectReachable('anchored step', r.root, r.panel, r.targets);
    await axeClean(r.el);
    r.el.step = step({ index: 2, anchor: [] });
    await r.el.updateComplete;
    await expect.poll(() => r.panel.matches(':popover-open') && r.panel.classList.contains('centered')).toBe(true);
    await expectReachable('centred step after an anchored one', r.root, r.panel, [...r.root.querySelectorAll<HTMLElement>('.actions button, .close')]);
    const box = r.panel.getBoundingClientRect();
    expect(Math.abs(box.left + box.width / 2 - width / 2)).toBeLessThan(2);
    expect(Math.abs(box.top + box.height / 2 - height / 2)).toBeLessThan(2);
  });

  test('checklist (fixed in a corner, as a launcher would put it)', async () => {
    tallPage();
    const el = await fixture<KeelChecklist>(html`<keel-checklist .view=${CHECKLIST}></keel-checklist>`);
    Object.assign(el.style, { position: 'fixed', right: '8px', bottom: '8px', width: `${Math.min(360, width - 16)}px` });
    await el.updateComplete;
    const root = el.shadowRoot!;
    const targets = [...root.querySelectorAll<HTMLElement>('[part~="header"] button, [part~="action"]')];
    expect(targets.length).toBeGreaterThan(9);
    await expectReachable('checklist', root, root.querySelector<HTMLElement>('[part~="base"]')!, targets);
    await axeClean(el);
  });

  test('health badge popover', async () => {
    tallPage();
    const el = await fixture<KeelHealthBadge>(html`<keel-health-badge .report=${REPORT}></keel-health-badge>`);
    Object.assign(el.style, { position: 'fixed', top: `${height / 2}px`, left: '8px' });
    const root = el.shadowRoot!;
    root.querySelector<HTMLButtonElement>('[part~="badge"]')!.click();
    const pop = root.querySelector<HTMLElement>('[part~="popover"]')!;
    await expect.poll(() => pop.matches(':popover-open')).toBe(true);
    await expectReachable('badge popover', root, pop, [root.querySelector<HTMLElement>('.close')!]);
    await axeClean(el);
  });
});
