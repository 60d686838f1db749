// @keel/telemetry in real Chromium: IndexedDB, Web Locks, CompressionStream, sendBeacon, against
// a scriptable ingest stand-in (config/test-servers/fault-server.ts) for the faults.
import { afterEach, expect, inject, test, vi } from 'vitest';
import type { Received, Step } from '../../../config/test-servers/fault-server.js';
import { createTelemetry, type Message, type Telemetry, type TelemetryError, type TelemetryOptions } from './index.js';

const fault = inject('faultServer');
const DEAD = 'http://127.0.0.1:9'; // nothing listens: connection refused at once
let n = 0;

async function scenario(script: Step[] = []) {
  const id = `s${Date.now().toString(36)}${n++}`;
  await fetch(`${fault}/_control/${id}`, { method: 'POST', body: JSON.stringify({ script }) });
  const received = async (): Promise<Received[]> => (await (await fetch(`${fault}/_control/${id}`)).json()).received;
  /** Message ids the server answered 200 to, in order. */
  const accepted = async () => (await received()).filter((r) => r.status === 200).flatMap((r) => r.ids);
  return { host: `${fault}/s/${id}`, received, accepted };
}

const live: Telemetry[] = [];
function make(opts: Partial<TelemetryOptions> & { host: string }, errors: TelemetryError[] = []): Telemetry & { ids: string[] } {
  const t = createTelemetry({
    writeKey: 'wk',
    dbName: `keel-test-${crypto.randomUUID()}`,
    flushInterval: 50,
    autocapture: false,
    retry: { baseDelay: 50, maxDelay: 400 },
    onError: (e) => errors.push(e),
    ...opts,
  });
  const ids: string[] = [];
  t.subscribe((m) => ids.push(m.messageId));
  live.push(t);
  return Object.assign(t, { ids });
}
afterEach(async () => {
  for (const t of live.splice(0)) {
    t.consent(false);
    await t.shutdown();
  }
});

const once = (ids: string[]) => {
  expect(ids.length).toBe(new Set(ids).size);
  return [...ids].sort();
};

test('the queue survives a reload: a new instance on the same database delivers what the old one could not', async () => {
  const dbName = `keel-test-${crypto.randomUUID()}`;
  const before = make({ host: DEAD, dbName });
  for (let i = 0; i < 12; i++) before.track('feature.used', { i });
  await before.shutdown(); // the send fails; the messages stay in IndexedDB
  const s = await scenario();
  const after = make({ host: s.host, dbName });
  await vi.waitFor(async () => expect(once(await s.accepted())).toEqual([...before.ids].sort()), { timeout: 5000 });
  expect(after.ids).toEqual([]);
});

test('the user token goes in every batch body; setUserToken replaces it, or stops sending it', async () => {
  const s = await scenario();
  const t = make({ host: s.host, userToken: 'tok-1' });
  t.track('a');
  await t.flush();
  t.setUserToken('tok-2');
  t.track('b');
  await t.flush();
  t.setUserToken(undefined);
  t.track('c');
  await t.flush();
  await vi.waitFor(async () => expect((await s.received()).filter((r) => r.status === 200).length).toBe(3), { timeout: 5000 });
  expect((await s.received()).filter((r) => r.status === 200).map((r) => r.userToken ?? null)).toEqual(['tok-1', 'tok-2', null]);
});

test('offline, then online: everything is delivered, each message once', async () => {
  const s = await scenario([{ network: true }, { network: true }, { network: true }]);
  const t = make({ host: s.host, flushAt: 10 });
  for (let i = 0; i < 35; i++) t.track('feature.used', { i });
  await vi.waitFor(async () => expect(once(await s.accepted())).toEqual([...t.ids].sort()), { timeout: 8000 });
  const statuses = (await s.received()).map((r) => r.status);
  expect(statuses.slice(0, 3)).toEqual(['network', 'network', 'network']);
});

test('500s, then 200: everything is delivered once', async () => {
  const s = await scenario([{ status: 500 }, { status: 502 }, { status: 503 }, { status: 500 }]);
  const t = make({ host: s.host });
  for (let i = 0; i < 25; i++) t.track('feature.used', { i });
  await vi.waitFor(async () => expect(once(await s.accepted())).toEqual([...t.ids].sort()), { timeout: 8000 });
  expect((await s.received()).filter((r) => r.status !== 200).length).toBe(4);
});

