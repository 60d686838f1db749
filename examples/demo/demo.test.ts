// The README's demo, run as a user would: `node examples/demo/start.mjs`, open the printed URL
// in Chromium, click, and see the events stored by the server, under the page's strict CSP.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, expect, test } from 'vitest';
import { chromiumArgs, chromiumPath } from '../../config/chromium.mjs';
import { E2E_STORE, postgresSchema } from '../../test/e2e/harness.js';

let child: ChildProcess | undefined;
let schema: Awaited<ReturnType<typeof postgresSchema>> | undefined;
afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await schema?.drop();
});

test('the demo starts, prints its URL; the page delivers events to the embedded store, its checklist ticks from them, a nudge leads into a recipe that completes an item, with zero CSP violations', async () => {
  const start = fileURLToPath(new URL('./start.mjs', import.meta.url));
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-demo-'));
  // KEEL_E2E_STORE=postgres (the e2e-postgres project): the same demo on PostgreSQL, a schema of its own.
  if (E2E_STORE === 'postgres') schema = await postgresSchema();
  const storeArgs = schema ? ['--database-url', schema.url, '--database-schema', schema.schema] : ['--data-dir', dataDir];
  child = spawn(process.execPath, [start, '--port', '0', '--ingest-port', '0', ...storeArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const onData = (b: Buffer) => {
      out += b;
      const m = /open the app:\s+(http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    };
    child!.stdout!.on('data', onData);
    child!.stderr!.on('data', onData);
    child!.once('exit', (c) => reject(new Error(`demo exited with ${c}: ${out}`)));
  });
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs });
  try {
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`Content Security Policy violation: ${e.violatedDirective}`));
    });
    await page.goto(url);
    await page.getByRole('button', { name: /^identify/ }).click();
    await page.getByRole('button', { name: /^group/ }).click();

    // The checklist (published by the demo at startup) renders and ticks from the page's events.
    const checklist = page.locator('keel-checklist');
    await expect.poll(() => checklist.locator('[part~="title"]').textContent(), { timeout: 10_000 }).toBe('Get Acme running');
    await page.getByRole('button', { name: 'Ingest a dataset' }).click();
    await expect.poll(() => checklist.locator('[data-item="first-dataset"]').getAttribute('class')).toContain('done');

    // A nudge points at Reports; its action walks the user through their first report.
    const nudge = page.locator('keel-nudge[nudge-id="reports-unused"]');
    await expect.poll(() => nudge.locator('h2').textContent(), { timeout: 10_000 }).toBe('Turn this data into a report');
    await nudge.getByRole('button', { name: 'Show me' }).click();
    const step = page.locator('keel-recipe [part~="progress"]');
    await expect.poll(() => step.textContent()).toBe('Step 1 of 2 · Create your first report');
    await page.getByRole('link', { name: 'Reports' }).click();
    await expect.poll(() => step.textContent()).toBe('Step 2 of 2');
    await page.getByRole('button', { name: 'Create a report' }).click();
    await expect.poll(() => page.locator('keel-recipe [part~="panel"]').count()).toBe(0);
    await expect.poll(() => checklist.locator('[data-item="first-report"]').getAttribute('class')).toContain('done');

    await page.getByRole('button', { name: 'flush()' }).click();
    await expect.poll(async () => (await (await fetch(`${url}/api/stored`)).json()).total, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    const stored = (await (await fetch(`${url}/api/stored`)).json()) as { rows: { type: string; event: string | null; groupId: string | null }[] };
    expect(stored.rows.some((r) => r.type === 'track' && r.event === 'feature.used' && r.groupId === 'acme-corp')).toBe(true);
    await expect.poll(() => page.locator('#stored li').count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);

    await page.getByRole('button', { name: 'SSO failed' }).click();
    await expect.poll(() => checklist.locator('[data-item="sso"] [part~="recovery"]').textContent()).toContain("SSO didn't connect");
    expect(await checklist.locator('[part~="progress-label"]').textContent()).toMatch(/of 4 done/);
    expect(violations).toEqual([]);
  } finally {
    await browser.close();
  }
});
