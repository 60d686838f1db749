// Shared pieces of the end-to-end tests: the SDK bundled for a page, a page server on its own
// origin (so every request to ingest is cross-origin, as in production), the real `keel serve`
// process (killable, restartable on the same port and data dir), and Debian's Chromium.
// KEEL_E2E_STORE=postgres runs every `keel serve` of a test on PostgreSQL (a schema of its own in
// the test database) instead of SQLite; vitest's `e2e-postgres` project sets it.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { build } from 'esbuild';
import pg from 'pg';
import { type Browser, chromium } from 'playwright-core';
import { chromiumArgs, chromiumPath } from '../../config/chromium.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** `node --import` this into a spawned server: it exits when the test process that spawned it dies. */
export const EXIT_WITH_PARENT = new URL('./exit-with-parent.mjs', import.meta.url).href;
export const WRITE_KEY = 'e2e-write-key';

/** Keel.init and <keel-checklist> from source, bundled as a page would load them; exposes window.Keel. */
export async function bundleClient(): Promise<string> {
  const out = await build({
    stdin: {
      contents: `import { init } from './packages/sdk-core/src/index.ts'; import './packages/checklist-widget/src/define.ts'; window.Keel = { init };`,
      resolveDir: root,
      loader: 'ts',
    },
    alias: { '@keel/telemetry': `${root}packages/telemetry/src/index.ts`, '@keel/sdk-core': `${root}packages/sdk-core/src/index.ts` },
    bundle: true,
    format: 'iife',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

/** The telemetry SDK from source, bundled as the page would load it; exposes window.Keel. */
export async function bundleSdk(): Promise<string> {
  const out = await build({
    stdin: {
      contents: `import { createTelemetry } from './packages/telemetry/src/index.ts'; window.Keel = { createTelemetry };`,
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    format: 'iife',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Serves `/` (an empty app page) and `/sdk.js` on its own origin. */
export async function startPageServer(sdkJs: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/sdk.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(sdkJs);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><html lang="en"><title>e2e app</title><script src="/sdk.js"></script><h1>app</h1></html>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Runs the built `keel` CLI to completion: its exit code and output. */
export function keelCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  const cli = join(root, 'packages/ingest/dist/cli.js');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b));
    child.stderr!.on('data', (b: Buffer) => (out += b));
    child.once('exit', (code) => resolve({ code: code ?? -1, out }));
  });
}

export const TEST_DATABASE_URL = process.env.KEEL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Which store the e2e tests run `keel serve` on. */
export const E2E_STORE: 'sqlite' | 'postgres' = process.env.KEEL_E2E_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** A schema of its own in the test database (several processes may share it: two nodes); drop() removes it. */
export async function postgresSchema(): Promise<{
  url: string;
  schema: string;
  query<T>(text: string, values?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}> {
  const schema = `keel_e2e_${process.pid}_${randomBytes(4).toString('hex')}`;
  const run = async <T>(text: string, values?: unknown[], inSchema = false) => {
    const c = new pg.Client({
      connectionString: TEST_DATABASE_URL,
      connectionTimeoutMillis: 5000,
      ...(inSchema ? { options: `-c search_path="${schema}"` } : {}),
    });
    try {
      await c.connect();
    } catch (e) {
      throw new Error(
        `PostgreSQL is not reachable at ${TEST_DATABASE_URL} (${(e as Error).message}); start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
      );
    }
    try {
      return (await c.query(text, values)).rows as T[];
    } finally {
      await c.end();
    }
  };
  await run(`CREATE SCHEMA "${schema}"`);
  return {
    url: TEST_DATABASE_URL,
    schema,
    query: <T>(text: string, values?: unknown[]) => run<T>(text, values, true),
    drop: () => run(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).then(() => undefined),
  };
}

/** The real `keel serve` (built CLI) as a child process. */
export class IngestProcess {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'keel-e2e-'));
  private child: ChildProcess | undefined;
  /** Everything the process printed (the current run): what a failing test shows. */
  output = '';
  /** On PostgreSQL: the database and schema this process serves from (shared by the nodes given the same one). */
  database: { url: string; schema: string } | undefined;
  /** A schema this process made for itself (not one given to share): dropped by stop(). */
  private ownSchema: { drop(): Promise<void> } | undefined;
  constructor(
    readonly port: number,
    readonly allowedOrigin: string,
    /** More `keel serve` flags, e.g. ['--admin-key', 'k', '--secret-key', 's']. */
    readonly extraArgs: string[] = [],
    /** More environment variables for the process (e.g. KEEL_TEST_CLOCK_FILE). */
    readonly env: NodeJS.ProcessEnv = {},
    /** A PostgreSQL schema to serve from; default: a new one when KEEL_E2E_STORE=postgres, else SQLite in dataDir. */
    database?: { url: string; schema: string },
  ) {
    this.database = database;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const cli = join(root, 'packages/ingest/dist/cli.js');
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`pnpm run build\` first (npm test does).`);
    if (!this.database && E2E_STORE === 'postgres') this.database = this.ownSchema = await postgresSchema();
    const storeArgs = this.database ? ['--database-url', this.database.url, '--database-schema', this.database.schema] : ['--data-dir', this.dataDir];
    const child = spawn(
      process.execPath,
      [
        '--import',
        EXIT_WITH_PARENT,
        cli,
        'serve',
        '--port',
        String(this.port),
        ...storeArgs,
        '--write-key',
        WRITE_KEY,
        '--allowed-origin',
        this.allowedOrigin,
        '--log-level',
        'warn',
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } },
    );
    this.child = child;
    let output = '';
    this.output = '';
    child.stdout!.on('data', (b: Buffer) => (this.output += b));
    child.stderr!.on('data', (b: Buffer) => (this.output += b));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`keel serve did not start: ${output}`)), 15_000);
      const onData = (b: Buffer) => {
        output += b.toString();
        if (output.includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`keel serve exited with ${code}: ${output}`));
      });
    });
  }

  /** SIGKILL: no graceful shutdown, exactly as a crash. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  /** SIGTERM (a graceful stop); the data stays (start() again serves it). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    this.child = undefined;
  }

  /** The end of a test file: stop, and drop a schema this process made for itself (never one given to share). */
  async dispose(): Promise<void> {
    await this.stop();
    await this.ownSchema?.drop();
    this.ownSchema = undefined;
  }

  /** Rows as stored (SQLite through a separate read-only connection; PostgreSQL through a client of its own), in insertion order. */
  async rows(): Promise<{ message_id: string; type: string; event: string | null; group_id: string | null; payload: string }[]> {
    if (this.database) {
      const c = new pg.Client({ connectionString: this.database.url, options: `-c search_path="${this.database.schema}"` });
      await c.connect();
      try {
        return (await c.query('SELECT * FROM events ORDER BY rowid')).rows as never;
      } catch (e) {
        if ((e as { code?: string }).code === '42P01') return []; // not migrated yet
        throw e;
      } finally {
        await c.end();
      }
    }
    const db = new Database(join(this.dataDir, 'keel.db'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT * FROM events ORDER BY rowid').all() as never;
    } finally {
      db.close();
    }
  }
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs });
}

