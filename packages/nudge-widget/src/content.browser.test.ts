// XSS and anchors, in Chromium: what a nudge renders from config strings, and where it points.
import { afterEach, expect, test } from 'vitest';
import { deepQuery, findAnchor, waitForAnchor } from './anchor.js';
import { SAFE_LINK } from '@keel/sdk-core';
import { renderMarkdown, SAFE_URL, safeHref } from './markdown.js';

const host = () => {
  const div = document.createElement('div');
  document.body.append(div);
  return div;
};
afterEach(() => {
  document.body.replaceChildren();
});

test('the markdown subset renders as DOM nodes: bold, italic, code, links, lists', () => {
  const el = host();
  el.append(
    renderMarkdown(
      'Teams save **3 hours** a week with *scheduled* `reports`.\n\n- one [docs](https://docs.acme.example/r)\n- two\n\n1. first\n2. [setup](/settings)',
    ),
  );
  expect(el.innerHTML).toBe(
    '<p>Teams save <strong>3 hours</strong> a week with <em>scheduled</em> <code>reports</code>.</p>' +
      '<ul><li>one <a href="https://docs.acme.example/r" target="_blank" rel="noopener noreferrer">docs</a></li><li>two</li></ul>' +
      '<ol><li>first</li><li><a href="/settings">setup</a></li></ol>',
  );
});

test.each([
  ['a script tag', '<script>window.__pwned = 1</script>'],
  ['an img onerror', '<img src=x onerror="window.__pwned = 1">'],
  ['an attribute-breaking quote', '" onmouseover="window.__pwned=1" x="'],
  ['a javascript: link', '[click me](javascript:window.__pwned=1)'],
  ['a data: link', '[open](data:text/html,<script>window.__pwned=1</script>)'],
  ['a protocol-relative link', '[x](//evil.example/steal)'],
  ['markup inside bold', '**<img src=x onerror="window.__pwned=1">**'],
])('%s renders inert, as text', async (_name, input) => {
  const w = window as unknown as { __pwned?: number };
  delete w.__pwned;
  const el = host();
  el.append(renderMarkdown(input));
  await new Promise((r) => setTimeout(r, 50)); // an onerror would have fired by now
  expect(w.__pwned).toBeUndefined();
  expect(el.querySelectorAll('script, img, [onerror], [onmouseover]')).toHaveLength(0);
  for (const a of el.querySelectorAll('a')) expect(a.getAttribute('href')).toMatch(/^(https?:\/\/|\/[^/])/);
  expect(el.textContent!.length).toBeGreaterThan(0);
});

test('the markdown link rule is the one the config validator and the engine use', () => {
  expect(SAFE_URL.source).toBe(SAFE_LINK.source);
  expect(SAFE_URL.flags).toBe(SAFE_LINK.flags);
});

test('safeHref keeps http(s) and same-site paths only', () => {
  expect(safeHref('https://acme.example/x')).toBe('https://acme.example/x');
  expect(safeHref('/settings/sso')).toBe('/settings/sso');
  for (const bad of [
    'javascript:alert(1)',
    ' JavaScript:alert(1)',
    'data:text/html,x',
    '//evil.example',
    '/\\evil.example',
    '/\t/evil.example',
    'https://',
    'vbscript:x',
    'https://a.example/"onmouseover=x',
  ])
    expect(safeHref(bad)).toBeUndefined();
});

test('anchors: ranked selectors, the first that matches wins; lookup reaches into open shadow roots', () => {
  const el = host();
  const comp = document.createElement('div');
  el.append(comp);
  const shadow = comp.attachShadow({ mode: 'open' });
  const inner = document.createElement('button');
  inner.dataset.keel = 'save-report';
  shadow.append(inner);
  expect(deepQuery('[data-keel="save-report"]')).toBe(inner);
  const nav = document.createElement('a');
  nav.setAttribute('href', '/reports');
  el.append(nav);
  expect(findAnchor(['[data-keel="reports-nav"]', 'a[href="/reports"]'])).toEqual({ element: nav, selector: 'a[href="/reports"]' });
  expect(findAnchor(['not a [valid selector', 'a[href="/reports"]'])?.element).toBe(nav);
});

test('a late anchor (appearing after 2 s) is waited for; one that never appears is reported as anchor.missing', async () => {
  const el = host();
  setTimeout(() => {
    const b = document.createElement('button');
    b.id = 'late';
    el.append(b);
  }, 2000);
  const late = await waitForAnchor('#late', { timeoutMs: 4000 });
  expect(late).toMatchObject({ ok: true, selector: '#late' });
  expect(late.waitedMs).toBeGreaterThanOrEqual(1900);
  const never = await waitForAnchor(['#never', '.also-never'], { timeoutMs: 300 });
  expect(never).toMatchObject({ ok: false, reason: 'anchor.missing', selectors: ['#never', '.also-never'] });
  expect(never.waitedMs).toBeGreaterThanOrEqual(290);
});

test('an anchor added later inside an existing shadow root is found', async () => {
  const el = host();
  const comp = document.createElement('div');
  el.append(comp);
  const shadow = comp.attachShadow({ mode: 'open' });
  setTimeout(() => {
    const b = document.createElement('button');
    b.className = 'deep';
    shadow.append(b);
  }, 200);
  expect(await waitForAnchor('.deep', { timeoutMs: 2000 })).toMatchObject({ ok: true, selector: '.deep' });
});

test('an anchor rendered inside a shadow root attached on a late upgrade (customElements.define after the element is in the page) is found', async () => {
  document.body.insertAdjacentHTML('beforeend', '<late-widget-x></late-widget-x>');
  const wait = waitForAnchor('[data-keel="late-save"]', { timeoutMs: 3000 });
  setTimeout(() => {
    customElements.define(
      'late-widget-x',
      class extends HTMLElement {
        connectedCallback() {
          const root = this.attachShadow({ mode: 'open' });
          setTimeout(() => root.append(Object.assign(document.createElement('button'), { textContent: 'Save' })), 100);
          setTimeout(() => root.querySelector('button')?.setAttribute('data-keel', 'late-save'), 150);
        }
      },
    );
  }, 200);
  const r = await wait;
  expect(r.ok).toBe(true);
  expect(r.ok && r.element.getRootNode()).toBeInstanceOf(ShadowRoot);
});
