// The Keel demo: "Acme Analytics", a small vendor app that embeds Keel under a strict
// Content-Security-Policy. Two processes: this one serves the page, and runs the ingest API
// (ingest.mjs) as a child it can stop and restart, so the page keeps working while the ingest is
// down (the SDK queues in IndexedDB and delivers once it is back).
// Usage: node start.mjs [--port 5173] [--ingest-port 4318] [--data-dir ./.keel-data]
//        [--database-url postgres://… [--database-schema s]]  (PostgreSQL instead of SQLite)
// While it runs, type `stop`, `start` or `restart` (then Enter) to control the ingest.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { signUserToken } from '@keel/ingest';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.DEMO_PORT ?? '5173' },
    'ingest-port': { type: 'string', default: process.env.KEEL_PORT ?? '4318' },
    'data-dir': { type: 'string', default: process.env.KEEL_DATA_DIR ?? `${here}.keel-data` },
    'database-url': { type: 'string', default: process.env.KEEL_DATABASE_URL || process.env.DATABASE_URL || undefined },
    'database-schema': { type: 'string' },
  },
});
const host = '127.0.0.1';
const writeKey = 'demo-write-key';
// Fresh secrets each run, shared with the ingest process (and its restarts) through its environment.
// The server write key that seeds the history is fixed: events are unique per (write key, message
// id), so a restart's seeding must use the same key to store nothing twice (demo-only, on 127.0.0.1).
const keys = {
  DEMO_WRITE_KEY: writeKey,
  DEMO_SERVER_KEY: 'demo-server-key',
  DEMO_ADMIN_KEY: randomBytes(16).toString('hex'),
  DEMO_SECRET_KEY: randomBytes(32).toString('hex'),
};
/** The signed-in user: Ada, an admin of the tenant "acme-corp" (a real app mints this in its backend). */
const mintToken = () => signUserToken({ sub: 'u-42', tenant: 'acme-corp', role: 'admin', ttlSeconds: 12 * 3600 }, keys.DEMO_SECRET_KEY);

function step(msg) {
  process.stdout.write(`• ${msg}\n`);
}

step('bundling the page script (src/app.ts + Keel, the nudge/recipe UI as a lazy chunk)…');
const bundle = await build({
  entryPoints: { app: `${here}src/app.ts` },
  outdir: `${here}.assets`,
  bundle: true,
  splitting: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  write: false,
});
/** /assets/app.js and its chunks, served from memory. */
const assets = new Map(bundle.outputFiles.map((f) => [`/assets/${f.path.split('/').pop()}`, f.text]));
/** The app's pages (History-API routes): each is answered with the one HTML page. */
const ROUTES = new Set(['/', '/datasets', '/integrations', '/reports', '/settings']);

let ingestUrl;
const page = createServer(async (req, res) => {
  if (!ingestUrl) {
    res.writeHead(503, { 'retry-after': '1' });
    return res.end('starting');
  }
  const url = new URL(req.url ?? '/', 'http://x');
  const csp = `default-src 'self'; connect-src 'self' ${ingestUrl}; style-src 'self'; script-src 'self'`;
  if (assets.has(url.pathname)) {
    res.writeHead(200, { 'content-type': 'text/javascript', 'content-security-policy': csp });
    return res.end(assets.get(url.pathname));
  }
  if (url.pathname === '/app.css') {
    res.writeHead(200, { 'content-type': 'text/css' });
    return res.end(await readFile(`${here}src/app.css`));
  }
  if (!ROUTES.has(url.pathname)) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    return res.end(`no page ${url.pathname}; the app has ${[...ROUTES].join(', ')}`);
  }
  const html = (await readFile(`${here}src/index.html`, 'utf8'))
    .replace('%INGEST%', ingestUrl)
    .replace('%WRITE_KEY%', writeKey)
    .replace('%USER_TOKEN%', mintToken());
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp, 'cache-control': 'no-store' });
  res.end(html);
});
/** Listens, or exits with a message that names the port and the flag to change it. */
try {
  await new Promise((resolve, reject) => {
    page.once('error', reject);
    page.listen(Number(values.port), host, resolve);
  });
} catch (e) {
  if (e.code !== 'EADDRINUSE') throw e;
  console.error(`keel demo: port ${values.port} is already in use; pass --port N (another port), e.g. npm run demo -- --port ${Number(values.port) + 1}`);
  process.exit(1);
}
const pageUrl = `http://${host}:${page.address().port}`;

