// The server's side of the one link rule: `POST /v1/admin/config` (as `keel serve` runs it, with
// sdk-core's validateConfig) refuses every link the table refuses, naming where it is, and
// publishes every link it allows. The table: packages/sdk-core/src/schema/link-cases.ts.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '@keel/sdk-core/authoring';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { LINK_CASES } from '../../sdk-core/src/schema/link-cases.js';
import { type RunningServer, startServer } from './server.js';
import { openSqliteStore } from './store/sqlite.js';

let server: RunningServer;
beforeAll(async () => {
  const store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-config-links-')));
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

const WHEN = { event: 'feature.used' };
const publish = (link: string) =>
  fetch(`${server.url}/v1/admin/config`, {
    method: 'POST',
    headers: { authorization: 'Bearer adm', 'content-type': 'application/json' },
    body: JSON.stringify({
      actor: 'links-test',
      config: {
        version: 1,
        product: 'acme',
        checklists: [{ id: 'onboarding', title: 'Setup', items: [{ id: 'sso', title: 'SSO', complete: WHEN, launch: { label: 'Go', link } }] }],
        nudges: [{ id: 'tip', kind: 'banner', body: 'Hi', when: WHEN, actions: [{ label: 'Open', link }] }],
      },
    }),
  });

test.each(LINK_CASES.map((c) => [c.ok ? 'published' : 'refused (422)', c.why, c] as const))('%s: %s', async (_, _why, c) => {
  const res = await publish(c.link);
  const body = (await res.json()) as { ok: boolean; problems?: { path: string; message: string }[] };
  if (c.ok) {
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body.ok).toBe(true);
    return;
  }
  expect(res.status).toBe(422);
  expect(body.problems?.map((p) => p.path).sort()).toEqual(['checklists[0].items[0].launch.link', 'nudges[0].actions[0].link']);
  expect(body.problems?.[0]?.message).toContain(`found ${JSON.stringify(c.link)}`);
});
