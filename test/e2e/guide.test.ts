// Nudges and recipes end to end, as a user meets them: `keel config publish` → a vendor page
// served with `Content-Security-Policy: default-src 'self'` that runs every widget (checklist,
// health badge, status, the four nudge kinds, a recipe, the debug overlay) with zero CSP
// violations; the nudge/recipe UI is a separate chunk fetched only when something is first shown;
// a recipe that crosses a full page navigation resumes after a reload, in a new tab, and in
// another browser (from the server's progress), then completes the checklist item it serves.
import { readFileSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { signUserToken } from '../../packages/ingest/dist/index.js';
import { type AppBundle, bundleApp, freePort, IngestProcess, keelCli, launchChromium, startAppServer, waitFor, WRITE_KEY } from './harness.js';

const ADMIN = 'e2e-guide-admin';
const SECRET = 'e2e-guide-secret';
const here = (p: string) => new URL(`./guide-app/${p}`, import.meta.url).pathname;

let ingest: IngestProcess;
let app: Awaited<ReturnType<typeof startAppServer>>;
let bundle: AppBundle;
let browser: Awaited<ReturnType<typeof launchChromium>>;
const violations: string[] = [];

beforeAll(async () => {
  bundle = await bundleApp(here('app.ts'));
  const token = signUserToken({ sub: 'ada', tenant: 'acme', role: 'admin', ttlSeconds: 3600 }, SECRET);
  const template = readFileSync(here('page.html'), 'utf8');
  const page = (title: string, main: string) =>
    template.replace('%TITLE%', title).replace('%WRITE_KEY%', WRITE_KEY).replace('%USER_TOKEN%', token).replace('%QUIET_MS%', '300').replace('%MAIN%', main);
  let ingestUrl = '';
  app = await startAppServer({
    bundle,
    ingest: () => ingestUrl,
    assets: { 'page.css': { type: 'text/css', body: readFileSync(here('page.css'), 'utf8') } },
    pages: {
      '/': page('Home', '<h1>Home</h1><button id="ingest">Ingest a dataset</button> <button id="boom">Fail an import</button>'),
      '/reports': page(
        'Reports',
        '<h1>Reports</h1><button data-keel="new-report">New report</button> <button id="save" data-keel="save-report">Save report</button> <button id="filters">Filters</button>',
      ),
    },
  });
  ingest = new IngestProcess(await freePort(), app.url, ['--admin-key', ADMIN, '--secret-key', SECRET]);
  ingestUrl = ingest.url;
  await ingest.start();
  const published = await keelCli(['config', 'publish', here('keel.yaml'), '--actor', 'cs-ada'], { KEEL_URL: ingest.url, KEEL_ADMIN_KEY: ADMIN });
  expect(published.out).toContain('published version 1');
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await app?.close();
  await ingest?.stop();
});

async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext();
  // Every violation the browser reports, from any page of the context.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  context.on('console', (m) => {
    if (/Content Security Policy|CSP violation/i.test(m.text())) violations.push(m.text());
  });
  return context;
}

const ready = (page: Page) => page.waitForFunction(() => (window as unknown as { keel?: { ready: Promise<void> } }).keel?.ready.then(() => true));
const nudgeOpen = (page: Page, id: string) =>
  page.evaluate((i) => !!document.querySelector(`keel-nudge[nudge-id="${i}"]`)?.shadowRoot?.querySelector('.panel')?.matches(':popover-open, [open]'), id);
const step = (page: Page) =>
  page.evaluate(() => {
    const panel = document.querySelector('keel-recipe')?.shadowRoot?.querySelector('.panel');
    return panel?.matches(':popover-open') ? panel.querySelector('[part~="progress"]')!.textContent!.replace(/\s+/g, ' ').trim() : null;
  });
const lazyFetched = () => app.requests.filter((p) => bundle.lazy.some((f) => p === `/assets/${f}`));

