// A real page with the SDK in Chromium → the real `keel serve` process → rows in SQLite.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { bundleSdk, freePort, IngestProcess, launchChromium, startPageServer, startWireProxy, waitFor, WRITE_KEY } from './harness.js';

declare global {
  interface Window {
    Keel: { createTelemetry(opts: Record<string, unknown>): KeelLike };
    keel: KeelLike;
    tracked: string[];
  }
}
interface KeelLike {
  track(event: string, props?: Record<string, unknown>): void;
  identify(userId: string, traits?: Record<string, unknown>): void;
  group(groupId: string, traits?: Record<string, unknown>): void;
  subscribe(fn: (msg: { messageId: string }) => void): () => void;
  flush(): Promise<unknown>;
}

let browser: Browser;
let pages: Awaited<ReturnType<typeof startPageServer>>;
let ingest: IngestProcess;
let context: BrowserContext;

beforeAll(async () => {
  pages = await startPageServer(await bundleSdk());
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await pages?.close();
});
beforeEach(async () => {
  ingest = new IngestProcess(await freePort(), pages.url);
  context = await browser.newContext();
});
afterEach(async () => {
  await context.close();
  await ingest.stop();
});

/** Opens the app and initialises the SDK; every accepted messageId is collected in window.tracked. */
async function openApp(opts: Record<string, unknown> = {}, host = ingest.url): Promise<Page> {
  const page = await context.newPage();
  if (process.env.KEEL_E2E_DEBUG) page.on('console', (m) => console.log(`[page] ${m.text()}`));
  await page.goto(pages.url);
  await page.evaluate(
    ({ host, writeKey, opts }) => {
      window.tracked = [];
      window.keel = window.Keel.createTelemetry({
        writeKey,
        host,
        flushAt: 20,
        flushInterval: 200,
        autocapture: false,
        retry: { baseDelay: 100, maxDelay: 1000 },
        onError: (e: { kind: string; message: string }) => console.log(`keel ${e.kind}: ${e.message}`),
        ...opts,
      });
      window.keel.subscribe((m) => window.tracked.push(m.messageId));
    },
    { host, writeKey: WRITE_KEY, opts },
  );
  return page;
}

const tracked = (page: Page) => page.evaluate(() => window.tracked);

function expectExactlyOnce(stored: { message_id: string }[], ids: string[]) {
  const counts = new Map<string, number>();
  for (const r of stored) counts.set(r.message_id, (counts.get(r.message_id) ?? 0) + 1);
  expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
  expect(stored.length).toBe(ids.length);
}

