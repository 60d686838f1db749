// @keel/embed, the script-tag SDK, as a vendor without a bundler uses it: one
// `<script type="module" src=".../sdk/keel.js" data-write-key data-user-token-url>` served by the
// real `keel serve`, with its SRI hash, in Chromium. Two policies: the vendor's origin serving
// everything (`default-src 'self'`, /sdk and /v1 forwarded to Keel), and a page that allows only
// Keel's origin for scripts. Each element's code is fetched the first time one appears; calls
// made before the SDK started are kept; every event is stored once; no CSP violation or error.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { signUserToken } from '../../packages/ingest/dist/index.js';
import { startVendorStack, waitFor, WRITE_KEY } from './harness.js';

const ADMIN = 'e2e-embed-admin';
const SECRET = 'e2e-embed-secret';
const manifest = JSON.parse(readFileSync(new URL('../../packages/embed/dist/manifest.json', import.meta.url), 'utf8')) as {
  lazy: Record<string, string>;
  files: Record<string, { integrity: string; gzip: number; initial: boolean }>;
};
const sri = manifest.files['keel.js']!.integrity;

let stack: Awaited<ReturnType<typeof startVendorStack>>;
beforeAll(async () => {
  stack = await startVendorStack({ configFile: fileURLToPath(new URL('./frameworks-app/keel.yaml', import.meta.url)), adminKey: ADMIN, secretKey: SECRET });
});
afterAll(() => stack?.close());

const tokenFor = (tenant: string) => signUserToken({ sub: `ada-${tenant}`, tenant, role: 'admin', ttlSeconds: 3600 }, SECRET);

/** A fresh context that records every error, CSP report and response. */
async function open(): Promise<{ context: BrowserContext; page: Page; errors: string[]; responses: { url: string; headers: Record<string, string> }[] }> {
  const context = await stack.browser.newContext();
  const errors: string[] = [];
  const responses: { url: string; headers: Record<string, string> }[] = [];
  context.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
  });
  context.on('weberror', (e) => errors.push(e.error().message));
  context.on('response', (r) => {
    if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
    responses.push({ url: r.url(), headers: r.headers() });
  });
  const page = await context.newPage();
  // Installed through DevTools (not an inline script, so the page's CSP doesn't apply): any violation is an error.
  await page.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)),
  );
  return { context, page, errors, responses };
}

const stored = (tenant: string, event: string) => stack.ingest.rows().then((rows) => rows.filter((r) => r.event === event && r.group_id === tenant));
const fetched = (responses: { url: string }[], file: string) => responses.some((r) => r.url.endsWith(`/sdk/${file}`));

