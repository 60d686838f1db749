// The demo's ingest process: the Keel ingest API (as `keel serve` wires it: health, status,
// lifecycle, the evaluator) on SQLite or PostgreSQL. At start it publishes examples/demo/keel.yaml
// and seeds 30 days of history for a few tenants through the ingest API (stable message ids: a
// restart stores nothing twice), then the daily health snapshots behind the badge's trend.
// start.mjs runs it as a child process it can stop and restart; the page server is apart.
// Secrets come from the environment (DEMO_WRITE_KEY, DEMO_SERVER_KEY, DEMO_ADMIN_KEY,
// DEMO_SECRET_KEY, DEMO_ALLOWED_ORIGIN), so a restarted ingest accepts the tokens the page holds.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openStore, startServer, storeServices } from '@keel/ingest';
import { formatProblems, validateConfig, validateConfigText } from '@keel/sdk-core/authoring';
import { seedMessages, SEED_TENANTS } from './seed.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4318' },
    'data-dir': { type: 'string', default: `${here}.keel-data` },
    'database-url': { type: 'string' },
    'database-schema': { type: 'string' },
    'no-seed': { type: 'boolean', default: false },
  },
});
const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`keel demo ingest: ${name} is not set (start the demo with start.mjs)`);
    process.exit(2);
  }
  return v;
};
const writeKey = env('DEMO_WRITE_KEY');
const serverKey = env('DEMO_SERVER_KEY');
const adminKey = env('DEMO_ADMIN_KEY');
const secretKey = env('DEMO_SECRET_KEY');
const origin = env('DEMO_ALLOWED_ORIGIN');

const databaseUrl = values['database-url'];
const store = await openStore(
  databaseUrl ? { databaseUrl, ...(values['database-schema'] ? { databaseSchema: values['database-schema'] } : {}) } : { dataDir: values['data-dir'] },
);
if (store.kind === 'postgres') await store.upkeep({});
let server;
try {
  server = await startServer({
    host: '127.0.0.1',
    port: Number(values.port),
    store,
    writeKeys: [writeKey],
    serverWriteKeys: [serverKey],
    allowedOrigins: [origin],
    logLevel: 'warn',
    ...storeServices(store),
    adminKeys: [adminKey],
    secretKeys: [secretKey],
    validateConfig: (doc) => validateConfig(doc),
  });
} catch (e) {
  await store.close();
  if (e.code === 'EADDRINUSE') {
    console.error(`keel demo: port ${values.port} is already in use; pass --ingest-port N (another port)`);
    process.exit(3);
  }
  throw e;
}
const admin = (method, url, payload) =>
  server.app.inject({ method, url, headers: { authorization: `Bearer ${adminKey}` }, ...(payload ? { payload: JSON.stringify(payload) } : {}) });

const checked = validateConfigText(await readFile(`${here}keel.yaml`, 'utf8'));
if (!checked.ok) {
  console.error(formatProblems('examples/demo/keel.yaml', checked.problems));
  process.exit(1);
}
const published = (await admin('POST', '/v1/admin/config', { config: checked.config, actor: 'demo' })).json();
const log = (msg) => process.stdout.write(`• ${msg}\n`);
log(`config: ${published.unchanged ? `version ${published.version} (unchanged)` : `published version ${published.version}`}`);

if (!values['no-seed']) await seed();

const evaluator = store.startEvaluator({ sweepMs: 60_000 });
process.stdout.write(`ingest listening on ${server.url}\n`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await evaluator.stop();
  await server.close();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

/** History: see seed.mjs. */
async function seed() {
  // History: 30 days for each tenant, through the ingest API with the server write key (its
  // back-dated timestamps are kept as sent); already-stored message ids count as duplicates.
  const now = Date.now();
  let inserted = 0;
  let duplicates = 0;
  const messages = seedMessages(now);
  for (let i = 0; i < messages.length; i += 500) {
    const res = await server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: `Basic ${Buffer.from(`${serverKey}:`).toString('base64')}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ batch: messages.slice(i, i + 500) }),
    });
    const body = res.json();
    if (res.statusCode !== 200 || body.rejected.length) throw new Error(`seeding failed: HTTP ${res.statusCode} ${res.body.slice(0, 500)}`);
    inserted += body.accepted;
    duplicates += body.duplicates;
  }
  // The badge's trend: each tenant's score as it stood at the end of each of the last 30 days,
  // computed from the events above and stored as that day's snapshot (an upsert: idempotent).
  const DAY = 86_400_000;
  const passes = [];
  for (const t of SEED_TENANTS)
    for (let d = 30; d >= 0; d--) passes.push(await store.health.tenantHealth(t.id, d === 0 ? now : Math.floor(now / DAY) * DAY - (d - 1) * DAY - 1));
  await store.health.snapshot(passes);
  log(`history: ${SEED_TENANTS.length} tenants, 30 days (${inserted} events stored, ${duplicates} already there)`);
  const today = passes.filter((p) => p.now === now && p.report);
  log(`health today: ${today.map((p) => `${p.tenantId} ${p.report.score} (${p.report.band})`).join(', ')}`);
}
