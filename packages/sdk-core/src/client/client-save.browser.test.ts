// Keel.init saves its rollups, history and traits to IndexedDB after messages: only the ones a
// message changed are written. Every put into Keel's state database is counted, by key.
import { afterEach, expect, inject, test, vi } from 'vitest';
import { adminCall } from '../../../../config/browser-admin.js';
import type { Keel } from './client.js';
import { init } from './client.js';
import type { ClientConfig } from './types.js';

const { url, writeKey, adminKey } = inject('ingest');
const clients: Keel[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.shutdown();
  vi.restoreAllMocks();
});

const CONFIG: ClientConfig = {
  version: 1,
  product: 'acme',
  checklists: [{ id: 'saves', title: 'Saves', items: [{ id: 'report', title: 'Make a report', complete: { event: 'report.created', count: { gte: 3 } } }] }],
};

/** Puts into Keel's state database (`keel-state:<write key>`), by key. */
function countPuts() {
  const puts: Record<string, number> = {};
  const put = IDBObjectStore.prototype.put;
  vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
    if (this.transaction.db.name === `keel-state:${writeKey}`) puts[String(key)] = (puts[String(key)] ?? 0) + 1;
    return put.call(this, value, key);
  });
  return puts;
}
const pick = (puts: Record<string, number>) => ({ rollups: puts.rollups ?? 0, history: puts.history ?? 0, traits: puts.traits ?? 0 });

test('a message writes only what it changed: traits for identify, history for any track, rollups for a watched one, nothing for a page', async () => {
  await new Promise((r) => {
    const q = indexedDB.deleteDatabase(`keel-state:${writeKey}`);
    q.onsuccess = q.onerror = q.onblocked = r;
  });
  const res = await adminCall(url, adminKey, '/v1/admin/config', { config: CONFIG, actor: 'browser-test' });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  const k = init({ writeKey, host: url, telemetry: { dbName: `keel-client-${crypto.randomUUID()}`, flushInterval: 50, autocapture: false } });
  clients.push(k);
  await k.ready;
  const puts = countPuts();

  k.telemetry.identify('ada', { plan: 'pro' });
  await vi.waitFor(() => expect(puts.traits).toBe(1));
  expect(pick(puts)).toEqual({ rollups: 0, history: 0, traits: 1 });

  // A page and an event no rule watches, in one save: the history only (its recent messages).
  k.telemetry.page('Reports');
  k.track('settings.opened');
  await vi.waitFor(() => expect(puts.history).toBe(1));
  expect(pick(puts)).toEqual({ rollups: 0, history: 1, traits: 1 });

  k.track('report.created');
  await vi.waitFor(() => expect(puts.rollups).toBe(1));
  expect(pick(puts)).toEqual({ rollups: 1, history: 2, traits: 1 });

  // A page alone changes none of them: the next save (of a group's traits) writes the traits only.
  k.telemetry.page('Home');
  k.telemetry.group('acme', { seats: 12 });
  await vi.waitFor(() => expect(puts.traits).toBe(2));
  expect(pick(puts)).toEqual({ rollups: 1, history: 2, traits: 2 });

  // What was written is what a reload reads.
  await k.shutdown();
  clients.splice(0);
  vi.restoreAllMocks();
  const again = init({
    writeKey,
    host: 'http://127.0.0.1:9',
    telemetry: { dbName: `keel-client-${crypto.randomUUID()}`, flushInterval: 50, autocapture: false },
  });
  clients.push(again);
  await again.ready;
  expect(await again.explain('saves', 'report')).toMatchObject({ ok: false });
  again.track('report.created');
  again.track('report.created');
  expect(again.checklist('saves')?.items[0]?.state).toBe('done');
});