test("same origin under default-src 'self': the tag alone starts Keel; elements load as they appear; early calls kept; each event stored once", async () => {
  const tenant = 'acme-embed';
  stack.served.files = new Map([
    [
      'app.js',
      // The vendor's own code: it calls window.keel before Keel has its token (queued), adds a badge later.
      `window.keel.track('embed.early', { n: 1 });
       document.querySelector('#ingest').addEventListener('click', () => window.keel.track('feature.used', { feature: 'dataset.ingest' }));
       document.querySelector('#admin').addEventListener('click', () => document.querySelector('main').append(document.createElement('keel-health-badge')));`,
    ],
  ]);
  stack.pages['/'] = `<!doctype html><html lang="en"><head><title>Acme</title>
    <script type="module" src="/sdk/keel.js" integrity="${sri}" crossorigin="anonymous" data-write-key="${WRITE_KEY}" data-user-token-url="/token"></script>
    <script type="module" src="/assets/app.js"></script></head>
    <body><nav><a href="/reports" data-keel="reports-nav">Reports</a></nav>
    <main><h1>Acme Analytics</h1><button id="ingest">Ingest a dataset</button><button id="admin">Admin</button>
    <keel-checklist checklist-id="onboarding"></keel-checklist></main></body></html>`;
  stack.pages['/token'] = tokenFor(tenant); // served as HTML's bytes: the embed reads the text
  const { context, page, errors, responses } = await open();
  try {
    await page.goto(`${stack.app.url}/`);
    const checklist = page.locator('keel-checklist');
    await expect.poll(() => checklist.locator('[part~="title"]').textContent(), { timeout: 15_000 }).toBe('Get Acme running');
    // The checklist's code came when the element was found; the badge's and the nudge UI's not yet.
    expect(fetched(responses, manifest.lazy['@keel/checklist-widget/define']!)).toBe(true);
    expect(fetched(responses, manifest.lazy['@keel/health-badge/define']!)).toBe(false);
    expect(fetched(responses, manifest.lazy['@keel/nudge-widget/ui']!)).toBe(false);

    await page.getByRole('button', { name: 'Ingest a dataset' }).click();
    await expect.poll(() => checklist.locator('[data-item="first-dataset"]').getAttribute('class'), { timeout: 15_000 }).toContain('done');
    // The nudge's rules now hold: the engine draws it from the UI chunk, fetched only now.
    const nudge = page.locator('keel-nudge[nudge-id="reports-unused"]');
    await expect.poll(() => nudge.locator('h2').textContent(), { timeout: 15_000 }).toBe('Turn this data into a report');
    expect(fetched(responses, manifest.lazy['@keel/nudge-widget/ui']!)).toBe(true);
    await nudge.getByRole('button', { name: 'Not now' }).click();

    // An element added later loads its code then, and gets host, token and tenant from the SDK.
    await page.getByRole('button', { name: 'Admin' }).click();
    const badge = page.locator('keel-health-badge [part~="badge"]');
    await expect.poll(() => badge.textContent(), { timeout: 15_000 }).toMatch(/\d/);
    expect(fetched(responses, manifest.lazy['@keel/health-badge/define']!)).toBe(true);

    // Stored once each, attributed to the token's tenant; the early call too.
    await waitFor(
      () => Promise.all([stored(tenant, 'embed.early'), stored(tenant, 'feature.used')]),
      ([early, used]) => early.length > 0 && used.length > 0,
    );
    await page.waitForTimeout(600);
    expect((await stored(tenant, 'embed.early')).length).toBe(1);
    expect((await stored(tenant, 'feature.used')).length).toBe(1);

    // Over the wire: keel.js revalidated after 5 minutes, chunks cached for good, compressed.
    const entry = responses.find((r) => r.url.endsWith('/sdk/keel.js'))!;
    expect(entry.headers['cache-control']).toBe('public, max-age=300, must-revalidate');
    expect(entry.headers['content-encoding']).toBe('br');
    const chunk = responses.find((r) => r.url.includes('/sdk/chunks/'))!;
    expect(chunk.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
}, 120_000);

test("a page allowing only Keel's origin for scripts (script-src <keel>, connect-src 'self' <keel>): the same tag from keel serve works", async () => {
  const tenant = 'acme-embed-x';
  const keel = stack.ingest.url;
  stack.pages['/token-x'] = JSON.stringify({ token: tokenFor(tenant) }); // JSON `{ token }` is read too
  stack.pages['/cross'] = {
    csp: `default-src 'self'; script-src ${keel}; connect-src 'self' ${keel}`,
    html: `<!doctype html><html lang="en"><head><title>Acme</title>
      <script type="module" src="${keel}/sdk/keel.js" integrity="${sri}" crossorigin="anonymous" data-write-key="${WRITE_KEY}" data-user-token-url="/token-x"></script></head>
      <body><main><h1>Acme Analytics</h1><keel-checklist checklist-id="onboarding"></keel-checklist><keel-status></keel-status></main></body></html>`,
  };
  const { context, page, errors, responses } = await open();
  const before = stack.app.requests.length;
  try {
    await page.goto(`${stack.app.url}/cross`);
    const checklist = page.locator('keel-checklist');
    await expect.poll(() => checklist.locator('[part~="title"]').textContent(), { timeout: 15_000 }).toBe('Get Acme running');
    // The status indicator got host and token from the SDK, and shows the status.
    await expect.poll(() => page.locator('keel-status').evaluate((el) => el.shadowRoot?.textContent?.trim() ?? ''), { timeout: 15_000 }).not.toBe('');
    // The SDK's calls went to Keel's origin (derived from the script's own URL), not the page's.
    // window.keel stays one object: page() works after start, `ready` gives the SDK, the SDK's own parts are there.
    const shape = await page.evaluate(async () => {
      const k = (window as unknown as { keel: { track(e: string): void; page(n?: string): void; ready: Promise<{ config?: unknown }>; recipes?: unknown } })
        .keel;
      const sdk = await k.ready;
      k.track('embed.cross');
      k.page('Cross');
      return { config: sdk.config !== undefined, recipes: typeof k.recipes };
    });
    expect(shape).toEqual({ config: true, recipes: 'object' });
    await waitFor(
      () => Promise.all([stored(tenant, 'embed.cross'), stack.ingest.rows().then((rows) => rows.filter((r) => r.type === 'page' && r.group_id === tenant))]),
      ([tracked, pages]) => tracked.length === 1 && pages.length >= 1,
    );
    expect(responses.some((r) => r.url.startsWith(`${keel}/v1/config`))).toBe(true);
    expect(stack.app.requests.slice(before).some((p) => p.startsWith('/sdk/') || p.startsWith('/v1/'))).toBe(false);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
}, 120_000);

test('the initial download (keel.js and the chunks it imports) is within 25 KB gzip; every element is a chunk of its own', () => {
  const initial = Object.values(manifest.files).filter((f) => f.initial);
  expect(initial.reduce((s, f) => s + f.gzip, 0)).toBeLessThanOrEqual(25 * 1024);
  for (const mod of ['@keel/checklist-widget/define', '@keel/health-badge/define', '@keel/nudge-widget/define', '@keel/nudge-widget/ui'])
    expect(manifest.files[manifest.lazy[mod]!]?.initial, mod).toBe(false);
});
