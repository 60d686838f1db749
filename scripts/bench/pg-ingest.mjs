#!/usr/bin/env node
// A focused driver for the PostgreSQL ingest figures of `pnpm bench` section 3: the COPY ceiling
// and `keel serve` on PostgreSQL (one node, and two with KEEL_BENCH_NODES=1,2), alternated in one
// run, so a change to the PostgreSQL store can be measured in a few minutes. Same rows, same
// clients, same ceiling as bench.mjs. KEEL_BENCH_BATCHES (default 1500), KEEL_BENCH_ROUNDS
// (default 3), KEEL_BENCH_CLIENTS (default 8), KEEL_BENCH_PROFILE=dir as in bench.mjs.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { httpIngest, makeBatches, startServe, WRITE_KEY } from './ingest.mjs';
import { pgCopyCeiling, rowsOf } from './ceiling.mjs';
import { pgSchema, pgUnavailable } from './stores.mjs';

const BATCHES = Number(process.env.KEEL_BENCH_BATCHES ?? 1500);
const ROUNDS = Number(process.env.KEEL_BENCH_ROUNDS ?? 3);
const CLIENTS = Number(process.env.KEEL_BENCH_CLIENTS ?? 8);
// KEEL_BENCH_DISTS=dist,dist-base: builds of packages/ingest to alternate (each its own keel serve), default the current one.
const DISTS = (process.env.KEEL_BENCH_DISTS ?? 'dist').split(',');
const NODES = (process.env.KEEL_BENCH_NODES ?? '1').split(',').map(Number);
/** CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined elsewhere. */
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}
/** keelServe, noting each server's CPU time just before it is stopped (a figure the machine's load disturbs less than the wall clock). */
function measuredServe(script, storeArgs, cpu) {
  const prof = process.env.KEEL_BENCH_PROFILE;
  return async (dir) => {
    const args = ['serve', '--port', '0', ...storeArgs(dir), '--write-key', WRITE_KEY, '--log-level', 'warn', '--max-event-loop-delay', '0'];
    const s = await startServe(dir, script, args, prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : []);
    const kill = s.child.kill.bind(s.child);
    s.child.kill = (sig) => {
      cpu.push(cpuSeconds(s.child.pid));
      return kill(sig);
    };
    return s;
  };
}
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

const skipped = await pgUnavailable();
if (skipped) {
  console.log(`PostgreSQL runs skipped: ${skipped}`);
  process.exit(0);
}
const batches = makeBatches(BATCHES, 100);
const { rows } = rowsOf(batches);
console.log(`${fmt(rows.length)} rows, ${CLIENTS} clients, ${ROUNDS} rounds, nodes ${NODES.join(', ')}`);
const best = { copy: 0 };
for (let round = 1; round <= ROUNDS; round++) {
  const c = await pgCopyCeiling(rows);
  best.copy = Math.max(best.copy, c.rowsPerSec);
  const line = [`round ${round}: COPY ${fmt(c.rowsPerSec)} rows/s`];
  for (const dist of DISTS)
    for (const nodes of NODES) {
      const s = await pgSchema('keel_bench_serve');
      try {
        const cpu = [];
        const r = await httpIngest(batches, {
          clients: CLIENTS,
          nodes,
          serve: measuredServe(
            new URL(`../../packages/ingest/${dist}/cli.js`, import.meta.url).pathname,
            () => ['--database-url', s.url, '--database-schema', s.schema],
            cpu,
          ),
        });
        const cpuPerEvent = (cpu.reduce((a, b) => a + (b ?? NaN), 0) / rows.length) * 1e6;
        const key = `${dist} ${nodes} node(s)`;
        best[key] = Math.max(best[key] ?? 0, r.eventsPerSec);
        line.push(
          `${key} ${fmt(r.eventsPerSec)} events/s (${fmt((r.eventsPerSec / c.rowsPerSec) * 100, 1)}%), p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms, server CPU ${fmt(cpuPerEvent, 1)} µs/event${r.failed ? `, ${r.failed} failed` : ''}`,
        );
      } finally {
        await s.drop();
      }
    }
  console.log(
    `${line.join('; ')}; load ${loadavg()
      .map((l) => fmt(l, 1))
      .join(' ')}`,
  );
}
console.log(
  `best: COPY ${fmt(best.copy)} rows/s; ${Object.keys(best)
    .filter((k) => k !== 'copy')
    .map((k) => `${k} ${fmt(best[k])} events/s = ${fmt((best[k] / best.copy) * 100, 1)}%`)
    .join('; ')}`,
);
