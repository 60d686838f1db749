/**
 * PostgreSQL for tests: every call gets a schema of its own in the test database, dropped by
 * `drop()`, so runs (and files running in parallel) never see each other's rows. The server is
 * `KEEL_TEST_DATABASE_URL` (default: the local PostgreSQL's `test` database, trust auth). A test
 * that needs it fails, naming how to start it, when it is not running: CI starts it (.ci/run).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type KeelDb, postgresKeelDb, quoteIdent } from '../store/db.js';
import { migrateToLatest } from '../store/migrations.js';

export const TEST_DATABASE_URL = process.env.KEEL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestSchema {
  url: string;
  schema: string;
  drop(): Promise<void>;
}

export async function testSchema(prefix = 'keel_t'): Promise<TestSchema> {
  const schema = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (e) {
    throw new Error(
      `PostgreSQL is not reachable at ${TEST_DATABASE_URL} (${(e as Error).message}); start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    );
  }
  await admin.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
  await admin.end();
  return {
    url: TEST_DATABASE_URL,
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      await c.end();
    },
  };
}

/** A migrated KeelDb in a fresh schema; `close()` also drops the schema. */
export async function testPostgres(): Promise<KeelDb> {
  const s = await testSchema();
  const k = await postgresKeelDb({ url: s.url, schema: s.schema, max: 4 });
  await migrateToLatest(k);
  return {
    ...k,
    async close() {
      await k.close();
      await s.drop();
    },
  };
}
