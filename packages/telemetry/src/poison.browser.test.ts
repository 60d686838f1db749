// One bad message never blocks the queue, in Chromium against the real ingest API (SQLite, started
// by config/browser-global-setup.ts): random poison property values (deep, wide, cyclic, BigInt,
// functions, symbols, lone surrogates, huge strings, values IndexedDB cannot clone, messages the
// server rejects) interleaved with normal events, across a reload of the queue (a second instance
// on the same IndexedDB). Every normal event is stored exactly once, read back from the server.
import fc from 'fast-check';
import { afterEach, expect, inject, test, vi } from 'vitest';
import { openStore, request } from './idb.js';
import { createTelemetry, type Telemetry, type TelemetryError, type TelemetryOptions } from './index.js';

const { url, writeKey, tokens } = inject('ingest');
const TENANT = 'globex'; // the tenant of the `eve` token: its timeline is read back below
const DEAD = 'http://127.0.0.1:9'; // nothing listens: the first instance's sends all fail
const SEED = 20261202; // fixed: a failure prints it with the errors seen

const nest = (depth: number, leaf: unknown): unknown => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { d: v };
  return v;
};
const cyclic = (n: number) => {
  const root: Record<string, unknown> = { name: 'root' };
  let at = root;
  for (let i = 0; i < n; i++) at = at[`k${i}`] = { i };
  at.back = root;
  return root;
};
const wide = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`key${i}`, i]));

/** A value that is hostile to JSON, structured clone, the size limit or the server's schema. */
const poisonValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 33, max: 6000 }).map((d) => nest(d, 1)), // too deep (the issue: ~4,200)
  fc.integer({ min: 1, max: 31 }).map((d) => nest(d, 'ok')), // deep but within the limit: stored
  fc.integer({ min: 0, max: 20 }).map(cyclic),
  fc.integer({ min: 100, max: 20_000 }).map(wide),
  fc.bigInt(),
  fc.constant(() => 1),
  fc.string().map((s) => Symbol(s)),
  fc.string().map((s) => `${s}\ud800${s}\udfff`), // lone surrogates
  fc.integer({ min: 33_000, max: 300_000 }).map((n) => 'x'.repeat(n)),
  fc.constantFrom(new WeakMap(), Promise.resolve(1), new MessageChannel().port1), // structured clone refuses
);
/** Where the poison goes: a property (maybe nested, maybe in an array), or the event itself. */
const poisonCall = fc.oneof(
  fc.record({ key: fc.string({ minLength: 1, maxLength: 8 }), value: poisonValue, inArray: fc.boolean() }).map(({ key, value, inArray }) => ({
    event: 'poison.value',
    properties: { plan: 'pro', [key]: inArray ? [1, value] : value } as unknown,
  })),
  fc.constantFrom(
    { event: '', properties: { reason: 'empty event name' } as unknown }, // the server rejects it
    { event: 'e'.repeat(600), properties: {} as unknown }, // longer than the server's 512
    { event: 'poison.array', properties: [1, 2, 3] as unknown }, // properties must be an object
  ),
);

const live: Telemetry[] = [];
afterEach(async () => {
  for (const t of live.splice(0)) {
    t.consent(false);
    await t.shutdown();
  }
});

function make(opts: Partial<TelemetryOptions> & { host: string; dbName: string }, errors: TelemetryError[]) {
  const t = createTelemetry({
    writeKey,
    flushInterval: 50,
    flushAt: 25,
    autocapture: false,
    retry: { baseDelay: 50, maxDelay: 200 },
    onError: (e) => errors.push(e),
    // The tenant, without group(): that would write localStorage, which other test files share.
    beforeSend: (m) => ({ ...m, context: { ...m.context, groupId: TENANT } }),
    ...opts,
  });
  live.push(t);
  return t;
}

/** The normal events of this run the server stored, as their `n`, read from the tenant's timeline. */
async function stored(run: string): Promise<number[]> {
  const r = await fetch(`${url}/v1/tenants/${TENANT}/timeline?limit=200`, { headers: { authorization: `Bearer ${tokens.eve}` } });
  expect(r.status).toBe(200);
  const { items } = (await r.json()) as { items: { kind: string; title: string; detail: { run?: string; n?: number } }[] };
  return items.filter((i) => i.kind === 'event' && i.detail.run === run).map((i) => i.detail.n!);
}