/**
 * A recording proxy in front of the ingest server: the page sends to it, it forwards every
 * request unchanged and logs the message ids of each POST as they went over the wire
 * (gzip decoded), per path. Seeing the wire from outside the browser catches beacons sent by a
 * closing page, which the page's own request events may miss.
 */
export async function startWireProxy(target: () => string): Promise<{
  url: string;
  requests: { path: string; ids: string[] }[];
  close(): Promise<void>;
}> {
  const requests: { path: string; ids: string[] }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const buf = Buffer.concat(chunks);
      if (req.method === 'POST' && buf.length) {
        try {
          const text = buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf).toString() : buf.toString();
          const body = JSON.parse(text) as { batch: { messageId: string }[] };
          requests.push({ path: (req.url ?? '').split('?')[0]!, ids: body.batch.map((m) => m.messageId) });
        } catch {
          requests.push({ path: req.url ?? '', ids: [] });
        }
      }
      const up = httpRequest(`${target()}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => {
        res.destroy(); // the server is down: the client sees a network error, as it would
      });
      up.end(buf);
    });
  });
  return { ...(await listen(server)), requests };
}

/** Listens on a free loopback port: its URL, and a close that drops open connections. */
async function listen(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export async function waitFor<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const start = Date.now();
  let last: T = await fn();
  while (!ok(last)) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms; last value: ${JSON.stringify(last)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await fn();
  }
  return last;
}

export interface AppBundle {
  /** Output file name (`app.js`, `ui-XXXX.js`, `chunk-XXXX.js`) → its code. */
  files: Map<string, string>;
  /** The files a page fetches only through a dynamic `import()`: the lazily loaded chunks. */
  lazy: string[];
}

/**
 * Bundles a page entry the way a vendor's bundler would: ESM with code splitting, minified, so a
 * dynamic `import()` (Keel's `ui` loader) becomes a chunk of its own.
 */
export async function bundleApp(entry: string): Promise<AppBundle> {
  const outdir = join(root, '.e2e-assets');
  const out = await build({
    entryPoints: { app: entry },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    minify: true,
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    chunkNames: '[name]-[hash]',
  });
  const files = new Map(out.outputFiles.map((f) => [f.path.slice(outdir.length + 1), f.text]));
  const outputs = out.metafile.outputs;
  const name = (p: string) => p.split('/').pop()!;
  const staticOf = new Set<string>();
  const visit = (p: string) => {
    if (staticOf.has(p)) return;
    staticOf.add(p);
    for (const i of outputs[p]?.imports ?? []) if (i.kind === 'import-statement') visit(i.path);
  };
  const main = Object.keys(outputs).find((p) => outputs[p]!.entryPoint && name(p) === 'app.js')!;
  visit(main);
  const lazy = Object.keys(outputs)
    .filter((p) => p.endsWith('.js') && !staticOf.has(p))
    .map(name);
  return { files, lazy };
}

/**
 * The vendor's app server: its pages under a strict CSP (`default-src 'self'`, nothing else:
 * no inline script or style, no other origin; a page may bring its own policy), its bundle under
 * /assets/, and Keel's API (/v1) and script-tag SDK (/sdk) forwarded to the ingest server, so the
 * page talks to its own origin only.
 */
export async function startAppServer(o: {
  bundle: AppBundle;
  /** path → HTML, or HTML with its own Content-Security-Policy */
  pages: Record<string, string | { html: string; csp: string }>;
  assets?: Record<string, { type: string; body: string }>;
  ingest: () => string;
}): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const csp = "default-src 'self'";
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push(path);
    if (path.startsWith('/v1/') || path.startsWith('/sdk/')) {
      const up = httpRequest(`${o.ingest()}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
      return;
    }
    const asset = path.startsWith('/assets/') ? path.slice(8) : undefined;
    const js = asset !== undefined ? o.bundle.files.get(asset) : undefined;
    if (js !== undefined) {
      res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' });
      return void res.end(js);
    }
    const other = asset !== undefined ? o.assets?.[asset] : undefined;
    if (other) {
      res.writeHead(200, { 'content-type': other.type });
      return void res.end(other.body);
    }
    const page = o.pages[path];
    if (page === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return void res.end(`no page ${path}`);
    }
    const [html, policy] = typeof page === 'string' ? [page, csp] : [page.html, page.csp];
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': policy });
    res.end(html);
  });
  return { ...(await listen(server)), requests };
}

