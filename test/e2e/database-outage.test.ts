// PostgreSQL goes away for 30 s under a `keel serve` that keeps taking batches: the database is
// reached through a loopback TCP proxy that the test cuts (the shared PostgreSQL itself is never
// stopped). While it is away, ingest answers 503 with Retry-After and acknowledges nothing,
// /readyz says not ready; senders retrying as the SDK does deliver everything, once, when it is back.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../packages/ingest/src/test-support/tcp-proxy.js';
import { freePort, IngestProcess, postgresSchema, TEST_DATABASE_URL, waitFor, WRITE_KEY } from './harness.js';

const auth = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
const OUTAGE_MS = 30_000;

let db: Awaited<ReturnType<typeof postgresSchema>>;
let proxy: TcpProxy;
let node: IngestProcess;

beforeAll(async () => {
  db = await postgresSchema();
  const target = new URL(TEST_DATABASE_URL);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const viaProxy = new URL(TEST_DATABASE_URL);
  viaProxy.port = String(proxy.port);
  node = new IngestProcess(
    await freePort(),
    'http://127.0.0.1',
    ['--rate-limit-ip', '0', '--sweep-interval', '1s'],
    {},
    { url: viaProxy.toString(), schema: db.schema },
  );
  await node.start();
}, 60_000);

afterAll(async () => {
  await node?.stop();
  await proxy?.close();
  await db?.drop();
});

const batchOf = (b: number) =>
  Array.from({ length: 20 }, (_, i) => ({ type: 'track', event: 'outage.tested', messageId: `o-${b}-${i}`, userId: 'u1', context: { groupId: 't1' } }));

async function post(batch: unknown[]): Promise<{ status: number; retryAfter: string | null; body: string }> {
  try {
    const r = await fetch(`${node.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth },
      body: JSON.stringify({ batch }),
      signal: AbortSignal.timeout(20_000),
    });
    return { status: r.status, retryAfter: r.headers.get('retry-after'), body: await r.text() };
  } catch (e) {
    return { status: 0, retryAfter: null, body: String(e) };
  }
}

async function ready(): Promise<{ status: number; retryAfter: string | null; body: string }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch(`${node.url}/readyz`);
      return { status: r.status, retryAfter: r.headers.get('retry-after'), body: await r.text() };
    } catch (e) {
      // A reused keep-alive socket can be reset once; twice in a row means the server is down,
      // which it must never be through an outage: show what it printed.
      if (attempt >= 1) throw new Error(`/readyz unreachable (${(e as Error).message}); keel serve printed:\n${node.output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

test('the database away for 30 s: 503 + Retry-After, never an acknowledgement of what was not stored; everything arrives once it is back', async () => {
  const first = await post(batchOf(0));
  expect(first.status, node.output).toBe(200);
  expect((await ready()).status).toBe(200);

  await proxy.cut();
  const cutAt = Date.now();
  const during: { status: number; retryAfter: string | null }[] = [];
  const acknowledgedDuringOutage: number[] = [];
  // Senders keep sending through the outage; each batch is retried (same ids) until acknowledged.
  const pending = new Set<number>();
  let b = 1;
  const notReady = await waitFor(ready, (r) => r.status === 503, 20_000);
  expect(notReady.retryAfter).toMatch(/^\d+$/);
  expect(notReady.body).toMatch(/database unavailable/);
  while (Date.now() - cutAt < OUTAGE_MS) {
    pending.add(b);
    const r = await post(batchOf(b));
    during.push(r);
    if (r.status === 200) acknowledgedDuringOutage.push(b);
    else expect(r.status).toBe(503);
    b++;
    await new Promise((res) => setTimeout(res, 1_000));
  }
  expect(acknowledgedDuringOutage).toEqual([]);
  expect(during.length).toBeGreaterThan(5);
  for (const r of during) expect(Number(r.retryAfter)).toBeGreaterThan(0);
  expect((await db.query<{ n: string }>('SELECT COUNT(*) AS n FROM events')).map((r) => Number(r.n))).toEqual([20]);

  await proxy.restore();
  await waitFor(ready, (r) => r.status === 200, 30_000);
  // The retries: every batch refused during the outage, again, with the same ids.
  for (const p of pending) {
    const r = await waitFor(
      () => post(batchOf(p)),
      (x) => x.status === 200,
      20_000,
    );
    expect(JSON.parse(r.body)).toMatchObject({ accepted: 20 });
  }
  const ids = (await db.query<{ message_id: string }>('SELECT message_id FROM events')).map((r) => r.message_id);
  expect(ids.length).toBe(20 * (pending.size + 1));
  expect(new Set(ids).size).toBe(ids.length);
}, 120_000);
