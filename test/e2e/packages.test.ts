// The packages as a vendor installs them: `pnpm pack` of each (the built dist), every manifest
// installable by plain npm (no `workspace:` ranges) and complete (LICENSE, README, CHANGELOG,
// repository, engines, publishConfig); the browser packages installed with plain npm into a fresh
// folder outside the workspace, then a page bundled from that folder alone and run in Chromium
// against a real `keel serve`: the checklist renders and ticks from a tracked event.
// No registry is reached: the third-party dependencies are packed from the workspace's own copies,
// and npm runs with --offline.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { signUserToken } from '../../packages/ingest/dist/index.js';
import { bundleApp, startVendorStack, WRITE_KEY } from './harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGES = ['telemetry', 'sdk-core', 'checklist-widget', 'nudge-widget', 'health-badge', 'embed', 'ingest'];
// What a bundler installs (embed is a prebuilt script: keel serve serves it; test/e2e/embed.test.ts runs it).
const BROWSER = PACKAGES.filter((p) => p !== 'ingest' && p !== 'embed');
const ADMIN = 'e2e-packages-admin';
const SECRET = 'e2e-packages-secret';

const work = mkdtempSync(join(tmpdir(), 'keel-packages-'));
const packs = join(work, 'packs');
const deps = join(work, 'deps');
const app = join(work, 'app');
const tarballs = new Map<string, string>();

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}
const pnpm = join(root, 'node_modules/.bin/pnpm');
const manifestOf = (tgz: string) => JSON.parse(run('tar', ['-xzOf', tgz, 'package/package.json'], work)) as Record<string, unknown>;
const filesOf = (tgz: string) => run('tar', ['-tzf', tgz], work).split('\n').filter(Boolean);

/** The directory a package's dependency resolves to, as Node would find it from `from`. */
function resolveDir(from: string, name: string): string {
  for (let d = from; ; d = dirname(d)) {
    const c = join(d, 'node_modules', name);
    if (existsSync(join(c, 'package.json'))) return realpathSync(c);
    if (d === dirname(d)) throw new Error(`${name} not found from ${from}`);
  }
}

beforeAll(() => {
  mkdirSync(packs);
  mkdirSync(deps);
  mkdirSync(app);
  for (const p of PACKAGES) {
    const out = run(pnpm, ['pack', '--pack-destination', packs], join(root, 'packages', p));
    const tgz = out.trim().split('\n').pop()!.trim();
    tarballs.set(p, tgz.startsWith('/') ? tgz : join(packs, tgz));
  }
}, 120_000);

test('every packed manifest installs with plain npm and says what a registry page needs', () => {
  for (const p of PACKAGES) {
    const tgz = tarballs.get(p)!;
    const m = manifestOf(tgz);
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
      for (const [name, range] of Object.entries((m[field] ?? {}) as Record<string, string>)) {
        expect(range, `${p}: ${field}.${name}`).not.toMatch(/^(workspace|link|file):/);
      }
    }
    expect(m).toMatchObject({ license: 'Apache-2.0', engines: { node: expect.any(String) }, publishConfig: { access: 'public' } });
    expect(m.repository).toMatchObject({ type: 'git', directory: `packages/${p}` });
    const files = filesOf(tgz);
    for (const f of ['package/LICENSE', 'package/README.md', 'package/CHANGELOG.md', 'package/package.json']) expect(files, `${p}: ${f}`).toContain(f);
    expect(files.some((f) => f.startsWith('package/dist/') && f.endsWith('.js'))).toBe(true);
    expect(files.filter((f) => f.includes('/src/') || f.endsWith('.test.js'))).toEqual([]);
    // Every export points at a file the tarball holds.
    const targets: string[] = [];
    const leaves = (v: unknown): void => {
      if (typeof v === 'string') targets.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(leaves);
    };
    leaves(m.exports);
    for (const t of targets) expect(files, `${p}: export ${t}`).toContain(`package/${t.slice(2)}`);
  }
  expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0/);
});

