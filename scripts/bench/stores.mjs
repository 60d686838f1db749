// The two stores the bench measures, opened the same way `keel serve` opens them (openStore):
// SQLite in a temp data directory, PostgreSQL in a fresh schema of database `test`. Each comes with
// its own cleanup, which the callers run in `finally`: no temp dir and no schema is left behind.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../packages/ingest/dist/index.js';

export const PG_URL = process.env.KEEL_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const redacted = (url) => url.replace(/\/\/[^@]*@/, '//');

/** A fresh, empty schema (created here, so nodes started together don't race to create it); `drop()` removes it and everything in it. */
export async function pgSchema(prefix = 'keel_bench', url = PG_URL) {
  const pg = (await import('pg')).default;
  const schema = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (text) => {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    await c.connect();
    try {
      return await c.query(text);
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  await admin(`CREATE SCHEMA "${schema}"`);
  return { url, schema, drop: () => admin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`) };
}

/** Why PostgreSQL can't be measured here (not reachable, no client library), or undefined when it can. */
export async function pgUnavailable(url = PG_URL) {
  let pg;
  try {
    pg = (await import('pg')).default;
  } catch (e) {
    return `the pg client library is not installed (${e.message.split('\n')[0]})`;
  }
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return undefined;
  } catch (e) {
    return `PostgreSQL is not reachable at ${redacted(url)} (${e.message || e.code || e})`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** An `open` for the health and sweep benches: resolves `{ store, label, cleanup }`. */
export const STORES = {
  sqlite: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-bench-store-'));
    try {
      const store = await openStore({ dataDir: dir });
      return { store, label: 'SQLite', cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  },
  postgres: async () => {
    const s = await pgSchema();
    try {
      const store = await openStore({ databaseUrl: s.url, databaseSchema: s.schema });
      // The months' partitions, as `keel serve` makes them before it listens; the benches seed events
      // received up to a month ago, so the month before this one gets its partition too.
      await store.upkeep({ now: new Date(Date.now() - 40 * 86_400_000) });
      await store.upkeep({});
      return { store, label: 'PostgreSQL', cleanup: () => s.drop() };
    } catch (e) {
      await s.drop().catch(() => undefined);
      throw e;
    }
  },
};

/** Publishes `config` as the store's first version, as `keel config publish` would. */
export const publishBenchConfig = (store, config) =>
  store.config.publish({
    document: JSON.stringify(config),
    hash: 'bench',
    publishedAt: new Date().toISOString(),
    publishedBy: 'bench',
    summary: 'first version',
  });
