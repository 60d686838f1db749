#!/usr/bin/env node
// `pnpm docs:screenshots`: the pictures in the docs, taken from the demo rather than by hand, so
// they show what the code draws today. Starts the demo (examples/demo/start.mjs) on free ports
// with a fresh store, walks it in Debian's Chromium as a new user would (the same path as the
// demo's test), and writes docs/images/*.png. Loopback only; every wait is bounded.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { chromiumArgs, chromiumPath } from '../config/chromium.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const images = join(root, 'docs/images');
const dataDir = mkdtempSync(join(tmpdir(), 'keel-shots-'));
const step = (m) => process.stdout.write(`• ${m}\n`);

let out = '';
const demo = spawn(process.execPath, [join(root, 'examples/demo/start.mjs'), '--port', '0', '--ingest-port', '0', '--data-dir', dataDir], {
  stdio: ['pipe', 'pipe', 'pipe'],
});
demo.stdout.on('data', (b) => (out += b));
demo.stderr.on('data', (b) => (out += b));
async function waitFor(re, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const m = re.exec(out);
    if (m) return m;
    if (demo.exitCode !== null) throw new Error(`the demo exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`no ${re} in the demo's output within ${timeout} ms:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const browser = await chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs });
try {
  step('starting the demo (a fresh store, 30 days of seeded history)…');
  const url = (await waitFor(/open the app:\s+(http:\/\/\S+)/))[1];
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, reducedMotion: 'reduce' });
  const shot = async (name, what) => {
    // Let popovers finish placing themselves (floating-ui runs on the next frames).
    await page.evaluate(() => new Promise((r) => globalThis.requestAnimationFrame(() => globalThis.requestAnimationFrame(r))));
    const file = join(images, name);
    await page.screenshot({ path: file });
    step(`docs/images/${name}: ${what} (${Math.round(statSync(file).size / 1024)} KB)`);
  };
  const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();
  const poll = async (f, timeout = 15_000) => {
    const deadline = Date.now() + timeout;
    while (!(await f())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${f}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  await page.goto(`${url}/?keel_debug=1`);
  const checklist = page.locator('keel-checklist');
  await poll(
    async () =>
      (await checklist
        .locator('[part~="title"]')
        .textContent()
        .catch(() => '')) === 'Get Acme running',
  );
  await shot('demo-checklist.png', 'a new user: the onboarding checklist with its due days');

  await nav('Integrations');
  await page.getByRole('button', { name: 'Connect PostgreSQL' }).click();
  await nav('Datasets');
  await page.getByRole('button', { name: 'Import the orders table' }).click();
  const nudge = page.locator('keel-nudge[nudge-id="reports-unused"]');
  await poll(
    async () =>
      (await nudge
        .locator('h2')
        .textContent()
        .catch(() => '')) === 'Turn this data into a report',
  );
  await shot('demo-nudge.png', 'a nudge anchored to "Reports", the checklist, and the ?keel_debug=1 overlay');

  await nudge.getByRole('button', { name: 'Show me' }).click();
  const progress = page.locator('keel-recipe [part~="progress"]');
  await poll(async () => /^Step 1 of 3/.test((await progress.textContent().catch(() => '')) ?? ''));
  // The overlay is for authors: out of the other pictures (closed once the nudge is, as a click elsewhere closes a nudge).
  await page.getByRole('button', { name: 'Close the Keel debug overlay' }).click();
  await shot('demo-recipe.png', 'the first-report recipe, step 1 of 3');
  await page.keyboard.press('Escape');

  await nav('Settings');
  const badge = page.locator('keel-health-badge [part~="badge"]');
  await poll(async () => /Health \d+/.test((await badge.textContent().catch(() => '')) ?? ''));
  await badge.click();
  await poll(() => page.locator('keel-health-badge [part~="popover"]').isVisible());
  await shot('demo-health-badge.png', "the admin page's health badge explaining the account's score");
} finally {
  await browser.close();
  const exited = new Promise((r) => demo.once('exit', r));
  demo.kill('SIGTERM');
  await exited;
  rmSync(dataDir, { recursive: true, force: true });
}
