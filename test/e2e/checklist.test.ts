// Config as code end to end: `keel config validate` → `keel config publish` → a page with
// Keel.init and <keel-checklist> picks the version up (ETag) → items complete from real events
// → progress is stored by the server and follows the user to another browser.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { signUserToken } from '../../packages/ingest/dist/index.js';
import { bundleClient, freePort, IngestProcess, keelCli, launchChromium, startPageServer, waitFor, WRITE_KEY } from './harness.js';

const ADMIN = 'e2e-admin-key';
const SECRET = 'e2e-secret-key';
const FIXTURE = new URL('../../packages/sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url).pathname;

let browser: Browser;
let pages: Awaited<ReturnType<typeof startPageServer>>;
let ingest: IngestProcess;
beforeAll(async () => {
  pages = await startPageServer(await bundleClient());
  ingest = new IngestProcess(await freePort(), pages.url, ['--admin-key', ADMIN, '--secret-key', SECRET]);
  await ingest.start();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await pages?.close();
  await ingest?.dispose();
});

declare global {
  interface Window {
    keelClient: {
      ready: Promise<void>;
      refresh(): Promise<void>;
      track(e: string, p?: Record<string, unknown>): void;
      group(id: string): void;
      identify(id: string): void;
      telemetry: { flush(): Promise<void> };
    };
  }
}

async function openApp(token: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const configStatuses: number[] = [];
  page.on('response', (r) => {
    if (r.url().includes('/v1/config')) configStatuses.push(r.status());
  });
  (page as Page & { configStatuses: number[] }).configStatuses = configStatuses;
  await page.goto(pages.url);
  await page.evaluate(
    async ({ host, writeKey, token }) => {
      const w = window as unknown as { Keel: { init(o: unknown): Window['keelClient'] } };
      const keel = w.Keel.init({ writeKey, host, userToken: token, telemetry: { flushInterval: 100, autocapture: false } });
      window.keelClient = keel;
      const el = document.createElement('keel-checklist') as HTMLElement & { source: unknown };
      el.setAttribute('checklist-id', 'onboarding');
      el.source = keel;
      document.body.append(el);
      keel.identify('ada');
      keel.group('acme');
      await keel.ready;
    },
    { host: ingest.url, writeKey: WRITE_KEY, token },
  );
  return page;
}

const shadowText = (page: Page, sel: string) =>
  page.evaluate((s) => document.querySelector('keel-checklist')!.shadowRoot!.querySelector(s)?.textContent?.replace(/\s+/g, ' ').trim() ?? null, sel);

test('validate → publish → the page renders it → a new version is picked up by ETag → events tick items → progress follows the user', async () => {
  const env = { KEEL_URL: ingest.url, KEEL_ADMIN_KEY: ADMIN };
  // A broken file is refused with its problems, and nothing is published.
  const broken = join(ingest.dataDir, 'broken.yaml');
  writeFileSync(broken, readFileSync(FIXTURE, 'utf8').replace('recipe: first-report }', 'recipe: nope }'));
  const bad = await keelCli(['config', 'validate', broken]);
  expect(bad.code).toBe(1);
  expect(bad.out).toMatch(/broken\.yaml:\d+ {2}checklists\[0\]\.items\[4\]\.launch\.recipe: unknown recipe "nope"/);
  expect((await keelCli(['config', 'publish', broken], env)).code).toBe(1);

  expect(await keelCli(['config', 'validate', FIXTURE])).toMatchObject({ code: 0 });
  const v1 = await keelCli(['config', 'publish', FIXTURE, '--actor', 'cs-ada'], env);
  expect(v1.out).toContain('published version 1');

  const token = signUserToken({ sub: 'ada', tenant: 'acme', role: 'admin' }, SECRET);
  const page = await openApp(token);
  await waitFor(
    () => shadowText(page, '[part~="title"]'),
    (t) => t === 'Get Acme running',
  );
  expect(await shadowText(page, '[part~="progress-label"]')).toBe('0 of 6 done');

  // Unchanged config: the revalidation is a 304.
  await page.evaluate(() => window.keelClient.refresh());
  expect((page as Page & { configStatuses: number[] }).configStatuses).toContain(304);

  // A new version: the page picks it up on its next revalidation.
  const v2file = join(ingest.dataDir, 'v2.yaml');
  writeFileSync(v2file, readFileSync(FIXTURE, 'utf8').replace('title: Get Acme running', 'title: Get Acme up and running'));
  expect((await keelCli(['config', 'publish', v2file], env)).out).toContain('published version 2 (changed checklists/onboarding)');
  await page.evaluate(() => window.keelClient.refresh());
  await waitFor(
    () => shadowText(page, '[part~="title"]'),
    (t) => t === 'Get Acme up and running',
  );

  // A failed SSO shows the recovery action; ingesting a dataset ticks its item.
  await page.evaluate(() => window.keelClient.track('integration.state', { integration: 'sso', state: 'failed' }));
  await waitFor(
    () => shadowText(page, '[data-item="sso"] [part~="recovery"]'),
    (t) => !!t?.includes("SSO didn't connect"),
  );
  await page.evaluate(() => window.keelClient.track('feature.used', { feature: 'dataset.ingest' }));
  await waitFor(
    () => shadowText(page, '[part~="progress-label"]'),
    (t) => t === '1 of 6 done',
  );

  // Stored server-side…
  const progress = await waitFor(
    async () =>
      (await (await fetch(`${ingest.url}/v1/progress`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
        user: { ref: string; state: string }[];
      },
    (p) => p.user.some((e) => e.ref === 'onboarding/first-dataset' && e.state === 'completed'),
  );
  expect(progress.user.find((e) => e.ref === 'onboarding/first-dataset')).toMatchObject({ state: 'completed' });
  // …surviving a reload with the server unreachable (rendered from IndexedDB)…
  await ingest.stop();
  await page.reload();
  await page.evaluate(
    async ({ writeKey, token }) => {
      const w = window as unknown as { Keel: { init(o: unknown): Window['keelClient'] } };
      const keel = w.Keel.init({ writeKey, host: 'http://127.0.0.1:9', userToken: token, telemetry: { autocapture: false } });
      const el = document.createElement('keel-checklist') as HTMLElement & { source: unknown };
      el.setAttribute('checklist-id', 'onboarding');
      el.source = keel;
      document.body.append(el);
      await keel.ready;
    },
    { writeKey: WRITE_KEY, token },
  );
  await waitFor(
    () => shadowText(page, '[part~="progress-label"]'),
    (t) => t === '1 of 6 done',
  );
  expect(await shadowText(page, '[part~="title"]')).toBe('Get Acme up and running');
  await ingest.start();
  // …and the same in a second browser context (another device) for the same user.
  const other = await openApp(token);
  await waitFor(
    () => shadowText(other, '[part~="progress-label"]'),
    (t) => t === '1 of 6 done',
  );
  expect(await shadowText(other, '[data-item="first-dataset"] [part~="item-title"]')).toBe('Ingest your first dataset');

  // The audit log names who published what.
  const audit = (await (await fetch(`${ingest.url}/v1/admin/audit`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
    entries: { actor: string; detail: string }[];
  };
  expect(audit.entries.map((e) => e.detail)).toEqual(['version 2: changed checklists/onboarding', 'version 1: first version']);
  expect(audit.entries[1]!.actor).toMatch(/^cs-ada /);
});
