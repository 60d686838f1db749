// Ingest throughput, measured the way docs/targets.md states the target: the real `keel serve`
// (built CLI, its own process) taking batches of 100 realistic events from concurrent clients,
// beside the raw insert rate of the same rows on the same store in the same run (ceiling.mjs).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WRITE_KEY = 'bench-write-key';
const FEATURES = ['reports.create', 'dashboards.share', 'alerts.configure', 'exports.csv', 'integrations.connect'];

/** One event as @keel/telemetry sends it: Segment track with a full context. */
function realisticEvent(i, sentAt) {
  const t = new Date(Date.parse(sentAt) - (i % 50) * 37).toISOString();
  return {
    type: 'track',
    messageId: randomUUID(),
    anonymousId: `anon-${i % 977}`,
    userId: `user-${i % 311}`,
    event: i % 10 === 0 ? 'user.session' : 'feature.used',
    timestamp: t,
    properties: { feature: FEATURES[i % FEATURES.length], plan: 'pro', rows: (i * 7) % 5000, ok: i % 13 !== 0, durationMs: (i * 13) % 900 },
    context: {
      library: { name: '@keel/telemetry', version: '0.1.0' },
      page: { url: `https://app.acme.example/reports/${i % 40}`, path: `/reports/${i % 40}`, referrer: 'https://app.acme.example/', title: 'Reports · Acme' },
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
      locale: 'en-GB',
      timezone: 'Europe/London',
      groupId: `tenant-${i % 53}`,
    },
  };
}

function makeBatches(batches, size) {
  const sentAt = new Date().toISOString();
  let i = 0;
  return Array.from({ length: batches }, () => {
    const batch = Array.from({ length: size }, () => realisticEvent(i++, sentAt));
    return { batch, sentAt, body: Buffer.from(JSON.stringify({ batch, sentAt })) };
  });
}

// Saturating the server is the point here: load shedding (503 while the event loop lags over a
// second, which a busy shared machine reaches) would turn the measurement into refusals. The
// rate limits stay at their defaults (this run is far below them).
const CLI = new URL('../../packages/ingest/dist/cli.js', import.meta.url).pathname;

async function startServe(
  dataDir,
  script = CLI,
  args = ['serve', '--port', '0', '--data-dir', dataDir, '--write-key', WRITE_KEY, '--log-level', 'warn', '--max-event-loop-delay', '0'],
  nodeArgs = [],
) {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b) => {
      out += b;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (c) => reject(new Error(`keel serve exited with ${c}: ${out}`)));
  });
  return { url, child };
}

/**
 * A `serve` for httpIngest: the built `keel serve` with the bench's common flags plus the store's
 * own, `storeArgs(dataDir)` (`['--data-dir', dataDir]` for SQLite; `['--database-url', url]` for
 * PostgreSQL). `KEEL_BENCH_PROFILE=dir` runs it under `node --cpu-prof` (a .cpuprofile per run).
 */
export function keelServe(storeArgs) {
  const prof = process.env.KEEL_BENCH_PROFILE;
  const nodeArgs = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  return (dataDir) =>
    startServe(
      dataDir,
      CLI,
      ['serve', '--port', '0', ...storeArgs(dataDir), '--write-key', WRITE_KEY, '--log-level', 'warn', '--max-event-loop-delay', '0'],
      nodeArgs,
    );
}

