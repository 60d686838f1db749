// A `keel serve` equivalent for the attribution comparison: the same store and server as the CLI,
// with tenant attribution on or off (`--attribution on|off`), in its own process.
// KEEL_BENCH_STALLS=1: on SIGTERM it prints (stderr) its event-loop delay and GC pauses over the
// run (perf_hooks), to tell the tail queueing explains from stalls.
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { openSqliteStore, startServer } from '../../packages/ingest/dist/index.js';

const [dataDir, writeKey, attribution] = process.argv.slice(2);
const store = await openSqliteStore(dataDir, { attribution: attribution !== 'off' });
const server = await startServer({ store, writeKeys: [writeKey], port: 0, logger: { level: 'warn' }, rateLimit: false });
let stalls = () => {};
if (process.env.KEEL_BENCH_STALLS) {
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const gc = new Map(); // kind → [count, total ms, max ms]
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const k = e.detail?.kind ?? 0;
      const g = gc.get(k) ?? [0, 0, 0];
      gc.set(k, [g[0] + 1, g[1] + e.duration, Math.max(g[2], e.duration)]);
    }
  }).observe({ entryTypes: ['gc'] });
  const kinds = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental', 8: 'weak callbacks' };
  const ms = (ns) => (ns / 1e6).toFixed(1);
  stalls = () =>
    console.error(
      `serve-variant (attribution ${attribution}): event-loop delay p50 ${ms(loop.percentile(50))} ms, p99 ${ms(loop.percentile(99))} ms, max ${ms(loop.max)} ms; gc ${[
        ...gc,
      ]
        .map(([k, [n, t, m]]) => `${kinds[k] ?? k} ${n}× ${t.toFixed(0)} ms (max ${m.toFixed(1)} ms)`)
        .join(', ')}`,
    );
}
console.log(`listening on ${server.url}`);
process.on('SIGTERM', () => {
  stalls();
  void server.close().then(() => process.exit(0));
});