test('429 with Retry-After: the next attempt waits at least that long', async () => {
  const s = await scenario([{ status: 429, headers: { 'retry-after': '1' } }]);
  const t = make({ host: s.host, retry: { baseDelay: 10, maxDelay: 20 } });
  t.track('feature.used');
  await vi.waitFor(async () => expect(await s.accepted()).toEqual(t.ids), { timeout: 5000 });
  const [first, second] = await s.received();
  expect(first!.status).toBe(429);
  expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
});

test('413: the batch is split and every message still arrives', async () => {
  const s = await scenario([{ status: 413 }]);
  const t = make({ host: s.host, flushAt: 100, flushInterval: 5000 });
  for (let i = 0; i < 10; i++) t.track('feature.used', { i });
  await t.flush();
  await vi.waitFor(async () => expect(once(await s.accepted())).toEqual([...t.ids].sort()), { timeout: 5000 });
  const sizes = (await s.received()).map((r) => r.ids.length);
  expect(sizes[0]).toBe(10);
  expect(Math.max(...sizes.slice(1))).toBeLessThanOrEqual(5);
});

test('a 400 drops only the messages the server rejected, reports them, and delivers the rest', async () => {
  const s = await scenario([{ status: 400, rejectEvent: 'bad.event' }]);
  const errors: TelemetryError[] = [];
  const t = make({ host: s.host, flushAt: 100, flushInterval: 5000 }, errors);
  t.track('good.one');
  t.track('bad.event');
  t.track('good.two');
  await t.flush();
  await vi.waitFor(async () => expect((await s.accepted()).length).toBe(2), { timeout: 5000 });
  const [first, second] = await s.received();
  expect(first!.ids).toHaveLength(3);
  expect(second!.messages.map((m) => m.event)).toEqual(['good.one', 'good.two']);
  expect(errors.find((e) => e.kind === 'rejected')?.messages?.map((m) => m.event)).toEqual(['bad.event']);
});

