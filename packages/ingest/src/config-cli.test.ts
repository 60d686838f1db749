import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '@keel/sdk-core/authoring';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { configCommand } from './config-cli.js';
import { type RunningServer, startServer } from './server.js';
import { openSqliteStore } from './store/sqlite.js';

const fixture = new URL('../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'keel-config-cli-'));
let server: RunningServer;
beforeAll(async () => {
  const store = await openSqliteStore(dir);
  server = await startServer({
    store,
    config: store.config,
    writeKeys: ['wk'],
    adminKeys: ['adm'],
    port: 0,
    logger: false,
    validateConfig: (d) => validateConfig(d),
  });
});
afterAll(() => server.close());

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const lines: string[] = [];
  const code = await configCommand(args, env, (l) => lines.push(l));
  return { code, out: lines.join('\n') };
}

test('validate: a valid file exits 0 with a summary; a broken one exits 1 listing each problem with file:line and path', async () => {
  expect(await run(['validate', fixture])).toEqual({ code: 0, out: expect.stringContaining('valid (1 checklists, 2 nudges, 3 recipes, health, lifecycle)') });
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'version: 2\nproduct: Acme\nchecklists:\n  - id: x\n    title: X\n    items: []\n');
  const r = await run(['validate', broken]);
  expect(r.code).toBe(1);
  expect(r.out).toContain(`${broken}:1  version: expected version: 1, found 2`);
  expect(r.out).toContain(`${broken}:2  product: expected an id of lower-case letters`);
  expect(r.out).toContain(`${broken}:6  checklists[0].items: a checklist needs at least one item`);
  expect(r.out).toContain('✗');
});

test('diff shows the change first; publish stores a new version; publishing the same file again changes nothing', async () => {
  const env = { KEEL_URL: server.url, KEEL_ADMIN_KEY: 'adm' };
  const diff = await run(['diff', fixture], env);
  expect(diff.out).toContain('changes against nothing published yet:\n  + checklists/onboarding');
  expect(await server.app.inject({ method: 'GET', url: '/v1/config?writeKey=wk' }).then((r) => r.statusCode)).toBe(404);
  expect((await run(['publish', fixture, '--actor', 'ada'], env)).out).toContain('published version 1 (first version)');
  expect((await run(['publish', fixture], env)).out).toContain('unchanged: version 1 is already this config');
  const audit = await server.app.inject({ method: 'GET', url: '/v1/admin/audit', headers: { authorization: 'Bearer adm' } });
  expect(audit.json().entries[0].actor).toMatch(/^ada /);
  // The same document again: "no changes", exit 0.
  expect(await run(['diff', fixture], env)).toEqual({ code: 0, out: expect.stringContaining('no changes') });
  // A change in fatigue only (a section the diff used to skip) is a change, and a new version.
  const tired = join(dir, 'fatigue.yaml');
  writeFileSync(tired, readFileSync(fixture, 'utf8').replace('perSession: 2', 'perSession: 3'));
  expect((await run(['diff', tired], env)).out).toContain('  ~ fatigue');
  expect((await run(['publish', tired], env)).out).toContain('published version 2 (changed fatigue)');
  expect((await run(['publish', tired], env)).out).toContain('unchanged: version 2 is already this config');
});

test('preview saves a draft and says how to open it in the product', async () => {
  const r = await run(['preview', fixture], { KEEL_URL: server.url, KEEL_ADMIN_KEY: 'adm' });
  expect(r.code).toBe(0);
  const id = /\?keel_preview=([0-9a-f]{32})/.exec(r.out)?.[1];
  expect(id).toBeDefined();
  const got = await server.app.inject({ method: 'GET', url: `/v1/config?writeKey=wk&draft=${id}` });
  expect(got.json().config.product).toBe('acme-analytics');
});

test('bad invocations are named', async () => {
  await expect(run(['publish', fixture], { KEEL_URL: 'http://127.0.0.1:9' })).rejects.toThrow('no admin key');
  await expect(run(['publish', fixture], { KEEL_URL: 'http://127.0.0.1:9', KEEL_ADMIN_KEY: 'adm' })).rejects.toThrow(
    'cannot reach the Keel server at http://127.0.0.1:9',
  );
  await expect(run(['publish', fixture], { KEEL_URL: server.url, KEEL_ADMIN_KEY: 'nope' })).rejects.toThrow('the server refused (401)');
  await expect(run(['validate', join(dir, 'missing.yaml')])).rejects.toThrow('no such file');
  await expect(run(['frobnicate', fixture])).rejects.toThrow('unknown config command "frobnicate"');
});