/**
 * A vendor's app server (startAppServer: strict CSP, /v1 proxied) in front of a real `keel serve`
 * with an admin and a secret key, `configFile` published, and Chromium: what the framework and
 * packaged-install tests load their pages into. Set `served.files` and `pages` per test.
 */
export async function startVendorStack(o: { configFile: string; adminKey: string; secretKey: string }): Promise<{
  app: Awaited<ReturnType<typeof startAppServer>>;
  ingest: IngestProcess;
  browser: Browser;
  served: AppBundle;
  pages: Record<string, string | { html: string; csp: string }>;
  close(): Promise<void>;
}> {
  const served: AppBundle = { files: new Map(), lazy: [] };
  const pages: Record<string, string | { html: string; csp: string }> = { '/favicon.ico': '' };
  let ingestUrl = '';
  const app = await startAppServer({ bundle: served, ingest: () => ingestUrl, pages });
  const ingest = new IngestProcess(await freePort(), app.url, ['--admin-key', o.adminKey, '--secret-key', o.secretKey]);
  ingestUrl = ingest.url;
  await ingest.start();
  const published = await keelCli(['config', 'publish', o.configFile, '--actor', 'cs-ada'], { KEEL_URL: ingest.url, KEEL_ADMIN_KEY: o.adminKey });
  if (!published.out.includes('published version 1')) throw new Error(`publishing ${o.configFile} failed: ${published.out}`);
  const browser = await launchChromium();
  return {
    app,
    ingest,
    browser,
    served,
    pages,
    async close() {
      await browser.close();
      await app.close();
      await ingest.dispose();
    },
  };
}
