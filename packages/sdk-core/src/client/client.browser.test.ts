// Keel.init in Chromium against the real ingest API (started by the browser project's global
// setup): config from the server with ETag and an IndexedDB cache, rules over local rollups,
// progress synced per user and per tenant.
import { afterEach, expect, inject, test, vi } from 'vitest';
import { adminCall } from '../../../../config/browser-admin.js';
import type { Keel } from './client.js';
import { init } from './client.js';
import type { ClientConfig } from './types.js';

const { url, writeKey, adminKey, tokens } = inject('ingest');
const clients: Keel[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.shutdown();
});

const CONFIG: ClientConfig = {
  version: 1,
  product: 'acme',
  checklists: [
    {
      id: 'onboarding',
      title: { en: 'Get Acme running', fr: 'Démarrer avec Acme' },
      items: [
        {
          id: 'sso',
          title: 'Connect SSO',
          due: { day: 7 },
          complete: { event: 'integration.state', where: { integration: 'sso', state: 'connected' } },
          failed: { event: 'integration.state', where: { integration: 'sso', state: 'failed' } },
          recovery: { label: 'Fix SSO', recipe: 'fix-sso' },
          launch: { label: 'Set up SSO', link: '/settings/sso' },
        },
        { id: 'dataset', title: 'Ingest a dataset', complete: { event: 'feature.used', where: { feature: 'dataset.ingest' } } },
        { id: 'team', title: 'Bring a teammate', scope: 'tenant', complete: { fact: 'active_users_7d', gte: 2 } },
      ],
    },
  ],
  recipes: [{ id: 'fix-sso', title: 'Fix SSO', steps: [{ text: 'Open the SSO settings and reconnect.' }] }],
};

async function publish(config: ClientConfig) {
  const res = await adminCall(url, adminKey, '/v1/admin/config', { config, actor: 'browser-test' });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
}
async function wipeLocal() {
  await new Promise((r) => {
    const q = indexedDB.deleteDatabase(`keel-state:${writeKey}`);
    q.onsuccess = q.onerror = q.onblocked = r;
  });
}
function start(opts: Partial<Parameters<typeof init>[0]> = {}) {
  const k = init({ writeKey, host: url, telemetry: { dbName: `keel-client-${crypto.randomUUID()}`, flushInterval: 50, autocapture: false }, ...opts });
  clients.push(k);
  return k;
}
const states = (k: Keel) => k.checklist('onboarding')?.items.map((i) => `${i.id}:${i.state}`);

test("items complete from the user's own events; a failure shows the recovery action; completions are tracked", async () => {
  await wipeLocal();
  await publish(CONFIG);
  const k = start();
  await k.ready;
  expect(states(k)).toEqual(['sso:pending', 'dataset:pending', 'team:pending']);
  const tracked: string[] = [];
  k.telemetry.subscribe((m) => tracked.push(m.event ?? m.type));
  let notified = 0;
  k.subscribe(() => notified++);
  k.track('integration.state', { integration: 'sso', state: 'failed' });
  expect(states(k)?.[0]).toBe('sso:failed');
  expect(k.checklist('onboarding')?.items[0]?.recovery).toEqual({ label: 'Fix SSO', recipe: 'fix-sso' });
  k.track('feature.used', { feature: 'dataset.ingest' });
  expect(states(k)?.[1]).toBe('dataset:done');
  expect(tracked).toContain('checklist.item_completed');
  expect(notified).toBeGreaterThanOrEqual(2);
  expect(await k.explain('onboarding', 'sso')).toMatchObject({ ok: false });
  k.track('integration.state', { integration: 'sso', state: 'connected' });
  expect(states(k)?.[0]).toBe('sso:done');
});

test('the checklist renders from the cached config when the network does not answer', async () => {
  await wipeLocal();
  await publish(CONFIG);
  const online = start();
  await online.ready;
  await online.shutdown();
  const offline = start({ host: 'http://127.0.0.1:9' });
  await offline.ready;
  expect(offline.config?.version).toBeGreaterThan(0);
  expect(states(offline)).toHaveLength(3);
});