test('random poison values interleaved with normal events: every normal event is stored exactly once, across a reload', async () => {
  const run = crypto.randomUUID();
  const dbName = `keel-poison-${run}`;
  const calls = fc.sample(poisonCall, { seed: SEED, numRuns: 60 });
  const errors: TelemetryError[] = [];
  const normal: number[] = [];
  const track = (t: Telemetry, n: number) => {
    // A timeline event (so it can be read back), with the run and its number.
    t.track('ticket.created', { run, n, subject: `ticket ${n}` });
    normal.push(n);
  };

  // First page: nothing can be sent, so everything accepted stays in IndexedDB for the reload.
  const before = make({ host: DEAD, dbName }, errors);
  calls.slice(0, 30).forEach((c, i) => {
    track(before, i);
    expect(() => before.track(c.event, c.properties as Record<string, unknown>)).not.toThrow();
  });
  track(before, 30);
  await before.shutdown();
  live.splice(live.indexOf(before), 1);

  // The reload: a second instance on the same database, against the real server.
  const after = make({ host: url, dbName }, errors);
  calls.slice(30).forEach((c, i) => {
    expect(() => after.track(c.event, c.properties as Record<string, unknown>)).not.toThrow();
    track(after, 100 + i);
  });
  await after.flush();
  try {
    await vi.waitFor(async () => expect((await stored(run)).sort((a, b) => a - b)).toEqual(normal), { timeout: 15_000, interval: 200 });
  } catch (e) {
    console.log(
      `poison seed ${SEED}; errors:`,
      errors.map((x) => `${x.kind}: ${x.message}`.slice(0, 200)),
    );
    throw e;
  }
  // Exactly once: no duplicates on the server (the sort above would show them) and nothing left
  // behind to be resent: the queue ends empty, the refused messages dropped, not retried forever.
  await vi.waitFor(
    async () => {
      await after.flush();
      const db = await openStore(dbName, 'q', 'k');
      const left = await request(db.transaction('q').objectStore('q').count());
      db.close();
      expect(left).toBe(0);
    },
    { timeout: 10_000, interval: 200 },
  );
  expect(await stored(run)).toHaveLength(normal.length);
  // Each refusal was reported: at track() (invalid, oversized), by the store, or by the server.
  const kinds = new Set(errors.map((e) => e.kind));
  expect(kinds.has('invalid')).toBe(true);
  expect(kinds.has('rejected')).toBe(true);
  expect(errors.some((e) => e.kind === 'invalid' && /browser refused to store/.test(e.message))).toBe(true);
  expect(before.refused + after.refused).toBeGreaterThanOrEqual(errors.filter((e) => e.kind !== 'storage').length);
});

test('a value only IndexedDB refuses is isolated: the rest of its write slice is stored', async () => {
  const errors: TelemetryError[] = [];
  const dbName = `keel-poison-${crypto.randomUUID()}`;
  const t = make({ host: DEAD, dbName, flushInterval: 60_000, flushAt: 1000 }, errors);
  for (let i = 0; i < 10; i++) t.track('ok', { i });
  t.track('bad', { clone: new WeakMap() }); // JSON would write {}, structured clone throws
  for (let i = 10; i < 20; i++) t.track('ok', { i });
  await t.shutdown();
  const db = await openStore(dbName, 'q', 'k');
  const rows = (await request(db.transaction('q').objectStore('q').getAll())) as { m: { event: string; properties: { i: number } } }[];
  db.close();
  expect(rows.map((r) => r.m.properties.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  expect(errors.filter((e) => e.kind === 'invalid').map((e) => e.messages?.map((m) => m.event))).toEqual([['bad']]);
  expect(t.refused).toBe(1);
});

test('what JSON or structured clone cannot take is refused at track(), named, and never queued', () => {
  const errors: TelemetryError[] = [];
  const t = make({ host: DEAD, dbName: `keel-poison-${crypto.randomUUID()}`, flushInterval: 60_000 }, errors);
  const seen: string[] = [];
  t.subscribe((m) => seen.push(m.event!));
  t.track('deep', { a: nest(4200, 1) });
  t.track('cyclic', cyclic(3));
  t.track('bigint', { n: 10n });
  t.track('fn', { cb: () => 1 });
  t.track('sym', { s: Symbol('x') });
  t.track('fine', { s: 'lone \ud800 surrogate', deep: nest(20, 1) });
  expect(seen).toEqual(['fine']);
  expect(errors.map((e) => e.kind)).toEqual(['invalid', 'invalid', 'invalid', 'invalid', 'invalid']);
  expect(errors[0]!.message).toMatch(/properties\.a\.d\.d.* nests deeper than 32 levels/);
  expect(errors[2]!.message).toMatch(/properties\.n is a BigInt/);
  expect(errors[3]!.message).toMatch(/properties\.cb is a function/);
  expect(t.refused).toBe(5);
});

test('a batch the server refuses as a whole, without naming a message, is halved until the bad one is alone', async () => {
  const fault = inject('faultServer');
  const id = `poison${Date.now().toString(36)}`;
  // Four 400s with no `rejected` list: 8 → 4 → 2 → 1 messages, then the one alone is dropped.
  const script = [{ status: 400 }, { status: 400 }, { status: 400 }, { status: 400 }];
  await fetch(`${fault}/_control/${id}`, { method: 'POST', body: JSON.stringify({ script }) });
  const errors: TelemetryError[] = [];
  const t = make({ host: `${fault}/s/${id}`, dbName: `keel-poison-${crypto.randomUUID()}`, flushAt: 100, flushInterval: 60_000 }, errors);
  const ids: string[] = [];
  t.subscribe((m) => ids.push(m.messageId));
  for (let i = 0; i < 8; i++) t.track('feature.used', { i });
  await t.flush();
  const received = (await (await fetch(`${fault}/_control/${id}`)).json()).received as { status: number; ids: string[] }[];
  expect(received.map((r) => [r.status, r.ids.length])).toEqual([
    [400, 8],
    [400, 4],
    [400, 2],
    [400, 1],
    [200, 7],
  ]);
  expect(received.at(-1)!.ids).toEqual(ids.slice(1));
  expect(errors.filter((e) => e.kind === 'rejected').map((e) => e.messages?.map((m) => m.messageId))).toEqual([[ids[0]]]);
  expect(t.refused).toBe(1);
});
