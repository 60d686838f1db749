// Segment's own browser library, unchanged: the real @segment/analytics-next in Chromium loads its
// settings from `keel serve` (built CLI, real SQLite) and sends there; every message is stored
// once and attributed to the tenant of its user's `group` call (analytics-next never stamps
// context.groupId).
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'vitest';
import { freePort, IngestProcess, launchChromium, startPageServer, waitFor, WRITE_KEY } from './harness.js';

const here = fileURLToPath(new URL('.', import.meta.url)); // resolves from test/node_modules

declare global {
  interface Window {
    AnalyticsBrowser: { load(settings: Record<string, unknown>, options?: Record<string, unknown>): AjsLike };
    ajs: AjsLike;
  }
}
interface Ctx {
  event: { messageId: string; type: string };
}
interface AjsLike {
  identify(id: string, traits?: Record<string, unknown>): Promise<Ctx>;
  group(id: string, traits?: Record<string, unknown>): Promise<Ctx>;
  track(event: string, props?: Record<string, unknown>): Promise<Ctx>;
  page(name?: string, props?: Record<string, unknown>): Promise<Ctx>;
  screen(name: string): Promise<Ctx>;
  alias(to: string, from?: string): Promise<Ctx>;
}

/** analytics-next from node_modules, bundled for the page as a vendor's bundler would (its lazy chunks inlined). */
async function bundleAjs(): Promise<string> {
  const out = await build({
    stdin: {
      contents: `import { AnalyticsBrowser } from '@segment/analytics-next'; window.AnalyticsBrowser = AnalyticsBrowser;`,
      resolveDir: here,
      loader: 'js',
    },
    bundle: true,
    format: 'iife',
    target: 'es2020',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  return out.outputFiles[0]!.text;
}

let browser: Browser;
let pages: Awaited<ReturnType<typeof startPageServer>>;
let ingest: IngestProcess;
let context: BrowserContext;
beforeAll(async () => {
  pages = await startPageServer(await bundleAjs());
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await pages?.close();
});
beforeEach(async () => {
  ingest = new IngestProcess(await freePort(), pages.url);
  await ingest.start();
  context = await browser.newContext();
});
afterEach(async () => {
  await context.close();
  await ingest.stop();
});

/** Opens the app page and loads analytics-next with Keel as its CDN; records every request the page makes. */
async function open(options: Record<string, unknown> = {}): Promise<{ page: Page; requests: string[] }> {
  const page = await context.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
  if (process.env.KEEL_E2E_DEBUG) page.on('console', (m) => console.log(`[page] ${m.text()}`));
  await page.goto(pages.url);
  await page.evaluate(
    ({ writeKey, cdnURL, options }) => {
      window.ajs = window.AnalyticsBrowser.load({ writeKey, cdnURL }, options);
    },
    { writeKey: WRITE_KEY, cdnURL: ingest.url, options },
  );
  return { page, requests };
}

function expectStoredOnce(rows: { message_id: string }[], ids: string[]) {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.message_id, (counts.get(r.message_id) ?? 0) + 1);
  expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
}

test("standard delivery: /v1/t, /p, /i, /g, /a, /s; every message stored once and attributed to its user's group call", async () => {
  const { page, requests } = await open();
  const ids = await page.evaluate(async () => {
    const a = window.ajs;
    const out: string[] = [];
    const keep = async (p: Promise<Ctx>) => out.push((await p).event.messageId);
    await keep(a.page('Landing')); // anonymous, before identify and group
    await keep(a.identify('ada', { email: 'ada@acme.example' }));
    await keep(a.track('Signed In'));
    await keep(a.group('acme', { plan: 'pro' }));
    for (let i = 0; i < 5; i++) await keep(a.track('Report Created', { i }));
    await keep(a.screen('Settings'));
    await keep(a.alias('ada', 'ada-legacy'));
    await keep(a.page('Reports'));
    return out;
  });
  expect(ids).toHaveLength(12);
  const rows = await waitFor(
    () => ingest.rows(),
    (r) => r.length >= ids.length,
  );
  expectStoredOnce(rows, ids);
  expect(rows).toHaveLength(ids.length);
  // Every one, including those sent before the group call, is acme's.
  expect(rows.map((r) => [r.type, r.group_id])).toEqual(rows.map((r) => [r.type, 'acme']));
  expect(new Set(rows.map((r) => r.type))).toEqual(new Set(['page', 'identify', 'track', 'group', 'screen', 'alias']));
  const posted = new Set(requests.filter((r) => r.startsWith('POST')).map((r) => new URL(r.slice(5)).pathname));
  expect(posted).toEqual(new Set(['/v1/p', '/v1/i', '/v1/t', '/v1/g', '/v1/s', '/v1/a']));
  // Nothing from Segment: the settings came from Keel, and the page talked to 127.0.0.1 only.
  expect(requests.filter((r) => !r.includes('//127.0.0.1:'))).toEqual([]);
  expect(requests).toContain(`GET ${ingest.url}/v1/projects/${WRITE_KEY}/settings`);
  const track = JSON.parse(rows.find((r) => r.type === 'track' && JSON.parse(r.payload).event === 'Report Created')!.payload);
  expect(track.context.library.name).toBe('analytics.js');
  expect(track.context.groupId).toBeUndefined();
});

test("batching delivery (/v1/b) for two users of two tenants: each message stored once, attributed to its own user's tenant", async () => {
  const batching = { integrations: { 'Segment.io': { deliveryStrategy: { strategy: 'batching', config: { size: 6, timeout: 200 } } } } };
  const run = async (user: string, tenant: string) => {
    const { page, requests } = await open(batching);
    const ids = await page.evaluate(
      async ({ user, tenant }) => {
        const a = window.ajs;
        const ps = [a.track('Before Login'), a.identify(user), a.group(tenant, { seats: 10 })];
        for (let i = 0; i < 9; i++) ps.push(a.track('Feature Used', { i }));
        return (await Promise.all(ps)).map((c) => c.event.messageId);
      },
      { user, tenant },
    );
    await page.close(); // the rest of the buffer goes out on page hide
    return { ids, requests };
  };
  const ada = await run('ada', 'acme');
  // Bob on another device (another anonymous id: one device's anonymous events follow its last group call).
  await context.close();
  context = await browser.newContext();
  const bob = await run('bob', 'globex');
  const all = [...ada.ids, ...bob.ids];
  const rows = await waitFor(
    () => ingest.rows(),
    (r) => r.length >= all.length,
  );
  expectStoredOnce(rows, all);
  expect(rows).toHaveLength(all.length);
  const tenantOf = new Map(rows.map((r) => [r.message_id, r.group_id]));
  expect(ada.ids.map((id) => tenantOf.get(id))).toEqual(ada.ids.map(() => 'acme'));
  expect(bob.ids.map((id) => tenantOf.get(id))).toEqual(bob.ids.map(() => 'globex'));
  expect(ada.requests.some((r) => r.startsWith(`POST ${ingest.url}/v1/b`))).toBe(true);
});