test('progress is stored server-side: a second device of the same user sees it; tenant items are shared; other tenants see nothing', async () => {
  await wipeLocal();
  await publish(CONFIG);
  const ada = start({ userToken: tokens.ada });
  await ada.ready;
  ada.identify('ada'); // the server decides her items from her stored events
  ada.group('acme');
  ada.track('feature.used', { feature: 'dataset.ingest' });
  await ada.telemetry.flush();
  await vi.waitFor(
    async () => {
      const res = await fetch(`${url}/v1/progress`, { headers: { authorization: `Bearer ${tokens.ada}` } });
      expect((await res.json()).user.map((e: { ref: string }) => e.ref)).toContain('onboarding/dataset');
    },
    { timeout: 5000 },
  );
  await ada.shutdown();

  await wipeLocal(); // another device: nothing local
  const again = start({ userToken: tokens.ada });
  await again.ready;
  expect(states(again)?.[1]).toBe('dataset:done');

  // Bob (same tenant) is active too: the tenant fact reaches 2 users and the tenant item completes for both.
  await wipeLocal();
  const bob = start({ userToken: tokens.bob });
  await bob.ready;
  bob.group('acme');
  bob.identify('bob');
  bob.track('feature.used', { feature: 'reports.view' });
  await bob.telemetry.flush();
  await vi.waitFor(
    async () => {
      await bob.refresh();
      expect(states(bob)?.[2]).toBe('team:done');
    },
    { timeout: 8000, interval: 300 },
  );
  expect(states(bob)?.[1]).toBe('dataset:pending'); // Ada's own item is hers

  await wipeLocal();
  const eve = start({ userToken: tokens.eve });
  await eve.ready;
  expect(states(eve)).toEqual(['sso:pending', 'dataset:pending', 'team:pending']);
});

test('a draft previews in this tab only: its checklist shows, the published config stays cached', async () => {
  await wipeLocal();
  await publish(CONFIG);
  const res = await adminCall(url, adminKey, '/v1/admin/drafts', {
    config: { ...CONFIG, checklists: [{ ...CONFIG.checklists![0]!, title: 'Draft onboarding' }] },
  });
  const { draft } = (await res.json()) as { draft: string };
  const first = start();
  await first.ready; // caches the published config
  await first.shutdown();
  const previewing = start({ preview: draft });
  await previewing.ready;
  expect(previewing.checklist('onboarding')?.title).toBe('Draft onboarding');
  await previewing.shutdown();
  const normal = start({ host: 'http://127.0.0.1:9' }); // offline: what is cached is the published one
  await normal.ready;
  expect(normal.checklist('onboarding')?.title).toEqual(CONFIG.checklists![0]!.title);
});

test('the lifecycle state from the server: a checklist or recipe it does not allow is refused, with the reason', async () => {
  await wipeLocal();
  await publish({
    ...CONFIG,
    checklists: [
      ...CONFIG.checklists!,
      { id: 'expansion', title: 'Grow', items: [{ id: 'seats', title: 'Add seats', complete: { tenantTrait: 'seats', gte: 50 } }] },
    ],
    lifecycle: { initial: 'onboarding', states: { onboarding: { owner: 'csm', allows: ['checklist:onboarding', 'recipe:first-*'] } }, transitions: [] },
  });
  const recipes: string[] = [];
  const k = start({ userToken: tokens.ada, onRecipe: (id) => recipes.push(id) });
  await k.ready;
  expect(k.lifecycle).toEqual({ state: 'onboarding', allows: ['checklist:onboarding', 'recipe:first-*'] });
  expect(k.checklist('onboarding')).toBeDefined();
  expect(k.checklist('expansion')).toBeUndefined(); // not run in this state
  expect(k.allows('recipe:first-report')).toEqual({ ok: true });
  expect(k.allows('recipe:fix-sso')).toEqual({
    ok: false,
    reason: '"recipe:fix-sso" is not allowed in lifecycle state "onboarding" (allows: checklist:onboarding, recipe:first-*)',
  });
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  k.act('onboarding', 'sso', 'recovery', { label: 'Fix SSO', recipe: 'fix-sso' });
  k.act('onboarding', 'dataset', 'launch', { recipe: 'first-dataset' });
  expect(recipes).toEqual(['first-dataset']);
  expect(warn).toHaveBeenCalledWith(expect.stringContaining('"recipe:fix-sso" is not allowed'));
  warn.mockRestore();
});

