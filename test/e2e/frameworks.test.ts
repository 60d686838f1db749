// examples/react and examples/vue as a vendor ships them: their type checks pass (tsc for React 19,
// vue-tsc for Vue, both against the JSX / GlobalComponents types the element packages generate),
// Vite builds them, and in Chromium, against a real `keel serve`, the checklist renders and ticks
// from a real click, a nudge shows, the health badge renders and opens, their typed event handlers
// run exactly once each, and the page logs no error. React runs under StrictMode: Keel is
// initialised once (one config request, every event stored once).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { build, type Rollup } from 'vite';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signUserToken } from '../../packages/ingest/dist/index.js';
import { startVendorStack, waitFor, WRITE_KEY } from './harness.js';

const ADMIN = 'e2e-frameworks-admin';
const SECRET = 'e2e-frameworks-secret';
const example = (name: string) => fileURLToPath(new URL(`../../examples/${name}/`, import.meta.url));

/** The vendor's app server (under `default-src 'self'`, /v1 proxied to a real `keel serve`): serves the example being tested. */
let stack: Awaited<ReturnType<typeof startVendorStack>>;

beforeAll(async () => {
  stack = await startVendorStack({ configFile: fileURLToPath(new URL('./frameworks-app/keel.yaml', import.meta.url)), adminKey: ADMIN, secretKey: SECRET });
});
afterAll(() => stack?.close());

/** The example's own type check (its package.json `typecheck`): exit code and output. */
function typecheck(name: string, bin: 'tsc' | 'vue-tsc'): { status: number | null; out: string } {
  const dir = example(name);
  const r = spawnSync(`${dir}node_modules/.bin/${bin}`, ['-p', 'tsconfig.json', '--noEmit'], { cwd: dir, encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** `vite build` of the example, in memory: its index.html and the files under assets/. */
async function viteBuild(name: string): Promise<{ html: string; files: Map<string, string> }> {
  const out = (await build({ root: example(name), logLevel: 'error', build: { write: false } })) as Rollup.RollupOutput;
  const files = new Map<string, string>();
  let html = '';
  for (const f of out.output) {
    const text = f.type === 'chunk' ? f.code : String(f.source);
    if (f.fileName === 'index.html') html = text;
    else files.set(f.fileName.replace(/^assets\//, ''), text);
  }
  return { html, files };
}

async function run(name: string, tenant: string) {
  const { html, files } = await viteBuild(name);
  expect([...files.keys()].some((f) => f.startsWith('ui-'))).toBe(true); // the nudge UI: a lazy chunk
  const token = signUserToken({ sub: `ada-${name}`, tenant, role: 'admin', ttlSeconds: 3600 }, SECRET);
  stack.pages['/'] = html.replace('__KEEL_WRITE_KEY__', WRITE_KEY).replace('__KEEL_USER_TOKEN__', token).replace('__KEEL_TENANT__', tenant);
  stack.served.files = files;
  const requests = stack.app.requests.length;
  const context = await stack.browser.newContext();
  const errors: string[] = [];
  context.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  context.on('weberror', (e) => errors.push(e.error().message));
  context.on('response', (r) => {
    if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
  });
  const page: Page = await context.newPage();
  try {
    await page.goto(`${stack.app.url}/`);
    const checklist = page.locator('keel-checklist');
    await expect.poll(() => checklist.locator('[part~="title"]').textContent(), { timeout: 15_000 }).toBe('Get Acme running');
    // The badge, given host, tenant and token as typed props, shows the score.
    const badge = page.locator('keel-health-badge [part~="badge"]');
    await expect.poll(() => badge.textContent(), { timeout: 15_000 }).toMatch(/\d/);

    // A real click: the app tracks it, the checklist ticks, the typed handler runs (once).
    await page.getByRole('button', { name: 'Ingest a dataset' }).click();
    await expect.poll(() => checklist.locator('[data-item="first-dataset"]').getAttribute('class'), { timeout: 15_000 }).toContain('done');
    const log = page.getByRole('list', { name: 'What happened' }).locator('li');
    await expect.poll(() => log.allTextContents(), { timeout: 15_000 }).toContain('item completed: first-dataset');
    // The engine chose the nudge and drew it from the lazily loaded UI chunk, at the app's link.
    const nudge = page.locator('keel-nudge[nudge-id="reports-unused"]');
    await expect.poll(() => nudge.locator('h2').textContent(), { timeout: 15_000 }).toBe('Turn this data into a report');
    await expect.poll(() => log.allTextContents()).toContain('nudge shown: reports-unused');
    await nudge.getByRole('button', { name: 'Not now' }).click();
    await badge.click();
    await expect.poll(() => log.allTextContents()).toContain('health opened');

    // Each event reached the server once; Keel was initialised once (one config request).
    const ingested = () =>
      stack.ingest
        .rows()
        .then((rows) =>
          rows.filter((r) => r.event === 'feature.used' && JSON.parse(r.payload).properties?.feature === 'dataset.ingest' && r.group_id === tenant),
        );
    await waitFor(ingested, (rows) => rows.length > 0);
    await page.waitForTimeout(600); // three flush intervals: a second client's copy would have arrived
    expect((await ingested()).length).toBe(1);
    expect(stack.app.requests.slice(requests).filter((p) => p === '/v1/config')).toHaveLength(1);
    expect(await log.allTextContents()).toEqual(['item completed: first-dataset', 'nudge shown: reports-unused', 'health opened']);
    expect(await page.locator('keel-checklist, keel-health-badge').count()).toBe(2);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
}

describe.each([
  { name: 'react', bin: 'tsc', tenant: 'acme-react' },
  { name: 'vue', bin: 'vue-tsc', tenant: 'acme-vue' },
] as const)('examples/$name', ({ name, bin, tenant }) => {
  test(`${bin} --noEmit passes, and catches misuse of the elements' types`, () => {
    const r = typecheck(name, bin);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  }, 240_000);

  test(
    'built with Vite, in Chromium against keel serve: checklist, a completed item, a nudge, the badge; each handler once; no console error',
    () => run(name, tenant),
    180_000,
  );
});
