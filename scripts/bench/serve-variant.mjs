// A `keel serve` equivalent for the attribution comparison: the same store and server as the CLI,
// with tenant attribution on or off (`--attribution on|off`), in its own process.
import { openSqliteStore, startServer } from '../../packages/ingest/dist/index.js';

const [dataDir, writeKey, attribution] = process.argv.slice(2);
const store = await openSqliteStore(dataDir, { attribution: attribution !== 'off' });
const server = await startServer({ store, writeKeys: [writeKey], port: 0, logger: { level: 'warn' }, rateLimit: false });
console.log(`listening on ${server.url}`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
