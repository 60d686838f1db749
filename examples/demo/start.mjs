// The Keel demo: one command starts the ingest API on the embedded SQLite store and serves a small
// vendor app ("Acme Analytics") that embeds the SDK under a strict Content-Security-Policy.
// Usage: node start.mjs [--port 5173] [--ingest-port 4318] [--data-dir ./.keel-data]
//        [--database-url postgres://… [--database-schema s]]  (PostgreSQL instead of SQLite)
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { randomBytes } from 'node:crypto';
import { openStore, signUserToken, startServer } from '@keel/ingest';
import { validateConfig, validateConfigText, formatProblems } from '@keel/sdk-core/authoring';

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
// Fresh secrets each run: the demo publishes its own config and mints its own user token.
const adminKey = randomBytes(16).toString('hex');
const secretKey = randomBytes(32).toString('hex');
const userToken = signUserToken({ sub: 'u-42', tenant: 'acme-corp', role: 'admin', ttlSeconds: 12 * 3600 }, secretKey);

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

// The page server first, so the ingest server's CORS list can name its exact origin; pages are
// answered once both are up.
let ingest;
let store;
const page = createServer(async (req, res) => {
  if (!ingest) {
    res.writeHead(503, { 'retry-after': '1' });
    return res.end('starting');
  }
  const url = new URL(req.url ?? '/', 'http://x');
  const csp = `default-src 'self'; connect-src 'self' ${ingest.url}; style-src 'self'; script-src 'self'`;
  if (assets.has(url.pathname)) {
    res.writeHead(200, { 'content-type': 'text/javascript', 'content-security-policy': csp });
    return res.end(assets.get(url.pathname));
  }
  if (url.pathname === '/app.css') {
    res.writeHead(200, { 'content-type': 'text/css' });
    return res.end(await readFile(`${here}src/app.css`));
  }
  if (url.pathname === '/api/stored') {
    // Demo-only: what the ingest server has stored, read back from the store.
    const rows = await store.list({ writeKey, limit: 20 });
    const total = await store.count({ writeKey });
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ total, rows }));
  }
  const html = (await readFile(`${here}src/index.html`, 'utf8'))
    .replace('%INGEST%', ingest.url)
    .replace('%WRITE_KEY%', writeKey)
    .replace('%USER_TOKEN%', userToken);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp });
  res.end(html);
});
/** Listens, or exits with a message that names the port and the flag to change it. */
async function listenOrExplain(fn, port, flag) {
  try {
    return await fn();
  } catch (e) {
    if (e.code === 'EADDRINUSE') {
      console.error(`keel demo: port ${port} is already in use; pass ${flag} N (another port), e.g. npm run demo -- ${flag} ${Number(port) + 1}`);
      process.exit(1);
    }
    throw e;
  }
}
await listenOrExplain(
  () =>
    new Promise((resolve, reject) => {
      page.once('error', reject);
      page.listen(Number(values.port), host, resolve);
    }),
  values.port,
  '--port',
);
const pageUrl = `http://${host}:${page.address().port}`;

const databaseUrl = values['database-url'];
step(databaseUrl ? 'starting the ingest API on PostgreSQL…' : `starting the ingest API on the embedded store (${values['data-dir']})…`);
store = await openStore(
  databaseUrl ? { databaseUrl, ...(values['database-schema'] ? { databaseSchema: values['database-schema'] } : {}) } : { dataDir: values['data-dir'] },
);
ingest = await listenOrExplain(
  () =>
    startServer({
      host,
      port: Number(values['ingest-port']),
      store,
      writeKeys: [writeKey],
      allowedOrigins: [pageUrl],
      logLevel: 'warn',
      config: store.config,
      progress: store.progress,
      facts: store.facts,
      adminKeys: [adminKey],
      secretKeys: [secretKey],
      validateConfig: (doc) => validateConfig(doc),
    }),
  values['ingest-port'],
  '--ingest-port',
);

step('publishing examples/demo/keel.yaml…');
const checked = validateConfigText(await readFile(`${here}keel.yaml`, 'utf8'));
if (!checked.ok) {
  console.error(formatProblems('examples/demo/keel.yaml', checked.problems));
  process.exit(1);
}
const published = await ingest.app.inject({
  method: 'POST',
  url: '/v1/admin/config',
  headers: { authorization: `Bearer ${adminKey}` },
  payload: JSON.stringify({ config: checked.config, actor: 'demo' }),
});
step(`config: ${published.json().unchanged ? `version ${published.json().version} (unchanged)` : `published version ${published.json().version}`}`);

process.stdout.write(`
Keel demo is running.
  open the app:    ${pageUrl}
  ingest API:      ${ingest.url}   (write key "${writeKey}")
  ${store.kind === 'postgres' ? 'database:        ' : 'data directory:  '}${store.location}
Press Ctrl+C to stop.
`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  step('stopping: finishing in-flight requests…');
  page.close();
  await ingest.close();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