// ── History the browser can trust ────────────────────────────────────────────────────────────
// An item the server can't decide (its rule reads the page too), so only the browser's own
// evaluation over the merged history can complete it.
const HISTORY: ClientConfig = {
  version: 1,
  product: 'acme',
  checklists: [
    {
      id: 'habits',
      title: 'Habits',
      items: [
        {
          id: 'weekly',
          title: 'Two reports this week',
          complete: { all: [{ event: 'feature.used', where: { feature: 'weekly-report' }, count: { gte: 2 }, within: '7d' }, { page: '/**' }] },
        },
        { id: 'early', title: 'Early bird', complete: { all: [{ event: 'feature.used', where: { feature: 'early-bird' } }, { page: '/**' }] } },
        { id: 'quiet', title: 'A quiet week', complete: { all: [{ not: { event: 'error.raised', within: '7d' } }, { page: '/**' }] } },
      ],
    },
  ],
};
const habit = (k: Keel, id: string) => k.checklist('habits')?.items.find((i) => i.id === id)?.state;

test("a new device (empty IndexedDB) gets the user's history from the server: an item completes without new events, counted once", async () => {
  await wipeLocal();
  await publish(HISTORY);
  const a = start({ userToken: tokens['guide-11'] });
  await a.ready;
  a.identify('guide-11');
  a.group('acme');
  a.track('feature.used', { feature: 'weekly-report' });
  a.track('feature.used', { feature: 'weekly-report' });
  expect(habit(a, 'weekly')).toBe('done'); // this browser counted them itself
  await a.telemetry.flush();
  // Once stored, the server reports them in the user's history.
  await vi.waitFor(
    async () => {
      const res = await fetch(`${url}/v1/progress`, { headers: { authorization: `Bearer ${tokens['guide-11']}` } });
      const h = (await res.json()).history as { clauses: { key: string; days: Record<string, number> }[] };
      const c = h.clauses.find((x) => x.key === 'feature.used {"feature":"weekly-report"}');
      expect(Object.values(c?.days ?? {}).reduce((x, y) => x + y, 0)).toBe(2);
    },
    { timeout: 5000 },
  );
  await a.refresh(); // the answer lists both ids: acknowledged, no longer added on top
  expect((await a.explain('habits', 'weekly'))?.children?.[0]).toMatchObject({ ok: true, actual: 2 });
  await a.shutdown();

  await wipeLocal(); // another device: nothing local
  const b = start({ userToken: tokens['guide-11'] });
  await b.ready;
  expect(habit(b, 'weekly')).toBe('done');
  expect((await b.explain('habits', 'weekly'))?.children?.[0]).toMatchObject({ ok: true, actual: 2 });
  // "A quiet week" can't be proven yet: the user was first seen seconds ago, on either device.
  expect(habit(b, 'quiet')).toBe('pending');
  expect((await b.explain('habits', 'quiet'))?.children?.[0]).toMatchObject({
    ok: false,
    reason: 'history',
    note: expect.stringMatching(/^history shorter than the window: first seen (less than a minute|\d+ minutes?) ago$/),
  });
});

test('events tracked before the config reaches the browser count once it does', async () => {
  await wipeLocal();
  await publish(HISTORY);
  const k = start();
  k.track('feature.used', { feature: 'early-bird' }); // before the saved state and the config are loaded
  expect(k.config).toBeUndefined();
  await k.ready;
  expect(k.config?.checklists?.[0]?.id).toBe('habits');
  expect(habit(k, 'early')).toBe('done');
});
