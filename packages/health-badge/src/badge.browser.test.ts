import { fixture, html } from '@open-wc/testing-helpers';
import axe from 'axe-core';
import { expect, inject, test } from 'vitest';
import { userEvent } from 'vitest/browser';
import { adminCall } from '../../../config/browser-admin.js';
import type { KeelHealthBadge } from './badge.js';
import './define.js';
import { SHARED_CONFIG } from './test-fixtures.js';
import type { HealthReportView } from './types.js';

const REPORT: HealthReportView = {
  tenantId: 'acme',
  score: 44,
  band: 'watch',
  coverage: 0.9,
  components: [
    { id: 'adoption', metric: 'features_used_ratio_30d', value: 0.5, rule: 'linear 0.2 → 0.8', points: 50, weight: 25, contribution: 12.5, included: true },
    { id: 'errors', metric: 'errors_per_session_7d', value: 0.5, rule: 'otherwise → 0', points: 0, weight: 15, contribution: 0, included: true },
    {
      id: 'width',
      metric: 'active_users_over_seats',
      value: null,
      rule: 'missing → exclude',
      points: 0,
      weight: 15,
      contribution: 0,
      included: false,
      missing: 'exclude',
    },
  ],
  whatWouldMove: [{ component: 'adoption', target: 0.8, gain: 12.5, description: 'features_used_ratio_30d reaching 0.8 (now 0.5): +12.5 points' }],
  words: {
    headline: 'Account health 44: watch',
    trend: 'Down 6 points since 15 Nov.',
    coverage: 'Based on 2 of 3 measures; 1 has no data yet.',
    components: [
      {
        id: 'adoption',
        label: 'Feature adoption',
        value: '50%',
        summary: '50% of the features in your plan were used in the last 30 days.',
        points: '+12.5 of 62.5 points',
      },
      {
        id: 'errors',
        label: 'Errors',
        value: '0.5 per session',
        summary: 'Users met 0.5 errors per session over the last 7 days.',
        points: '+0 of 37.5 points',
      },
      { id: 'width', label: 'Seat usage', value: 'No data yet', summary: 'Not counted in the score until there is data.', points: 'not counted' },
    ],
    moves: ['Feature adoption at 80% (now 50%) would add 12.5 points.'],
  },
  trend: {
    wow: { points: -6, percent: -12, against: '2026-11-15' },
    history: [
      { day: '2026-11-20', score: 50, band: 'watch' },
      { day: '2026-11-21', score: 47, band: 'watch' },
      { day: '2026-11-22', score: 44, band: 'watch' },
    ],
  },
};