// The ingest: a child process. Its port is fixed after the first start (0 picks one), so the
// page's CSP and the SDK's host stay right across restarts.
const databaseUrl = values['database-url'];
const storeArgs = databaseUrl
  ? ['--database-url', databaseUrl, ...(values['database-schema'] ? ['--database-schema', values['database-schema']] : [])]
  : ['--data-dir', values['data-dir']];
let ingestPort = values['ingest-port'];
let child;
let stopping = false;
let seeded = false;

/** Starts the ingest process; resolves with its URL once it listens. */
function startIngest() {
  if (child) return Promise.resolve(ingestUrl);
  // A restart skips the seeding the first start did (it would store nothing new: stable ids).
  const proc = spawn(process.execPath, [`${here}ingest.mjs`, '--port', String(ingestPort), ...storeArgs, ...(seeded ? ['--no-seed'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...keys, DEMO_ALLOWED_ORIGIN: pageUrl },
  });
  child = proc;
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (b) => {
      const text = String(b);
      out += text;
      // Its progress lines (config, history) go to this terminal; the address line is read.
      for (const line of text.split('\n')) if (line.startsWith('•')) process.stdout.write(`${line}\n`);
      const m = /ingest listening on (http:\/\/\S+)/.exec(out);
      if (m && !ingestUrl) ingestUrl = m[1];
      if (m) {
        ingestPort = new URL(m[1]).port;
        seeded = true;
        resolve(m[1]);
      }
    });
    proc.once('exit', (code, signal) => {
      if (child === proc) child = undefined;
      reject(new Error(`the ingest exited (${signal ?? code}) before listening`));
      if (!stopping && code !== 0 && signal !== 'SIGTERM') step(`the ingest exited (${signal ?? code}); type "start" to start it again`);
    });
  });
}
/** Stops the ingest process (SIGTERM: it finishes in-flight requests and closes the store). */
async function stopIngest() {
  const proc = child;
  if (!proc) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

step(databaseUrl ? 'starting the ingest API on PostgreSQL…' : `starting the ingest API on the embedded store (${values['data-dir']})…`);
try {
  await startIngest();
} catch (e) {
  console.error(`keel demo: ${e.message}`);
  page.close();
  process.exit(1);
}

process.stdout.write(`
Keel demo is running.
  open the app:    ${pageUrl}
  ingest API:      ${ingestUrl}   (write key "${writeKey}")
Type "stop" to stop the ingest (the page keeps working, the SDK queues), "start" to start it again.
Press Ctrl+C to stop both.
`);

const commands = {
  async stop() {
    await stopIngest();
    step('ingest stopped (the page keeps working; its events wait in IndexedDB)');
  },
  async start() {
    await startIngest();
    step(`ingest running at ${ingestUrl}`);
  },
  async restart() {
    await commands.stop();
    await commands.start();
  },
};
let queue = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = commands[line.trim()];
  if (!cmd) {
    if (line.trim()) step(`unknown command "${line.trim()}"; type stop, start or restart`);
    return;
  }
  queue = queue.then(cmd).catch((e) => step(`failed: ${e.message}`));
});

async function stop() {
  if (stopping) return;
  stopping = true;
  step('stopping: the page server, then the ingest (finishing in-flight requests)…');
  page.close();
  await stopIngest();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
