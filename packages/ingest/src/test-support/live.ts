/**
 * A real ingest server for tests that go through HTTP: SQLite in a temp dir, every route live
 * (config published, admin and secret keys set), a keep-alive client that can send anything
 * (any method, raw bytes, any header), and the tenant reads that must keep answering 200.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig, validateConfigText } from '@keel/sdk-core/authoring';
import { type RunningServer, startServer } from '../server.js';
import { storeServices } from '../store/open.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite.js';
import { signUserToken } from '../token.js';

export const WRITE_KEY = 'wk_live_test';
export const ADMIN_KEY = 'adm_live_test';
export const SECRET = 'secret_live_test';

const ACME = readFileSync(new URL('../../../sdk-core/src/authoring/fixtures/acme.keel.yaml', import.meta.url), 'utf8');

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RawRequest {
  method: string;
  path: string;
  /** Undefined values are left out. */
  headers?: Record<string, string | undefined>;
  body?: Buffer | string;
}

export interface Live {
  url: string;
  store: SqliteStore;
  server: RunningServer;
  send(r: RawRequest): Promise<RawResponse>;
  /** A user token for the tenant (admin role by default). */
  token(tenant: string, role?: string): string;
  /** Publishes the acme fixture config (again, if something else was published since). */
  publishAcme(): Promise<void>;
  /** Every read a tenant's users and admins make, with its status. */
  tenantReads(tenant: string): Promise<{ path: string; status: number; body: string }[]>;
  close(): Promise<void>;
}

/** `dataDir`: the store's directory (a new temp dir by default; pass one to reopen a store). */
export async function liveServer(dataDir = mkdtempSync(join(tmpdir(), 'keel-live-'))): Promise<Live> {
  const store = await openSqliteStore(dataDir);
  const server = await startServer({
    port: 0,
    host: '127.0.0.1',
    store,
    writeKeys: [WRITE_KEY],
    adminKeys: [ADMIN_KEY],
    secretKeys: [SECRET],
    ...storeServices(store),
    validateConfig: (doc) => validateConfig(doc),
    logger: false,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const { port } = server;
  const send = (r: RawRequest) =>
    new Promise<RawResponse>((resolve, reject) => {
      const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
      const headers: Record<string, string | number> = {};
      for (const [k, v] of Object.entries(r.headers ?? {})) if (v !== undefined) headers[k] = v;
      if (body) headers['content-length'] = body.length;
      const req = request({ host: '127.0.0.1', port, method: r.method, path: r.path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  const parsed = validateConfigText(ACME);
  if (!parsed.ok) throw new Error(`the acme fixture does not validate: ${JSON.stringify(parsed.problems)}`);
  const publishAcme = async () => {
    const pub = await send({
      method: 'POST',
      path: '/v1/admin/config',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ config: parsed.config, actor: 'test' }),
    });
    if (pub.status !== 201 && pub.status !== 200) throw new Error(`publishing the acme config answered ${pub.status}: ${pub.body}`);
  };
  await publishAcme();

  const token = (tenant: string, role = 'admin') => signUserToken({ sub: `user-of-${tenant}`, tenant, role }, SECRET);
  return {
    url: server.url,
    store,
    server,
    send,
    token,
    publishAcme,
    async tenantReads(tenant) {
      const id = encodeURIComponent(tenant);
      const auth = { authorization: `Bearer ${token(tenant)}` };
      const admin = { authorization: `Bearer ${ADMIN_KEY}` };
      const reads: [string, Record<string, string>][] = [
        ['/v1/progress', auth],
        ['/v1/status', auth],
        [`/v1/tenants/${id}/health`, auth],
        [`/v1/tenants/${id}/lifecycle`, auth],
        [`/v1/tenants/${id}/timeline`, auth],
        [`/v1/tenants/${id}/health`, admin],
        [`/v1/tenants/${id}/lifecycle`, admin],
        [`/v1/tenants/${id}/timeline`, admin],
      ];
      const out = [];
      for (const [path, headers] of reads) {
        const r = await send({ method: 'GET', path, headers });
        out.push({ path, status: r.status, body: r.body });
      }
      return out;
    },
    async close() {
      agent.destroy();
      await server.close();
    },
  };
}