test('every widget under a strict CSP; nudge and recipe UI fetched only when first shown; a multi-page recipe resumes after reload, in a new tab and on another device', async () => {
  expect(bundle.lazy.some((f) => f.startsWith('ui-'))).toBe(true);
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(`${app.url}/`);
  await ready(page);
  // The widgets that are always there render: checklist, health badge, status.
  await waitFor(
    () => page.evaluate(() => document.querySelector('keel-checklist')?.shadowRoot?.querySelector('[part~="title"]')?.textContent),
    (t) => t === 'Get Acme running',
  );
  await waitFor(
    () => page.evaluate(() => document.querySelector('keel-health-badge')?.shadowRoot?.textContent ?? ''),
    (t) => /\d/.test(t),
  );
  await waitFor(
    () => page.evaluate(() => document.querySelector('keel-status')?.shadowRoot?.textContent ?? ''),
    (t) => t.trim().length > 0,
  );
  await page.waitForTimeout(500);
  // Nothing to show yet: neither the engine nor the UI chunk was fetched. Telemetry's drain chunk
  // was: the first flush (100 ms after the first event here) imports it.
  expect(lazyFetched().filter((p) => !p.startsWith('/assets/drain-'))).toEqual([]);
  expect(lazyFetched().some((p) => p.startsWith('/assets/drain-'))).toBe(true);

  // An event makes the tooltip eligible: the chunk is fetched now, and the tooltip points at "Reports".
  await page.getByRole('button', { name: 'Ingest a dataset' }).click();
  await waitFor(() => nudgeOpen(page, 'reports-unused'), Boolean);
  expect(lazyFetched().some((p) => p.startsWith('/assets/ui-'))).toBe(true);
  // Its action starts the recipe, whose first step points at the same link.
  await page.locator('keel-nudge[nudge-id="reports-unused"]').getByRole('button', { name: 'Show me' }).click();
  await waitFor(
    () => step(page),
    (s) => s === 'Step 1 of 3 · Create your first report',
  );

  // Clicking the link navigates for real (a full page load): the next page resumes at step 2.
  await page.getByRole('link', { name: 'Reports' }).click();
  await page.waitForURL(`${app.url}/reports`);
  await ready(page);
  await waitFor(
    () => step(page),
    (s) => s === 'Step 2 of 3',
  );
  const attached = await page.evaluate(() => {
    const a = document.querySelector('[data-keel="new-report"]')!.getBoundingClientRect();
    const p = document.querySelector('keel-recipe')!.shadowRoot!.querySelector('.panel')!.getBoundingClientRect();
    return p.top >= a.bottom && p.top - a.bottom < 30;
  });
  expect(attached).toBe(true);
  // A reload, and a new tab: still step 2.
  await page.reload();
  await ready(page);
  await waitFor(
    () => step(page),
    (s) => s === 'Step 2 of 3',
  );
  const tab = await context.newPage();
  await tab.goto(`${app.url}/reports`);
  await ready(tab);
  await waitFor(
    () => step(tab),
    (s) => s === 'Step 2 of 3',
  );
  await tab.close();
  // Another browser (nothing local): the step comes from the progress the server kept.
  const device = await newContext();
  const other = await device.newPage();
  await other.goto(`${app.url}/reports`);
  await ready(other);
  await waitFor(
    () => step(other),
    (s) => s === 'Step 2 of 3',
  );
  await device.close();

  // Finish it: click the anchor, then do what the last step asks.
  await page.getByRole('button', { name: 'New report' }).click();
  await waitFor(
    () => step(page),
    (s) => s === 'Step 3 of 3',
  );
  await page.getByRole('button', { name: 'Save report' }).click();
  await waitFor(
    () => step(page),
    (s) => s === null,
  );
  await waitFor(
    () => page.evaluate(() => document.querySelector('keel-checklist')!.shadowRoot!.querySelector('[data-item="first-report"]')!.className),
    (c) => c.includes('done'),
  );

  // After the quiet period the modal (its trigger: the recipe completed) shows; Escape closes it.
  await waitFor(() => nudgeOpen(page, 'welcome-reports'), Boolean);
  expect(
    await page.evaluate(() => document.querySelector('keel-nudge[nudge-id="welcome-reports"]')!.shadowRoot!.querySelector('dialog')!.matches(':modal')),
  ).toBe(true);
  await page.keyboard.press('Escape');
  await waitFor(
    () => nudgeOpen(page, 'welcome-reports'),
    (o) => !o,
  );
  // The hotspot's beacon, opened from the keyboard.
  const beacon = page.locator('keel-nudge[nudge-id="filters-tip"]').getByRole('button', { name: 'Tip: Filters' });
  await beacon.waitFor();
  await beacon.focus();
  await page.keyboard.press('Enter');
  await waitFor(() => nudgeOpen(page, 'filters-tip'), Boolean);
  await page.keyboard.press('Escape');
  await waitFor(
    () => nudgeOpen(page, 'filters-tip'),
    (o) => !o,
  );

  // The banner, on the home page, after a failed import.
  await page.getByRole('link', { name: 'Home' }).click();
  await page.waitForURL(`${app.url}/`);
  await ready(page);
  await page.getByRole('button', { name: 'Fail an import' }).click();
  await waitFor(() => nudgeOpen(page, 'import-help'), Boolean);
  await page.locator('keel-nudge[nudge-id="import-help"]').getByRole('button', { name: 'Contact support' }).click();
  await waitFor(
    () => nudgeOpen(page, 'import-help'),
    (o) => !o,
  );

  // The debug overlay explains every nudge.
  await page.goto(`${app.url}/?keel_debug=1`);
  await ready(page);
  const lines = await waitFor(
    () =>
      page.evaluate(() =>
        [...(document.querySelector('keel-debug')?.shadowRoot?.querySelectorAll('summary') ?? [])].map((s) => s.textContent!.replace(/\s+/g, ' ').trim()),
      ),
    (l) => l.length === 4,
  );
  expect(lines.find((l) => l.includes('reports-unused'))).toMatch(/^✕ reports-unused: blocked by /);
  expect(lines.find((l) => l.includes('welcome-reports'))).toMatch(/blocked by nudge cap: shown 1 of 1 time in 1d/);

  // What the server stored: every guidance event, and the recipe's progress.
  const stored = await waitFor(
    async () => (await ingest.rows()).filter((r) => r.type === 'track').map((r) => r.event),
    (e) => e.includes('recipe.completed') && e.includes('support.requested'),
  );
  for (const e of ['nudge.sent', 'nudge.acted', 'recipe.started', 'recipe.resumed', 'recipe.step_completed', 'recipe.completed', 'checklist.item_completed'])
    expect(stored).toContain(e);
  expect(violations).toEqual([]);
  await context.close();
});