async function axeClean(el: Element) {
  const r = await axe.run(el, { resultTypes: ['violations'] });
  expect(r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(' | ')}`)).toEqual([]);
}
const q = <T extends Element = HTMLElement>(el: KeelHealthBadge, sel: string) => el.shadowRoot!.querySelector<T>(sel)!;

test('shows score, band as text and colour, and the trend; axe-clean', async () => {
  const el = await fixture<KeelHealthBadge>(html`<keel-health-badge .report=${REPORT}></keel-health-badge>`);
  const badge = q(el, '[part~="badge"]');
  expect(badge.textContent).toMatch(/Health 44\s*Watch\s*▼\s*Down 6 points since 15 Nov\.\s*-6/);
  expect(badge.classList.contains('watch')).toBe(true);
  await axeClean(el);
});

test('the keyboard opens the popover in the top layer with the reasons; Escape closes it and focus returns', async () => {
  const el = await fixture<KeelHealthBadge>(html`<keel-health-badge .report=${REPORT}></keel-health-badge>`);
  const badge = q<HTMLButtonElement>(el, '[part~="badge"]');
  badge.focus();
  await userEvent.keyboard('{Enter}');
  await el.updateComplete;
  const pop = q(el, '[part~="popover"]');
  expect(pop.matches(':popover-open')).toBe(true);
  expect(el.open).toBe(true);
  expect(badge.getAttribute('aria-expanded')).toBe('true');
  expect(el.shadowRoot!.activeElement).toBe(q(el, 'h2'));
  const text = pop.textContent!.replace(/\s+/g, ' ');
  expect(text).toContain('Account health 44: watch');
  expect(text).toContain('Down 6 points since 15 Nov. Based on 2 of 3 measures; 1 has no data yet.');
  expect(text).toContain('Errors 0.5 per session Users met 0.5 errors per session over the last 7 days. +0 of 37.5 points');
  expect(text).toContain('Seat usage No data yet Not counted in the score until there is data. not counted');
  expect(q(el, 'h3').textContent).toBe('What would raise it');
  expect(text).toContain('Feature adoption at 80% (now 50%) would add 12.5 points.');
  // Written for a customer admin: no component ids, metric names or scoring rules.
  expect(text).not.toMatch(/\bwidth\b|features_used|errors_per_session|active_users|otherwise →|linear|×/);
  // Each value stays on one line beside its label.
  const value = [...pop.querySelectorAll<HTMLElement>('.value')].find((v) => v.textContent === 'No data yet')!;
  expect(value.getBoundingClientRect().height).toBeLessThan(parseFloat(getComputedStyle(value).fontSize) * 2);
  expect(q(el, 'svg').getAttribute('aria-label')).toBe('Score over the last 3 days');
  await axeClean(el);
  await userEvent.keyboard('{Escape}');
  await el.updateComplete;
  expect(pop.matches(':popover-open')).toBe(false);
  expect(el.open).toBe(false);
  expect(el.shadowRoot!.activeElement).toBe(badge);
  await axeClean(el);
});

test('the popover stays on top of a host overlay with the maximum z-index', async () => {
  const cover = document.createElement('div');
  cover.className = 'cover';
  Object.assign(cover.style, { position: 'fixed', inset: '0', zIndex: '2147483647', background: 'rgba(0,0,0,0.1)' });
  document.body.append(cover);
  const el = await fixture<KeelHealthBadge>(html`<keel-health-badge .report=${REPORT}></keel-health-badge>`);
  q<HTMLButtonElement>(el, '[part~="badge"]').click();
  await el.updateComplete;
  await new Promise((r) => setTimeout(r, 50));
  const box = q(el, 'h2').getBoundingClientRect();
  const hit = el.shadowRoot!.elementFromPoint(box.x + 5, box.y + 5);
  expect(hit && q(el, '[part~="popover"]').contains(hit)).toBe(true);
  cover.remove();
});

test('from the real server: an admin of the tenant sees its health; a token for another tenant never gets it', async () => {
  const { url, adminKey, tokens, writeKey } = inject('ingestHealth');
  const config = SHARED_CONFIG;
  await adminCall(url, adminKey, '/v1/admin/config', { config });
  const now = new Date().toISOString();
  await fetch(`${url}/v1/batch`, {
    method: 'POST',
    body: JSON.stringify({
      writeKey,
      batch: [
        {
          type: 'track',
          event: 'user.session',
          messageId: crypto.randomUUID(),
          userId: 'ada',
          timestamp: now,
          properties: { action: 'start' },
          context: { groupId: 'acme' },
        },
        { type: 'track', event: 'ticket.created', messageId: crypto.randomUUID(), userId: 'ada', timestamp: now, properties: {}, context: { groupId: 'acme' } },
      ],
    }),
  });
  const el = await fixture<KeelHealthBadge>(html`<keel-health-badge host=${url} tenant="acme" .token=${tokens.ada}></keel-health-badge>`);
  await expect.poll(() => el.report?.score).toBe(60); // errors 0/1 → 100 × 60; tickets 1/1 → 0 × 40
  // The words come from the server: the label from config, the metric's unit, the sentence.
  expect(el.report?.words?.components.map((c) => [c.label, c.value])).toEqual([
    ['Errors in the app', '0 per session'],
    ['Support tickets', '1 per user'],
  ]);
  expect(el.report?.words?.headline).toBe('Account health 60: watch');
  await axeClean(el);
  // Placed in markup first and configured by the page's script afterwards (as a vendor does): it loads then.
  const late = await fixture<KeelHealthBadge>(html`<keel-health-badge tenant="acme"></keel-health-badge>`);
  Object.assign(late, { host: url, token: tokens.ada });
  await expect.poll(() => late.report?.score).toBe(60);
  const other = await fixture<KeelHealthBadge>(html`<keel-health-badge host=${url} tenant="acme" .token=${tokens.eve}></keel-health-badge>`);
  await expect.poll(() => other.shadowRoot!.textContent).toContain('this user token is for tenant "globex", not "acme"');
  expect(other.report).toBeUndefined();
  await axeClean(other);
});
