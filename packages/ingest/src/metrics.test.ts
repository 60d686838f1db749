// GET /metrics: the counters move with what the ingest routes do; latency by route pattern; the
// admin key guards it unless metricsPublic; one registry per app; store commits and sweeps observed.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { type AppOptions, buildApp } from './app.js';
import { createMetrics } from './metrics-registry.js';
import { openSqliteStore, type SqliteStore } from './store/sqlite.js';

const KEY = 'wk_metrics';
const basic = `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`;
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

async function make(over: Partial<AppOptions> = {}, given?: SqliteStore) {
  const store = given ?? (await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-metrics-'))));
  const app = buildApp({ store, writeKeys: [KEY], adminKeys: ['adm'], logger: false, rateLimit: false, ...over });
  open.push(store, app);
  return app;
}
const track = (id: string) => ({ type: 'track', event: 'report.exported', messageId: id, anonymousId: 'a1', timestamp: new Date().toISOString() });
const scrape = async (app: Awaited<ReturnType<typeof make>>) => {
  const r = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer adm' } });
  expect(r.statusCode).toBe(200);
  return r.body;
};
/** The value of one series (name and labels as written), 0 when absent. */
const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
};
const post = (app: Awaited<ReturnType<typeof make>>, body: unknown, headers: Record<string, string> = { authorization: basic }) =>
  app.inject({
    method: 'POST',
    url: '/v1/batch',
    headers: { 'content-type': 'text/plain', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('GET /metrics', () => {
  test('accepted, de-duplicated and rejected events move the counters', async () => {
    const app = await make();
    expect((await post(app, { batch: [track('m1'), track('m2'), { type: 'track' }] })).statusCode).toBe(200);
    expect((await post(app, { batch: [track('m1')] })).statusCode).toBe(200); // a retry
    expect((await post(app, '{not json')).statusCode).toBe(400);
    const text = await scrape(app);
    expect(value(text, 'keel_events_accepted_total')).toBe(2);
    expect(value(text, 'keel_events_duplicates_total')).toBe(1);
    expect(value(text, 'keel_events_rejected_total{reason="invalid_message"}')).toBe(1);
    expect(value(text, 'keel_events_rejected_total{reason="invalid_json"}')).toBe(1);
  });

  test('refusals are counted by reason (auth, origin, storage), never as rejections', async () => {
    const app = await make({ allowedOrigins: ['https://app.example'] });
    await post(app, { batch: [track('x1')] }, { authorization: `Basic ${Buffer.from('wk_nope:').toString('base64')}` });
    await post(app, { batch: [track('x2')] }, { authorization: basic, origin: 'https://evil.example' });
    const text = await scrape(app);
    expect(value(text, 'keel_ingest_refused_total{reason="auth"}')).toBe(1);
    expect(value(text, 'keel_ingest_refused_total{reason="origin"}')).toBe(1);
    expect(text).not.toContain('keel_events_rejected_total{');
  });

  test('latency is labelled by route pattern and status class, never the raw URL', async () => {
    const app = await make({ health: undefined });
    await post(app, { batch: [track('l1')] });
    await app.inject({ method: 'GET', url: '/v1/projects/some-secret-looking-key/settings' });
    const text = await scrape(app);
    expect(text).toContain('keel_http_request_duration_seconds_count{route="/v1/batch",method="POST",status_class="2xx"} 1');
    expect(text).toContain('route="/v1/projects/:writeKey/settings",method="GET",status_class="4xx"');
    expect(text).not.toContain('some-secret-looking-key');
  });

  test('the admin key guards it, unless metricsPublic', async () => {
    const app = await make();
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong' } })).json().error).toBe('unknown_admin_key');
    const pub = await make({ metricsPublic: true });
    const r = await pub.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('text/plain');
  });

  test('each app has its own registry: two apps in one process count apart', async () => {
    const a = await make();
    const b = await make();
    await post(a, { batch: [track('a1')] });
    expect(value(await scrape(a), 'keel_events_accepted_total')).toBe(1);
    expect(value(await scrape(b), 'keel_events_accepted_total')).toBe(0);
  });

  test('store commits and sweeps are observed when the store and the evaluator are given the hooks', async () => {
    const metrics = createMetrics();
    const store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-metrics-')), { onCommit: (s) => metrics.storeCommit.observe(s) });
    const app = await make({ metrics }, store);
    await post(app, { batch: [track('c1')] });
    const evaluator = store.startEvaluator({ sweepOnStart: false, onSweep: (r) => metrics.sweep.observe(r.ms / 1000) });
    await evaluator.sweep();
    evaluator.stop();
    const text = await scrape(app);
    expect(value(text, 'keel_store_commit_duration_seconds_count')).toBe(1);
    expect(value(text, 'keel_health_sweep_duration_seconds_count')).toBe(1);
  });
});