let stack: Awaited<ReturnType<typeof startVendorStack>>;
beforeAll(async () => {
  stack = await startVendorStack({ configFile: fileURLToPath(new URL('./frameworks-app/keel.yaml', import.meta.url)), adminKey: ADMIN, secretKey: SECRET });
}, 120_000);
afterAll(async () => {
  await stack?.close();
  rmSync(work, { recursive: true, force: true });
});

test('the browser packages, installed by plain npm from their tarballs outside the workspace, build a page that runs', async () => {
  // The third-party dependencies, packed from the workspace's copies (their closure).
  const seen = new Set<string>();
  const walk = (dir: string) => {
    const m = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const name of Object.keys(m.dependencies ?? {})) {
      if (name.startsWith('@keel/')) continue;
      const d = resolveDir(dir, name);
      if (seen.has(d)) continue;
      seen.add(d);
      // --hard-dereference: pnpm's store hard-links identical files, and npm drops hard-link entries.
      const tgz = join(deps, `${name.replace(/[@/]/g, '_')}.tgz`);
      run('tar', ['-czf', tgz, '--hard-dereference', '-C', d, '--transform', 's,^\\.,package,', '.'], work);
      walk(d);
    }
  };
  for (const p of BROWSER) walk(join(root, 'packages', p));

  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'vendor-app', private: true, type: 'module' }));
  const all = [...BROWSER.map((p) => tarballs.get(p)!), ...readdirSync(deps).map((f) => join(deps, f))];
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--cache', join(work, 'npm-cache'), ...all], app);
  for (const p of BROWSER) expect(realpathSync(join(app, 'node_modules/@keel', p)).startsWith(realpathSync(app))).toBe(true); // copies, not links into the workspace

  writeFileSync(
    join(app, 'main.js'),
    `import { init } from '@keel/sdk-core';
import '@keel/checklist-widget/define';
import '@keel/health-badge/define';
const meta = (n) => document.querySelector('meta[name="' + n + '"]').content;
const keel = init({ writeKey: meta('keel-write-key'), host: location.origin, userToken: meta('keel-user-token'), telemetry: { flushInterval: 200 }, ui: () => import('@keel/nudge-widget/ui') });
keel.group(meta('keel-tenant'));
document.querySelector('keel-checklist').source = keel;
document.getElementById('ingest').addEventListener('click', () => keel.track('feature.used', { feature: 'dataset.ingest' }));
`,
  );
  const bundle = await bundleApp(join(app, 'main.js'));
  expect(bundle.lazy.length).toBeGreaterThan(0); // the nudge UI stays a chunk of its own
  stack.served.files = bundle.files;
  const tenant = 'acme-packed';
  const token = signUserToken({ sub: 'ada-packed', tenant, role: 'admin', ttlSeconds: 3600 }, SECRET);
  stack.pages['/'] = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Vendor app</title>
<meta name="keel-write-key" content="${WRITE_KEY}"><meta name="keel-user-token" content="${token}"><meta name="keel-tenant" content="${tenant}">
<script type="module" src="/assets/app.js"></script></head>
<body><main><button id="ingest">Ingest a dataset</button><keel-checklist checklist-id="onboarding"></keel-checklist></main></body></html>`;

  const context = await stack.browser.newContext();
  const errors: string[] = [];
  context.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  context.on('weberror', (e) => errors.push(e.error().message));
  try {
    const page = await context.newPage();
    await page.goto(`${stack.app.url}/`);
    const checklist = page.locator('keel-checklist');
    await expect.poll(() => checklist.locator('[part~="title"]').textContent(), { timeout: 15_000 }).toBe('Get Acme running');
    await page.getByRole('button', { name: 'Ingest a dataset' }).click();
    await expect.poll(() => checklist.locator('[data-item="first-dataset"]').getAttribute('class'), { timeout: 15_000 }).toContain('done');
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
}, 180_000);
