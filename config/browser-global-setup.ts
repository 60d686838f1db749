// Global setup of the browser test project: a fault-injecting ingest stand-in for the SDK's
// retry tests, and the real ingest API (embedded SQLite in a temp dir) for the client's tests.
// Their URLs, the admin key and pre-minted user tokens reach the tests through `inject()`.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openSqliteStore, signUserToken, startServer, storeServices } from '../packages/ingest/src/index.js';
import { validateConfig } from '../packages/sdk-core/src/authoring/index.js';
import { startFaultServer } from './test-servers/fault-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    faultServer: string;
    ingest: { url: string; writeKey: string; adminKey: string; tokens: Record<string, string> };
    /** A second, separate server: test files that publish other configs don't race each other. */
    ingestHealth: { url: string; writeKey: string; adminKey: string; tokens: Record<string, string> };
    /** A third, for the guidance (nudges and recipes) tests. */
    ingestGuide: { url: string; writeKey: string; adminKey: string; tokens: Record<string, string> };
  }
}

export default async function setup(project: TestProject) {
  const fault = await startFaultServer();
  project.provide('faultServer', fault.url);
  const secret = 'browser-test-secret';
  const serve = async () => {
    const store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-browser-ingest-')));
    return startServer({
      store,
      ...storeServices(store),
      port: 0,
      logger: false,
      writeKeys: ['wk-browser'],
      adminKeys: ['admin-browser'],
      secretKeys: [secret],
      allowedOrigins: ['*'],
      // As `keel serve` does: a config the validator refuses is never published.
      validateConfig: (doc) => validateConfig(doc),
    });
  };
  const ingest = await serve();
  const ingestHealth = await serve();
  const ingestGuide = await serve();
  const tokens: Record<string, string> = {};
  const users = [['ada', 'acme'], ['bob', 'acme'], ['eve', 'globex'], ...Array.from({ length: 16 }, (_, i) => [`guide-${i + 1}`, 'acme'])];
  for (const [user, tenant] of users as [string, string][]) {
    tokens[user] = signUserToken({ sub: user, tenant, role: 'admin', ttlSeconds: 3600 }, secret);
  }
  project.provide('ingest', { url: ingest.url, writeKey: 'wk-browser', adminKey: 'admin-browser', tokens });
  project.provide('ingestHealth', { url: ingestHealth.url, writeKey: 'wk-browser', adminKey: 'admin-browser', tokens });
  project.provide('ingestGuide', { url: ingestGuide.url, writeKey: 'wk-browser', adminKey: 'admin-browser', tokens });
  return async () => {
    await ingest.close();
    await ingestHealth.close();
    await ingestGuide.close();
    await fault.close();
  };
}
