// One link rule, in Chromium, from the same table of cases as sdk-core's links.test.ts
// (packages/sdk-core/src/schema/link-cases.ts): real clicks on nudge actions and checklist actions
// driven by the real engine (Keel.init with the lazily loaded UI), and links inside nudge text.
//
// The config reaches the client the way an old one would (published before the rule was
// tightened, or a cache someone edited): from the client's IndexedDB cache, with the network
// unreachable. The ingest API refuses such a config at publish time (links.test.ts, validateConfig).
import { type ClientConfig, init, type Keel, SAFE_LINK } from '@keel/sdk-core';
import { afterEach, expect, test, vi } from 'vitest';
import { userEvent } from 'vitest/browser';
import '../../checklist-widget/src/define.js';
import type { KeelChecklist } from '../../checklist-widget/src/checklist.js';
import { LINK_CASES } from '../../sdk-core/src/schema/link-cases.js';
import { renderMarkdown } from './markdown.js';
import type { KeelNudge } from './nudge.js';

const clients: Keel[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.shutdown();
  document.body.replaceChildren();
  vi.restoreAllMocks();
});

async function seedCache(writeKey: string, config: ClientConfig) {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const r = indexedDB.open(`keel-state:${writeKey}`, 1);
    r.onupgradeneeded = () => r.result.createObjectStore('kv');
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  await new Promise((resolve, reject) => {
    const tx = db.transaction('kv', 'readwrite');
    tx.objectStore('kv').put({ etag: '"cached"', config }, 'config');
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  db.close();
}

/** Keel.init over a cached config (the network refuses connections), every link open recorded. */
async function start(config: ClientConfig) {
  const writeKey = `wk-links-${crypto.randomUUID()}`;
  await seedCache(writeKey, config);
  const opened: string[] = [];
  const keel = init({
    writeKey,
    host: 'http://127.0.0.1:9',
    telemetry: { dbName: `keel-links-${crypto.randomUUID()}`, flushInterval: 60_000, autocapture: false },
    ui: () => import('./ui.js'),
    fatigue: { quietMs: 0, perSession: 10_000, perDay: 10_000 },
    onLink: (href) => opened.push(href),
  });
  clients.push(keel);
  await keel.ready;
  expect(keel.config?.product).toBe('links'); // the cached config is in use
  const windowOpen = vi.spyOn(window, 'open').mockImplementation(() => null);
  return { keel, opened, windowOpen };
}

const nudgeEl = (id: string) => document.querySelector<KeelNudge>(`keel-nudge[nudge-id="${id}"]`);
const onScreen = (id: string) => !!nudgeEl(id)?.shadowRoot?.querySelector('.panel')?.matches(':popover-open');

test('nudge actions: a real click on a refused link opens nothing and navigates nowhere; an allowed one opens exactly that link', async () => {
  const cases = LINK_CASES.map((c, i) => ({ ...c, id: `n${i}` }));
  const g = await start({
    version: 1,
    product: 'links',
    nudges: cases.map((c) => ({ id: c.id, kind: 'banner', body: c.why, when: { event: `show.${c.id}` }, actions: [{ label: 'Open', link: c.link }] })),
  } as ClientConfig);
  const href = location.href;
  for (const c of cases) {
    g.keel.track(`show.${c.id}`);
    await expect.poll(() => onScreen(c.id), { message: c.why }).toBe(true);
    const root = nudgeEl(c.id)!.shadowRoot!;
    const action = root.querySelector<HTMLElement>('.actions > *')!;
    // Refused: a plain button, and the link is nowhere in the shadow DOM's attributes.
    expect(action.localName, c.why).toBe(c.ok ? 'a' : 'button');
    if (c.ok) expect(action.getAttribute('href')).toBe(c.link);
    else if (c.link)
      expect(
        [...root.querySelectorAll('*')].flatMap((e) => [...e.attributes]).some((a) => a.value.includes(c.link)),
        c.why,
      ).toBe(false);
    const before = g.opened.length;
    await userEvent.click(action);
    await expect.poll(() => onScreen(c.id), { message: c.why }).toBe(false);
    expect(g.opened.slice(before), c.why).toEqual(c.ok ? [c.link] : []);
    expect(location.href, c.why).toBe(href);
  }
  expect(g.windowOpen).not.toHaveBeenCalled();
  expect(g.opened).toEqual(cases.filter((c) => c.ok).map((c) => c.link));
}, 120_000);

test('checklist actions: a refused link is never offered (no button, no keel-action) and the engine opens none; a real click on an allowed one opens it', async () => {
  const cases = LINK_CASES.map((c, i) => ({ ...c, id: `i${i}` }));
  const g = await start({
    version: 1,
    product: 'links',
    checklists: [
      {
        id: 'links',
        title: 'Links',
        items: cases.map((c) => ({ id: c.id, title: c.why, complete: { event: 'never' }, launch: { label: 'Go', link: c.link } })),
      },
    ],
  } as ClientConfig);
  const el = document.createElement('keel-checklist') as KeelChecklist;
  el.checklistId = 'links';
  el.source = g.keel;
  document.body.append(el);
  await el.updateComplete;
  const heard: string[] = [];
  document.addEventListener('keel-action', (e) => heard.push(e.detail.action.link ?? ''));
  const href = location.href;
  for (const c of cases) {
    const button = el.shadowRoot!.querySelector<HTMLButtonElement>(`li[data-item="${c.id}"] button`);
    expect(!!button, c.why).toBe(c.ok);
    if (button) await userEvent.click(button);
    // What a host app's own UI calling Keel's act() with the same action gets: the engine refuses it too.
    if (!c.ok) g.keel.act('links', c.id, 'launch', { label: 'Go', link: c.link });
    expect(location.href, c.why).toBe(href);
  }
  const allowed = cases.filter((c) => c.ok).map((c) => c.link);
  expect(heard).toEqual(allowed);
  expect(g.opened).toEqual(allowed);
  expect(g.windowOpen).not.toHaveBeenCalled();
});

test('links inside nudge text: rendered as links exactly when the rule allows them, otherwise as plain text', () => {
  for (const c of LINK_CASES) {
    const host = document.createElement('div');
    host.append(renderMarkdown(`See [the guide](${c.link}).`));
    const anchors = [...host.querySelectorAll('a')];
    // The markdown link syntax ends a target at the first ")" and has no whitespace in it: only
    // such targets reach the rule. Either way, only what the rule allows becomes a link.
    const target = /\]\(([^)\s]+)\)/.exec(`[x](${c.link})`)?.[1];
    if (target === c.link)
      expect(
        anchors.map((a) => a.getAttribute('href')),
        c.why,
      ).toEqual(c.ok ? [c.link] : []);
    else for (const a of anchors) expect(SAFE_LINK.test(a.getAttribute('href')!), c.why).toBe(true);
    expect(host.querySelectorAll(':not(p, a, br)'), c.why).toHaveLength(0); // nothing else: no <svg>, no <script>
  }
});