describe('page → ingest → SQLite', () => {
  test('identify, group and track calls are stored once each, with the tenant on every later message', async () => {
    await ingest.start();
    const page = await openApp();
    await page.evaluate(async () => {
      window.keel.identify('u-1', { role: 'admin' });
      window.keel.group('acme', { plan: 'pro' });
      for (let i = 0; i < 45; i++) window.keel.track('feature.used', { feature: 'reports.create', i });
      await window.keel.flush();
    });
    const ids = await tracked(page);
    expect(ids).toHaveLength(47);
    const rows = await waitFor(
      () => ingest.rows(),
      (r) => r.length >= 47,
    );
    expectExactlyOnce(rows, ids);
    const track = rows.find((r) => r.type === 'track')!;
    expect(track.event).toBe('feature.used');
    expect(track.group_id).toBe('acme');
    const payload = JSON.parse(track.payload) as { userId: string; context: { library: { name: string }; page: { path: string } } };
    expect(payload.userId).toBe('u-1');
    expect(payload.context.library.name).toBe('@keel/telemetry');
    expect(payload.context.page.path).toBe('/');
  });

  test('killing the server mid-stream and restarting it: every event tracked is stored exactly once', async () => {
    await ingest.start();
    const page = await openApp();
    // Track continuously for ~3 s while the server is killed (SIGKILL) and restarted.
    const tracking = page.evaluate(
      () =>
        new Promise<void>((resolve) => {
          let n = 0;
          const t = setInterval(() => {
            for (let i = 0; i < 5; i++) window.keel.track('feature.used', { feature: 'dashboard.view', n: n++ });
            if (n >= 300) {
              clearInterval(t);
              resolve();
            }
          }, 50);
        }),
    );
    await new Promise((r) => setTimeout(r, 800));
    await ingest.kill();
    await new Promise((r) => setTimeout(r, 1200));
    await ingest.start();
    await tracking;
    const ids = await tracked(page);
    expect(ids).toHaveLength(300);
    const rows = await waitFor(
      () => ingest.rows(),
      (r) => r.length >= 300,
      30_000,
    );
    expectExactlyOnce(rows, ids);
  });

  test('the queue survives a reload while the server is down', async () => {
    const page = await openApp();
    await page.evaluate(() => {
      for (let i = 0; i < 25; i++) window.keel.track('feature.used', { feature: 'dataset.ingest', i });
    });
    const ids = await tracked(page);
    // Let the batched IndexedDB write land, then reload: the in-memory SDK is gone.
    await page.waitForTimeout(300);
    await page.reload();
    await ingest.start();
    await page.evaluate(
      ({ host, writeKey }) => {
        window.keel = window.Keel.createTelemetry({ writeKey, host, flushInterval: 200, autocapture: false, retry: { baseDelay: 100, maxDelay: 1000 } });
      },
      { host: ingest.url, writeKey: WRITE_KEY },
    );
    const rows = await waitFor(
      () => ingest.rows(),
      (r) => r.length >= 25,
    );
    expectExactlyOnce(rows, ids);
  });

  test('two tabs of the same app never send the same event twice', async () => {
    await ingest.start();
    const wire = await startWireProxy(() => ingest.url);
    const [a, b] = [await openApp({}, wire.url), await openApp({}, wire.url)];
    await Promise.all(
      [a, b].map((p) =>
        p.evaluate(async () => {
          for (let i = 0; i < 150; i++) window.keel.track('feature.used', { feature: 'reports.view', i });
          await window.keel.flush();
        }),
      ),
    );
    const ids = [...(await tracked(a)), ...(await tracked(b))];
    expect(ids).toHaveLength(300);
    const rows = await waitFor(
      () => ingest.rows(),
      (r) => r.length >= 300,
    );
    expectExactlyOnce(rows, ids);
    const sent = wire.requests.flatMap((r) => r.ids);
    await wire.close();
    // Each message went over the wire exactly once, whichever tab held the flush lock.
    expect(sent.length).toBe(300);
    expect(new Set(sent).size).toBe(300);
  });

  // Chromium gives a closing page's unload handlers a bounded time and then kills the renderer; on a
  // CPU-starved CI machine (2 cores, several browsers) it once ran out before pagehide ran, and no
  // beacon left at all (CI, stop 21). The delivery is asserted in full on every attempt; a retry
  // covers only that starvation, and the wire's record says which of the two it was.
  test('closing the page delivers what is pending via sendBeacon', { retry: 2 }, async () => {
    await ingest.start();
    const wire = await startWireProxy(() => ingest.url);
    const page = await openApp({ flushAt: 1000, flushInterval: 60_000 }, wire.url);
    await page.evaluate(() => {
      for (let i = 0; i < 30; i++) window.keel.track('feature.used', { feature: 'settings.open', i });
    });
    const ids = await tracked(page);
    await page.waitForTimeout(100);
    await page.close({ runBeforeUnload: true });
    const beacons = await waitFor(
      async () => wire.requests.filter((r) => r.path === '/v1/beacon'),
      (r) => r.length > 0,
      10_000,
    ).catch(() => {
      throw new Error(`the closing page sent no beacon within 10 s (wire saw: ${JSON.stringify(wire.requests.map((r) => r.path))})`);
    });
    expect(beacons.length).toBeGreaterThan(0);
    const rows = await waitFor(
      () => ingest.rows(),
      (r) => r.length >= 30,
    );
    expectExactlyOnce(rows, ids);
    expect(wire.requests.map((r) => r.path)).toEqual(['/v1/beacon']);
    expect(wire.requests.flatMap((r) => r.ids).sort()).toEqual([...ids].sort());
    await wire.close();
  });
});
