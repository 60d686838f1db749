import { readFileSync } from 'node:fs';
import { validateConfig } from '@keel/sdk-core/authoring';
import { backupCommand } from './backup-cli.js';
import { configCommand } from './config-cli.js';
import { createMetrics } from './metrics-registry.js';
import { HELP, parseServeArgs, UsageError } from './serve-config.js';
import { startServer } from './server.js';
import { openStore, storeServices } from './store/open.js';

/** Tests only: now + the milliseconds in `file` (re-read each call; a missing file adds 0). */
function testClock(file: string): () => number {
  console.warn(`keel: TEST CLOCK from ${file}: evaluation time is shifted by the offset in that file (never in production)`);
  return () => {
    let offset = 0;
    try {
      offset = Number(readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      // no file yet: no offset
    }
    return Date.now() + offset;
  };
}

async function serve(args: string[]): Promise<void> {
  const cfg = parseServeArgs(args);
  // One registry for the app, the store's commits and the evaluator's sweeps (GET /metrics).
  const metrics = createMetrics();
  const store = await openStore({
    dataDir: cfg.dataDir,
    ...(cfg.databaseUrl ? { databaseUrl: cfg.databaseUrl } : {}),
    ...(cfg.databaseSchema ? { databaseSchema: cfg.databaseSchema } : {}),
    durability: cfg.durability,
    onCommit: (s) => metrics.storeCommit.observe(s),
    alerts: { webhooks: cfg.webhooks, ...(cfg.webhookSecret ? { webhookSecret: cfg.webhookSecret } : {}) },
  });
  // Partitions ahead and retention, at start and then hourly. Every node runs it: each step takes
  // a lock in the database and re-checks, so two nodes never do the same work twice.
  const upkeep = async () => {
    try {
      const r = await store.upkeep({ ...(cfg.retentionMs ? { retentionMs: cfg.retentionMs } : {}) });
      metrics.upkeepLastSuccess.set(Date.now() / 1000);
      if (store.kind === 'postgres') metrics.upkeepDefaultRows.set(r.leftInDefault);
      const did = [
        r.created.length ? `created ${r.created.join(', ')}` : '',
        r.moved ? `moved ${r.moved} rows out of the default partition` : '',
        r.dropped.length ? `dropped ${r.dropped.join(', ')} (retention, cutoff ${r.cutoff})` : '',
        r.deleted ? `deleted ${r.deleted} events older than ${r.cutoff} (retention)` : '',
        r.skipped.length ? `skipped ${r.skipped.join(', ')} (locked; next run)` : '',
      ].filter(Boolean);
      if (did.length) console.log(`keel: upkeep: ${did.join('; ')}${r.truncated ? '; more is due next run' : ''}`);
    } catch (e) {
      console.error(`keel: upkeep failed (retried in an hour): ${(e as Error).message}`);
    }
  };
  // On PostgreSQL the first run comes before listening: this month's partition exists before the
  // first batch arrives. SQLite's (retention only) runs beside ingest: it deletes in small batches.
  if (store.kind === 'postgres') await upkeep();
  else void upkeep();
  const upkeepTimer = setInterval(() => void upkeep(), 3_600_000);
  upkeepTimer.unref();
  let server;
  try {
    server = await startServer({
      ...cfg,
      store,
      ...storeServices(store),
      validateConfig: (doc) => validateConfig(doc),
      metrics,
    });
  } catch (e) {
    clearInterval(upkeepTimer);
    await store.close();
    throw e;
  }
  console.log(`Keel ingest listening on ${server.url} (${store.kind === 'postgres' ? 'database' : 'data'}: ${store.location})`);
  const evaluator = store.startEvaluator({
    sweepMs: cfg.sweepMs,
    onSweep: (r) => metrics.sweep.observe(r.ms / 1000),
    ...(cfg.testClockFile ? { now: testClock(cfg.testClockFile) } : {}),
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: finishing in-flight requests, then closing the store`);
    clearInterval(upkeepTimer);
    // The pass running (if any) ends before the store closes under it.
    evaluator
      .stop()
      .then(() => server.close())
      .then(
        () => process.exit(0),
        (e: unknown) => {
          console.error('keel: shutdown failed:', e);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(HELP);
    return command ? 0 : 2;
  }
  try {
    if (command === 'serve') {
      if (rest.includes('-h') || rest.includes('--help')) {
        process.stdout.write(HELP);
        return 0;
      }
      await serve(rest);
      return -1; // keeps running
    }
    if (command === 'config') return await configCommand(rest);
    if (command === 'backup') return await backupCommand(rest);
    throw new UsageError(`unknown command "${command}"; run keel --help`);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`keel: ${e.message}`);
      return 2;
    }
    console.error(`keel: ${(e as Error).message}`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code;
});