test('two tabs sharing a database never send the same event twice', async () => {
  const s = await scenario();
  const dbName = `keel-test-${crypto.randomUUID()}`;
  const errs: TelemetryError[] = [];
  const a = make({ host: s.host, dbName, flushAt: 7 }, errs);
  const b = make({ host: s.host, dbName, flushAt: 5 }, errs);
  for (let i = 0; i < 60; i++) {
    a.track('from.a', { i });
    b.track('from.b', { i });
    if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all([a.flush(), b.flush()]);
  try {
    await vi.waitFor(async () => expect((await s.accepted()).length).toBe(120), { timeout: 8000 });
  } catch (e) {
    console.log('DEBUG', JSON.stringify((await s.received()).map((r) => [r.status, r.ids.length, r.path])), JSON.stringify(errs.map((x) => x.message)));
    throw e;
  }
  const all = (await s.received()).flatMap((r) => r.ids);
  expect(once(all)).toEqual([...a.ids, ...b.ids].sort());
});

test('pagehide delivers what is pending with sendBeacon (write key in the query), within the 64 KB budget', async () => {
  const s = await scenario();
  const t = make({ host: s.host, flushAt: 1000, flushInterval: 60_000 });
  for (let i = 0; i < 40; i++) t.track('feature.used', { i, text: 'x'.repeat(2000) }); // ~90 KB pending
  dispatchEvent(new PageTransitionEvent('pagehide', { persisted: false }));
  await vi.waitFor(async () => expect((await s.received()).length).toBeGreaterThan(0), { timeout: 5000 });
  const beacons = await s.received();
  expect(beacons.every((r) => r.path === '/v1/beacon' && r.query === '?writeKey=wk')).toBe(true);
  const beaconed = beacons.flatMap((r) => r.ids);
  expect(beaconed.length).toBeGreaterThan(0);
  expect(beaconed.length).toBeLessThan(40); // the browser's beacon budget: the rest stays queued
  // If the page lives on (or on the next visit), everything goes by fetch: the rest once, and the
  // beaconed ones again (a beacon is never confirmed; the server stores each message id once).
  await t.flush();
  await vi.waitFor(async () => expect(once((await s.received()).slice(beacons.length).flatMap((r) => r.ids))).toEqual([...t.ids].sort()), { timeout: 5000 });
  expect((await s.received()).slice(beacons.length).every((r) => r.path === '/v1/batch')).toBe(true);
});

test('a beacon the browser queued but no server answered loses nothing: the messages stay in IndexedDB for the next page', async () => {
  const dbName = `keel-test-${crypto.randomUUID()}`;
  const before = make({ host: DEAD, dbName, flushAt: 1000, flushInterval: 60_000 });
  for (let i = 0; i < 10; i++) before.track('feature.used', { i });
  const beacon = vi.spyOn(navigator, 'sendBeacon');
  dispatchEvent(new PageTransitionEvent('pagehide', { persisted: false }));
  expect(beacon.mock.results.map((r) => r.value)).toEqual([true]); // queued by the browser; the server is down
  beacon.mockRestore();
  await new Promise((r) => setTimeout(r, 200)); // what pagehide started writing lands
  await before.shutdown();
  const s = await scenario();
  make({ host: s.host, dbName });
  await vi.waitFor(async () => expect(once(await s.accepted())).toEqual([...before.ids].sort()), { timeout: 5000 });
});

test('bodies are gzip-compressed text/plain JSON carrying sentAt and the write key (no preflight)', async () => {
  const s = await scenario();
  // No Intl call in createTelemetry() or track() (a page's first one can take tens of ms): the
  // time zone is looked up when the page is idle or the queue is first written.
  const intl = vi.spyOn(Intl, 'DateTimeFormat');
  const t = make({ host: s.host });
  t.track('feature.used', { feature: 'reports' });
  expect(intl).not.toHaveBeenCalled();
  await t.flush();
  expect(intl).toHaveBeenCalled();
  intl.mockRestore();
  const [r] = await s.received();
  expect(r!.gzip).toBe(true);
  expect(r!.contentType).toBe('text/plain');
  expect(r!.writeKey).toBe('wk');
  const m = r!.messages[0] as unknown as Message;
  expect(m).toMatchObject({ type: 'track', event: 'feature.used', properties: { feature: 'reports' }, anonymousId: t.anonymousId });
  expect(m.messageId).toMatch(/^[0-9a-f-]{36}$/);
  expect(m.context).toMatchObject({
    library: { name: '@keel/telemetry' },
    page: { path: location.pathname, url: location.href },
    locale: navigator.language,
    userAgent: navigator.userAgent,
  });
  expect(m.context.timezone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
});

test('an oversized event is refused at track() with a console warning, never queued', async () => {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  const errors: TelemetryError[] = [];
  const t = make({ host: DEAD }, errors);
  t.track('big.one', { blob: 'x'.repeat(40_000) });
  expect(t.ids).toEqual([]);
  expect(warn).toHaveBeenCalledWith(expect.stringMatching(/"big\.one" is about 40\d{3} bytes, over the 32000-byte limit/));
  expect(errors[0]).toMatchObject({ kind: 'oversized' });
  warn.mockRestore();
});

test('the queue is bounded: the oldest are dropped, counted and reported', async () => {
  const errors: TelemetryError[] = [];
  const dbName = `keel-test-${crypto.randomUUID()}`;
  const t = make({ host: DEAD, dbName, maxQueueSize: 5, flushInterval: 60_000, flushAt: 1000 }, errors);
  for (let i = 0; i < 8; i++) t.track('feature.used', { i });
  await t.shutdown();
  expect(t.dropped).toBe(3);
  expect(errors.some((e) => e.kind === 'dropped' && e.count === 3)).toBe(true);
  const s = await scenario();
  make({ host: s.host, dbName });
  await vi.waitFor(async () => expect(once(await s.accepted())).toEqual(t.ids.slice(3).sort()), { timeout: 5000 });
});

test('consent(false) stops collection and clears the queue; consent(true) resumes', async () => {
  const dbName = `keel-test-${crypto.randomUUID()}`;
  const t = make({ host: DEAD, dbName, flushInterval: 60_000 });
  t.track('before');
  t.consent(false);
  t.track('during');
  expect(t.ids).toHaveLength(1);
  await t.shutdown();
  const s = await scenario();
  const u = make({ host: s.host, dbName });
  u.track('after');
  await u.flush();
  expect((await s.received()).flatMap((r) => r.messages.map((m) => m.event))).toEqual(['after']);
});

test('beforeSend can redact or drop a message', async () => {
  const s = await scenario();
  const t = make({
    host: s.host,
    beforeSend: (m) => (m.event === 'secret' ? null : { ...m, properties: { ...m.properties, email: '[redacted]' } }),
  });
  t.track('secret');
  t.track('signup', { email: 'ada@acme.example', plan: 'pro' });
  await t.flush();
  const msgs = (await s.received()).flatMap((r) => r.messages);
  expect(msgs.map((m) => [m.event, m.properties])).toEqual([['signup', { email: '[redacted]', plan: 'pro' }]]);
});

test('identify and group: userId and context.groupId on every later message; reset() forgets them', async () => {
  const s = await scenario();
  const t = make({ host: s.host });
  t.identify('u-1', { role: 'admin' });
  t.group('acme', { plan: 'pro' });
  t.track('feature.used');
  const anon = t.anonymousId;
  t.reset();
  t.track('after.reset');
  await t.flush();
  const msgs = (await s.received()).flatMap((r) => r.messages) as unknown as Message[];
  expect(msgs.map((m) => [m.type, m.userId, m.groupId ?? m.context.groupId])).toEqual([
    ['identify', 'u-1', undefined],
    ['group', 'u-1', 'acme'],
    ['track', 'u-1', 'acme'],
    ['track', undefined, undefined],
  ]);
  expect(msgs[3]!.anonymousId).not.toBe(anon);
});

test('subscribers see every accepted message synchronously', () => {
  const t = make({ host: DEAD });
  const seen: string[] = [];
  const off = t.subscribe((m) => seen.push(m.event ?? m.type));
  t.track('one');
  expect(seen).toEqual(['one']);
  off();
  t.track('two');
  expect(seen).toEqual(['one']);
});

test('autocapture: a session starts, errors and unhandled rejections are tracked, SPA navigations are page views', async () => {
  localStorage.removeItem('keel.session');
  const t = make({ host: DEAD, autocapture: {} });
  const seen: Message[] = [];
  t.subscribe((m) => seen.push(m));
  const start = location.pathname;
  history.pushState({}, '', '/autocapture-test');
  window.dispatchEvent(new ErrorEvent('error', { message: 'boom', filename: 'app.js', lineno: 3, colno: 7, error: new Error('boom') }));
  window.dispatchEvent(new PromiseRejectionEvent('unhandledrejection', { promise: Promise.resolve(), reason: new Error('nope') }));
  history.replaceState({}, '', start);
  expect(t.ids.length).toBeGreaterThanOrEqual(2); // session start + the initial page view, before the subscriber above
  expect(seen.map((m) => (m.type === 'page' ? `page ${m.context.page.path}` : `${m.event} ${String(m.properties?.kind ?? '')}`))).toEqual([
    'page /autocapture-test',
    'error.raised error',
    'error.raised unhandledrejection',
    `page ${start}`,
  ]);
  expect(seen[1]!.properties).toMatchObject({ message: 'boom', source: 'app.js', line: 3, column: 7 });
});

test('a session ends after the inactivity timeout and the next message starts a new one', async () => {
  localStorage.removeItem('keel.session');
  const t = make({ host: DEAD, autocapture: { errors: false, pageviews: false }, sessionTimeout: 100 });
  const events: string[] = [];
  t.subscribe((m) => events.push(`${m.event}:${String(m.properties?.action ?? '')}`));
  await new Promise((r) => setTimeout(r, 150));
  t.track('feature.used');
  expect(events).toEqual(['user.session:end', 'user.session:start', 'feature.used:']);
});

test('missing writeKey or host is a clear error', () => {
  expect(() => createTelemetry({ host: 'x' } as TelemetryOptions)).toThrow('needs `writeKey`');
  expect(() => createTelemetry({ writeKey: 'x' } as TelemetryOptions)).toThrow('needs `host`');
});