function post(agent, url, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/batch`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** CPU seconds (user + system, every thread) a process has used so far, from /proc; undefined off Linux. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ: 100 on Linux)
  } catch {
    return undefined;
  }
}

/**
 * Posts pre-built batches to freshly started servers; latency per request (one batch).
 * `serve` starts another server process (default: the built `keel serve`); `nodes` of them are
 * started (one after the other, each with a data dir of its own) and the clients are split between
 * them, client i posting to node i mod `nodes` (several nodes share a PostgreSQL schema through
 * their `storeArgs`). `seed` is a body posted once, to the first node, before the warm-up.
 *
 * Closed loop (default): `clients` clients each posting its next batch as soon as the last is
 * answered, as fast as the server goes; with N clients × 100 events always in flight, the mean
 * latency is N·100 / throughput (Little's law), whatever the server does.
 * Open loop (`rate`: events/s offered): each client sends a batch every clients·100/rate seconds on
 * a fixed schedule (the clients' phases spread evenly), whether or not its last one was answered;
 * latency counts from the batch's scheduled time, so a server falling behind can't hide its queue.
 *
 * The result also carries the server processes' CPU time per 1,000 events over the timed part
 * (`cpuMsPerKEvents`, Linux): it moves less than throughput when other work shares the cores (though it grows with contention too: caches, shared cores).
 */
export async function httpIngest(batches, { clients = 8, log = () => {}, serve = startServe, seed, nodes = 1, rate } = {}) {
  const dirs = [];
  const servers = [];
  // Open loop: enough sockets that a late answer never delays the next send.
  const agent = new Agent({ keepAlive: true, maxSockets: rate ? clients * 16 : clients });
  try {
    for (let n = 0; n < nodes; n++) {
      dirs.push(mkdtempSync(join(tmpdir(), 'keel-bench-http-')));
      servers.push(await serve(dirs[n]));
    }
    const urls = servers.map((s) => s.url);
    if (seed) await post(agent, urls[0], seed);
    // Warm-up: 5% of the batches, not counted (spread over the nodes like the work).
    const warm = Math.max(clients, Math.floor(batches.length * 0.05));
    await Promise.all(batches.slice(0, warm).map((b, i) => post(agent, urls[i % nodes], b.body)));
    const work = batches.slice(warm);
    const latencies = [];
    let accepted = 0;
    let failed = 0;
    const answered = (res, ms) => {
      latencies.push(ms);
      if (res.status === 200) accepted += JSON.parse(res.body).accepted;
      else failed++;
      if (latencies.length % 500 === 0) log(`  ingest: ${latencies.length}/${work.length} batches`);
    };
    const cpu0 = servers.map(({ child }) => cpuSeconds(child.pid));
    const t0 = performance.now();
    if (rate) {
      const every = (clients * 100 * 1000) / rate; // ms between one client's batches
      await Promise.all(
        Array.from({ length: clients }, async (_, c) => {
          const url = urls[c % nodes];
          const sent = [];
          for (let k = 0; c + k * clients < work.length; k++) {
            const due = t0 + (c / clients + k) * every;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            const b = work[c + k * clients];
            sent.push(post(agent, url, b.body).then((res) => answered(res, performance.now() - due)));
          }
          await Promise.all(sent);
        }),
      );
    } else {
      let next = 0;
      await Promise.all(
        Array.from({ length: clients }, async (_, c) => {
          const url = urls[c % nodes];
          while (next < work.length) {
            const b = work[next++];
            const s = performance.now();
            answered(await post(agent, url, b.body), performance.now() - s);
          }
        }),
      );
    }
    const secs = (performance.now() - t0) / 1000;
    const cpu1 = servers.map(({ child }) => cpuSeconds(child.pid));
    const cpu = cpu0.every((x) => x !== undefined) && cpu1.every((x) => x !== undefined) ? cpu1.reduce((a, x, i) => a + x - cpu0[i], 0) : undefined;
    latencies.sort((a, b) => a - b);
    return {
      clients,
      nodes,
      ...(rate ? { offered: rate } : {}),
      batches: work.length,
      events: accepted,
      failed,
      eventsPerSec: accepted / secs,
      p50: pct(latencies, 50),
      p99: pct(latencies, 99),
      max: latencies.at(-1),
      cpuMsPerKEvents: cpu === undefined || !accepted ? undefined : (cpu * 1000 * 1000) / accepted,
    };
  } finally {
    agent.destroy();
    await Promise.all(
      servers.map(({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        return exited;
      }),
    );
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

export { makeBatches, realisticEvent, startServe, WRITE_KEY };
