// Main-thread cost of one track() in Chromium, measured as docs/targets.md describes: a
// cross-origin-isolated page (5 µs timers), the SDK initialised against a real local ingest
// server, 1,000 warm-up calls, then 10,000 calls in chunks of 100 timed with performance.now().
// "drained" also counts the work the calls trigger up to the next task. The floor is a function
// that pushes { id: crypto.randomUUID(), ts: Date.now(), ... } into an array. "paced" is one call
// every 20 ms (the queue stays short), with the main thread's total task time per call from the
// DevTools protocol (Performance.getMetrics TaskDuration), up to a second after the last call so
// the writes and the send the calls cause are counted. Each figure is the median of fresh pages
// (each its own browser context, so its own IndexedDB).
/* global window, crossOriginIsolated -- the page.evaluate callbacks run in the page */
import { createServer } from 'node:http';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { chromiumArgs, chromiumPath } from '../../config/chromium.mjs';

const HARNESS = `
export async function run(sdk, label) {
  const chunk = 100, chunks = 100;
  const props = { feature: 'reports.create', plan: 'pro', rows: 1200, ok: true };
  const longTasks = [];
  const po = new PerformanceObserver((l) => { for (const e of l.getEntries()) longTasks.push(e); });
  po.observe({ type: 'longtask', buffered: false });
  const nextTask = () => new Promise((r) => { const c = new MessageChannel(); c.port1.onmessage = () => r(); c.port2.postMessage(0); });
  for (let i = 0; i < 1000; i++) sdk('warmup', props);
  await nextTask();
  // Long tasks are counted over the timed calls; the task that set the SDK up and ran the 1,000
  // warm-up calls is reported on its own.
  const timed = performance.now();
  const per = [], drained = [];
  for (let c = 0; c < chunks; c++) {
    const t0 = performance.now();
    for (let i = 0; i < chunk; i++) sdk('feature.used', props);
    const t1 = performance.now();
    await nextTask();
    const t2 = performance.now();
    per.push(((t1 - t0) * 1000) / chunk);
    drained.push(((t2 - t0) * 1000) / chunk);
    if (c % 10 === 9) await new Promise((r) => setTimeout(r, 0));
  }
  await new Promise((r) => setTimeout(r, 200));
  po.disconnect();
  const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
  const firstTen = per.slice(0, 10), lastTen = per.slice(-10);
  const setup = longTasks.filter((e) => e.startTime < timed);
  return { label, median: med(per), drained: med(drained), longTasks: longTasks.length - setup.length,
    setupLongTaskMs: setup.length ? Math.round(Math.max(...setup.map((e) => e.duration))) : 0,
    flatness: med(lastTen) / med(firstTen), heapMB: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
    drainedFirst: med(drained.slice(0, 10)), drainedLast: med(drained.slice(-10)),
    drainedByChunk: Array.from({ length: 10 }, (_, i) => med(drained.slice(i * 10, i * 10 + 10))) };
}
export async function paced(sdk, calls) {
  const props = { feature: 'reports.create', plan: 'pro', rows: 1200, ok: true };
  for (let i = 0; i < calls; i++) {
    sdk('feature.used', props);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 1000));
}`;

/** @param {{ ingestUrl: string, writeKey: string, telemetryEntry: string, pages?: number, pacedCalls?: number }} opts */
export async function measureTrackCost({ ingestUrl, writeKey, telemetryEntry, pages = 5, pacedCalls = 150 }) {
  const sdkJs = (
    await build({
      stdin: {
        contents: `import { createTelemetry } from ${JSON.stringify(telemetryEntry)};
${HARNESS}
const keelOptions = { writeKey: ${JSON.stringify(writeKey)}, host: ${JSON.stringify(ingestUrl)}, autocapture: false, flushAt: 100, flushInterval: 1000, maxQueueSize: 100000 };
window.runPaced = async (which, calls) => {
  let sdk;
  if (which === 'floor') {
    const floorArr = [];
    sdk = (event, properties) => { floorArr.push({ id: crypto.randomUUID(), ts: Date.now(), event, properties }); };
  } else {
    const keel = createTelemetry(keelOptions);
    sdk = (e, p) => keel.track(e, p);
  }
  await new Promise((r) => setTimeout(r, 300)); // set up (and IndexedDB opened) before the timed window
  await window.startPaced();
  return paced(sdk, calls);
};
window.runBench = async () => {
  const floorArr = [];
  const floor = (event, properties) => { floorArr.push({ id: crypto.randomUUID(), ts: Date.now(), event, properties }); };
  const floorResult = await run(floor, 'floor (array push + UUID)');
  const c0 = performance.now();
  const keel = createTelemetry(keelOptions);
  const initMs = performance.now() - c0;
  const keelResult = { ...(await run((e, p) => keel.track(e, p), 'keel')), initMs };
  await keel.flush();
  return [floorResult, keelResult];
};`,
        resolveDir: process.cwd(),
        loader: 'js',
      },
      bundle: true,
      minify: true,
      format: 'esm',
      write: false,
      logLevel: 'silent',
    })
  ).outputFiles[0].text;

  const headers = {
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
  };
  const server = createServer((req, res) => {
    if (req.url === '/bench.js') {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript' });
      return res.end(sdkJs);
    }
    res.writeHead(200, { ...headers, 'content-type': 'text/html' });
    res.end('<!doctype html><title>track() bench</title><script type="module" src="/bench.js"></script>');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const pageUrl = `http://127.0.0.1:${server.address().port}/`;
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [...chromiumArgs, '--enable-precise-memory-info', '--js-flags=--expose-gc'],
  });
  const med = (a) => {
    const x = [...a].sort((p, q) => p - q);
    return x[Math.floor(x.length / 2)];
  };
  const fresh = async (fn) => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(pageUrl);
      await page.waitForFunction(() => 'runBench' in window);
      return await fn(page);
    } finally {
      await context.close();
    }
  };
  try {
    let isolated = false;
    const runs = [];
    for (let i = 0; i < pages; i++) {
      runs.push(
        await fresh(async (page) => {
          isolated = await page.evaluate(() => crossOriginIsolated);
          return page.evaluate(() => window.runBench());
        }),
      );
    }
    // Per sdk, each figure is the median over the pages.
    const results = runs[0].map((first, k) => {
      const all = runs.map((r) => r[k]);
      const out = { label: first.label };
      for (const key of Object.keys(first)) {
        if (key === 'label') continue;
        if (key === 'drainedByChunk') out[key] = first[key].map((_, c) => med(all.map((r) => r[key][c])));
        else if (typeof first[key] === 'number') out[key] = med(all.map((r) => r[key]));
        else out[key] = first[key];
      }
      return out;
    });
    // Paced: main-thread task time per call, from the DevTools protocol.
    for (const r of results) {
      const which = r.label.startsWith('floor') ? 'floor' : 'keel';
      const perCall = [];
      for (let i = 0; i < pages; i++) {
        perCall.push(
          await fresh(async (page) => {
            const cdp = await page.context().newCDPSession(page);
            await cdp.send('Performance.enable');
            const taskTime = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
            let t0 = 0;
            await page.exposeFunction('startPaced', async () => {
              t0 = await taskTime();
            });
            await page.evaluate(([w, n]) => window.runPaced(w, n), [which, pacedCalls]);
            return (((await taskTime()) - t0) * 1e6) / pacedCalls;
          }),
        );
      }
      r.pacedUs = med(perCall);
    }
    return { isolated, pages, pacedCalls, results };
  } finally {
    await browser.close();
    server.close();
  }
}
