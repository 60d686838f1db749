// Evidence, not claims: the server decides checklist items from stored events; a browser's PUT
// marks only what the server can't see (stored as attested, by whom and when); the lifecycle moves
// on server-decided progress (attestations only where a proof accepts them); the lifecycle's
// allowed actions are enforced on progress; the answer carries the user's history.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProgressAnswer } from '@keel/sdk-core/engine';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { buildApp } from './app.js';
import { openSqliteStore, type SqliteStore } from './store/sqlite.js';
import type { StoredEvent } from './store/types.js';
import { signUserToken } from './token.js';

const SECRET = 'test-secret';
const ADMIN = 'admin-secret';
const DAY = 86_400_000;
let store: SqliteStore;
let app: FastifyInstance;
const open = async () => {
  store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-evidence-')));
  app = buildApp({
    store,
    writeKeys: ['wk'],
    adminKeys: [ADMIN],
    secretKeys: [SECRET],
    logger: false,
    config: store.config,
    progress: store.progress,
    facts: store.facts,
    lifecycle: store.lifecycle,
  });
};
const close = async () => {
  await app.close();
  await store.close();
};

const publish = async (config: unknown) => {
  const r = await app.inject({ method: 'POST', url: '/v1/admin/config', headers: { authorization: `Bearer ${ADMIN}` }, payload: JSON.stringify({ config }) });
  expect(r.statusCode, r.body).toBeLessThan(300);
};
const auth = (sub: string, tenant = 'acme', role = 'member') => ({ authorization: `Bearer ${signUserToken({ sub, tenant, role }, SECRET)}` });
const put = (headers: Record<string, string>, entries: unknown[], qs = '') =>
  app.inject({ method: 'PUT', url: `/v1/progress${qs}`, headers, payload: JSON.stringify({ entries }) });
const get = async (headers: Record<string, string>, qs = '') =>
  (await app.inject({ method: 'GET', url: `/v1/progress${qs}`, headers })).json() as ProgressAnswer;
const claim = (ref: string, scope: 'user' | 'tenant' = 'user', kind = 'checklist', state = 'completed') => ({
  scope,
  kind,
  ref,
  state,
  updatedAt: new Date().toISOString(),
});

let n = 0;
const ev = (userId: string | null, event: string, properties: Record<string, unknown>, ts: number, groupId = 'acme', type = 'track'): StoredEvent => ({
  writeKey: 'wk',
  messageId: `m${++n}`,
  type,
  event: type === 'track' ? event : null,
  userId,
  anonymousId: null,
  groupId,
  timestamp: new Date(ts).toISOString(),
  originalTimestamp: null,
  sentAt: null,
  receivedAt: new Date(ts).toISOString(),
  payload: JSON.stringify(type === 'identify' ? { traits: properties } : { properties }),
  sender: { kind: 'server' }, // verified: proofs count verified events only
});

const CONFIG = {
  version: 1,
  product: 'acme',
  checklists: [
    {
      id: 'onboarding',
      title: 'Get started',
      items: [
        { id: 'sso', title: 'SSO', complete: { event: 'integration.state', where: { integration: 'sso', state: 'connected' } } },
        { id: 'team', title: 'Team', scope: 'tenant', complete: { fact: 'active_users_7d', gte: 2 } },
        { id: 'tour', title: 'Take the tour', complete: { recipe: 'tour' } },
        { id: 'contract', title: 'Sign the contract', scope: 'tenant', attest: { roles: ['admin'] }, complete: { page: '/contract/signed' } },
        { id: 'quiet', title: 'Quiet week', complete: { not: { event: 'error.raised', within: '7d' } } },
      ],
    },
  ],
  nudges: [{ id: 'n', kind: 'banner', body: 'x', when: { event: 'feature.used', where: { feature: 'reports' }, within: '30d' } }],
  lifecycle: {
    initial: 'onboarding',
    states: {
      onboarding: { allows: ['checklist:onboarding', 'recipe:*', 'nudge:*'] },
      activated: { proof: { checklist: 'onboarding', items: ['sso', 'team'] }, allows: ['nudge:*', 'checklist:onboarding'] },
      signed: { proof: { checklist: 'onboarding', items: ['contract'], accept: 'attested' } },
    },
    transitions: [
      { from: 'onboarding', to: 'activated' },
      { from: 'activated', to: 'signed' },
    ],
  },
};

describe('progress from evidence', () => {
  beforeEach(open);
  afterEach(close);

  test("a member's claims for server-decided items (user and tenant scope) are ignored with the reason; the lifecycle does not move", async () => {
    await publish(CONFIG);
    const res = await put(auth('mallory'), [claim('onboarding/sso'), claim('onboarding/team', 'tenant'), claim('onboarding/nope')]);
    expect(res.statusCode).toBe(200);
    const body = res.json() as ProgressAnswer;
    expect(body.ignored).toEqual([
      expect.objectContaining({ ref: 'onboarding/sso', reason: expect.stringMatching(/^server-decided: .*not completed yet.*not evidence/) }),
      expect.objectContaining({ ref: 'onboarding/team', reason: expect.stringMatching(/^tenant-scope: /) }),
      expect.objectContaining({ ref: 'onboarding/nope', reason: expect.stringMatching(/^unknown-item: /) }),
    ]);
    expect([body.user, body.tenant]).toEqual([[], []]);
    expect(body.lifecycle).toEqual({ state: 'onboarding', allows: CONFIG.lifecycle.states.onboarding.allows });
    expect((await store.lifecycle.evaluate('acme'))!.state).toBe('onboarding');
  });

  test('unverified events (no server key, no user token proving their user) decide no item; `evidence: any` counts them', async () => {
    const planted = (user: string): StoredEvent => ({
      ...ev(user, 'integration.state', { integration: 'sso', state: 'connected' }, Date.now() - 60_000),
      sender: { kind: 'anonymous' },
    });
    await publish(CONFIG);
    await store.insert([planted('ada')]);
    expect((await get(auth('ada'))).user.map((e) => e.ref)).not.toContain('onboarding/sso');
    const any = structuredClone(CONFIG) as typeof CONFIG;
    (any.checklists[0]!.items[0]!.complete as Record<string, unknown>).evidence = 'any';
    await publish(any);
    expect((await get(auth('ada'))).user.map((e) => [e.ref, e.source])).toContainEqual(['onboarding/sso', 'server']);
  });

  test('the server decides from stored events and says so; the lifecycle moves on that; GET writes nothing', async () => {
    await publish(CONFIG);
    const now = Date.now();
    const before = (await store.lifecycle.evaluate('acme'))!.transitions.length;
    await store.insert([
      ev('ada', 'integration.state', { integration: 'sso', state: 'connected' }, now - 60_000),
      ev('bob', 'feature.used', { feature: 'reports' }, now - 2 * DAY),
      ev('ada', 'feature.used', { feature: 'reports' }, now - 3 * DAY),
      ev('ada', 'feature.used', { feature: 'reports' }, now - 40 * DAY),
    ]);
    const ada = await get(auth('ada'));
    // sso from her event; quiet: no error in 7 days, and her history (40 days) is longer than the window.
    expect(ada.user.map((e) => [e.ref, e.state, e.source])).toEqual([
      ['onboarding/quiet', 'completed', 'server'],
      ['onboarding/sso', 'completed', 'server'],
    ]);
    expect(ada.tenant).toEqual([expect.objectContaining({ ref: 'onboarding/team', state: 'completed', source: 'server' })]); // ada and bob active
    // The peeked state is what the next evaluation will record; the GET itself recorded nothing.
    expect(ada.lifecycle?.state).toBe('activated');
    await get(auth('bob'));
    const Database = (await import('better-sqlite3')).default;
    const rowsOf = () => {
      const db = new Database(store.path, { readonly: true });
      try {
        return db.prepare('SELECT (SELECT COUNT(*) FROM lifecycle_transitions) + (SELECT COUNT(*) FROM progress) AS n').get();
      } finally {
        db.close();
      }
    };
    expect(rowsOf()).toEqual({ n: 0 }); // the GETs stored no progress and recorded no transition
    const after = (await store.lifecycle.evaluate('acme'))!;
    expect(after.transitions.length).toBe(before + 1); // recorded by this evaluation, not by the GETs
    expect(after.transitions[0]).toMatchObject({ from: 'onboarding', to: 'activated' });
    // Bob has not connected SSO, and was first seen 2 days ago (too short to prove a quiet week).
    expect((await get(auth('bob'))).user).toEqual([]);
  });

  test('"not … within" is false while the known history is shorter than the window, and the server says why', async () => {
    await publish(CONFIG);
    const now = Date.now();
    await store.insert([ev('newbie', 'feature.used', { feature: 'x' }, now - 3 * 60_000), ev('old', 'feature.used', { feature: 'x' }, now - 10 * DAY)]);
    const sp = await store.lifecycle.serverProgress('acme', 'newbie', now);
    const quiet = sp!.items.find((i) => i.item === 'quiet')!;
    expect(quiet.completed).toBe(false);
    expect(quiet.explanation).toMatchObject({ ok: false, reason: 'history', note: 'history shorter than the window: first seen 3 minutes ago' });
    // A user seen ten days ago without errors has had a quiet week.
    expect((await store.lifecycle.serverProgress('acme', 'old', now))!.items.find((i) => i.item === 'quiet')!.completed).toBe(true);
  });

  test("items the server can't see are stored as attested by that user, with the time; attest roles are enforced with a 403 naming the role", async () => {
    await publish(CONFIG);
    const tour = await put(auth('ada'), [claim('onboarding/tour'), claim('tour', 'user', 'recipe')]);
    expect(tour.statusCode).toBe(200);
    const a = tour.json() as ProgressAnswer;
    expect(a.ignored).toEqual([]);
    expect(a.user).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          ref: 'onboarding/tour',
          state: 'completed',
          source: 'attested',
          attestedBy: 'ada',
          attestedRole: 'member',
          attestedAt: expect.any(String),
        }),
        expect.objectContaining({ kind: 'recipe', ref: 'tour', source: 'attested', attestedBy: 'ada' }),
      ]),
    );
    // An item completed by walking its launch recipe through: attested too (a skipped step doesn't count).
    await publish({
      ...CONFIG,
      checklists: [
        {
          ...CONFIG.checklists[0]!,
          items: [...CONFIG.checklists[0]!.items, { id: 'report', title: 'Report', complete: { event: 'report.shipped' }, launch: { recipe: 'report' } }],
        },
      ],
    });
    const skipped = await put(auth('bob'), [{ ...claim('report', 'user', 'recipe'), data: { skipped: true } }, claim('onboarding/report')]);
    expect((skipped.json() as ProgressAnswer).ignored).toEqual([
      expect.objectContaining({ ref: 'onboarding/report', reason: expect.stringMatching(/^server-decided/) }),
    ]);
    const walked = await put(auth('ada'), [claim('report', 'user', 'recipe'), claim('onboarding/report')]);
    expect((walked.json() as ProgressAnswer).user.find((e) => e.ref === 'onboarding/report')).toMatchObject({ source: 'attested', attestedBy: 'ada' });
    // A forged attestation in `data` is replaced by the server's own.
    await put(auth('ada'), [{ ...claim('onboarding/tour'), data: { attested: { by: 'ceo', role: 'admin', at: '2020-01-01T00:00:00Z' } } }]);
    expect((await get(auth('ada'))).user.find((e) => e.ref === 'onboarding/tour')).toMatchObject({ attestedBy: 'ada' });

    const member = await put(auth('mallory'), [claim('onboarding/contract', 'tenant')]);
    expect(member.statusCode).toBe(403);
    expect(member.json()).toMatchObject({ error: 'attest_role', message: expect.stringContaining('role "admin" only; this token\'s role is "member"') });
    expect((await put(auth('root', 'acme', 'admin'), [claim('onboarding/contract', 'tenant')])).statusCode).toBe(200);
    expect((await get(auth('bob'))).tenant).toEqual([
      expect.objectContaining({ ref: 'onboarding/contract', source: 'attested', attestedBy: 'root', attestedRole: 'admin' }),
    ]);
  });

  test('a proof accepts attestation only where it says `accept: attested`, and its evidence names the attested items', async () => {
    await publish(CONFIG);
    const now = Date.now();
    await put(auth('root', 'acme', 'admin'), [claim('onboarding/contract', 'tenant')]);
    // Attested, but `activated` (which doesn't accept attestation) is not proven: still onboarding.
    expect((await store.lifecycle.evaluate('acme'))!.state).toBe('onboarding');
    await store.insert([ev('ada', 'integration.state', { integration: 'sso', state: 'connected' }, now - 1000), ev('bob', 'x', {}, now - 1000)]);
    const r = (await store.lifecycle.evaluate('acme'))!;
    expect(r.state).toBe('signed');
    expect(r.transitions[0]).toMatchObject({
      from: 'activated',
      to: 'signed',
      evidence: { ok: true, attested: ['contract'], clause: expect.stringContaining('attested items accepted') },
    });
    expect(r.transitions[1]).toMatchObject({ from: 'onboarding', to: 'activated' });
    expect(r.transitions[1]!.evidence.attested).toBeUndefined();
  });

  test("progress for a recipe or checklist the lifecycle state doesn't allow is refused, naming the state and the action", async () => {
    await publish(CONFIG);
    await store.insert([ev('ada', 'integration.state', { integration: 'sso', state: 'connected' }, Date.now() - 1000), ev('bob', 'x', {}, Date.now() - 1000)]);
    // activated allows nudges and the onboarding checklist, no recipe.
    const r = await put(auth('ada'), [claim('tour', 'user', 'recipe', 'started')]);
    expect(r.statusCode).toBe(403);
    expect(r.json()).toMatchObject({
      error: 'not_allowed_in_state',
      message: expect.stringContaining('"recipe:tour" is not allowed in lifecycle state "activated"'),
    });
    expect((await put(auth('ada'), [claim('n', 'user', 'nudge', 'dismissed')])).statusCode).toBe(200);
  });

  test('hours since checklist progress count from evidence (an event an item counts, an attestation), not from claims', async () => {
    await publish(CONFIG);
    const now = Date.now();
    await store.insert([
      ev('ada', 'x', {}, now - 100 * 3_600_000),
      ev('ada', 'integration.state', { integration: 'sso', state: 'connected' }, now - 80 * 3_600_000),
      ev('ada', 'x', {}, now - 3_600_000),
    ]);
    const hours = async () => (await store.lifecycle.context('acme', Date.now()))!.facts!.hours_since_checklist_progress;
    expect(await hours()).toBe(80);
    await put(auth('mallory'), [claim('onboarding/sso')]); // ignored: no progress
    expect(await hours()).toBe(80);
    await put(auth('ada'), [claim('onboarding/tour')]); // attested: progress now
    expect(await hours()).toBe(0);
  });

  test("the answer carries the user's per-day history over the longest window, and the ids of stored messages since pendingSince", async () => {
    await publish(CONFIG);
    const now = Date.now();
    const rows = [
      ev('ada', 'feature.used', { feature: 'reports' }, now - 60_000),
      ev('ada', 'feature.used', { feature: 'reports' }, now - 2 * DAY),
      ev('ada', 'feature.used', { feature: 'reports' }, now - 45 * DAY),
      ev('ada', 'feature.used', { feature: 'other' }, now - 60_000),
      ev('bob', 'feature.used', { feature: 'reports' }, now - 60_000),
      ev('ada', 'feature.used', { feature: 'reports' }, now - 60_000, 'globex'),
    ];
    await store.insert(rows);
    const h = (await get(auth('ada'), `?pendingSince=${new Date(now - DAY).toISOString()}`)).history;
    const today = Math.floor(now / DAY);
    expect(h.fromDay).toBe(today - 30); // 30d window + the partial first day
    const reports = h.clauses.find((c) => c.key === 'feature.used {"feature":"reports"}')!;
    expect(reports.days).toEqual({ [today - 2]: 1, [Math.floor((now - 60_000) / DAY)]: 1 });
    expect(reports.before).toBe(1);
    expect(h.firstSeen).toBe(new Date(now - 45 * DAY).toISOString());
    expect(h.messageIds.sort()).toEqual([rows[0]!.messageId, rows[3]!.messageId].sort());
    expect((await app.inject({ method: 'GET', url: '/v1/progress?pendingSince=yesterday', headers: auth('ada') })).json().error).toBe('invalid_pending_since');
  });
});

// ── Property: server-decided progress equals an independent reference evaluation ────────────

type Ev = { user: string; event: string; k: number; ts: number };
type R = { event: string; k?: number; within?: number; lte0?: boolean; gte?: number } | { not: R } | { all: R[] } | { any: R[] };
const WINDOWS = { 1: '1d', 3: '3d', 7: '7d' } as Record<number, string>;
const toRule = (r: R): unknown =>
  'not' in r
    ? { not: toRule(r.not) }
    : 'all' in r
      ? { all: r.all.map(toRule) }
      : 'any' in r
        ? { any: r.any.map(toRule) }
        : {
            event: r.event,
            ...(r.k ? { where: { k: r.k } } : {}),
            ...(r.within ? { within: WINDOWS[r.within] } : {}),
            ...(r.lte0 ? { count: { lte: 0 } } : r.gte ? { count: { gte: r.gte } } : {}),
          };
/** The semantics, written again from the docs: counts over [now − window, now]; absences need history as long as the window. */
function reference(r: R, evs: readonly Ev[], now: number, first: number | undefined): boolean {
  if ('not' in r) {
    const inner = r.not;
    if ('event' in inner && inner.within && !inner.lte0 && (first === undefined || now - first < inner.within * DAY)) return false;
    return !reference(inner, evs, now, first);
  }
  if ('all' in r) return r.all.every((c) => reference(c, evs, now, first));
  if ('any' in r) return r.any.some((c) => reference(c, evs, now, first));
  const c = evs.filter((e) => e.event === r.event && (!r.k || e.k === r.k) && e.ts <= now && (!r.within || e.ts >= now - r.within * DAY)).length;
  if (r.lte0) return !(r.within && (first === undefined || now - first < r.within * DAY)) && c === 0;
  return c >= (r.gte ?? 1);
}
const leaf = fc
  .record({
    event: fc.constantFrom('a', 'b'),
    k: fc.constantFrom(0, 1, 2),
    within: fc.constantFrom(0, 1, 3, 7),
    lte0: fc.boolean(),
    gte: fc.constantFrom(1, 2),
  })
  .map(({ k, within, ...x }) => ({ ...x, ...(k ? { k } : {}), ...(within ? { within } : {}) }) as R);
const rule: fc.Arbitrary<R> = fc.letrec<{ r: R }>((tie) => ({
  r: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    tie('r').map((x) => ({ not: x })),
    fc.array(tie('r'), { maxLength: 2 }).map((all) => ({ all })),
    fc.array(tie('r'), { maxLength: 2 }).map((any) => ({ any })),
  ),
})).r;

describe('property', () => {
  beforeAll(open);
  afterAll(close);
  let t = 0;
  test("for random event streams, server-decided progress equals a reference evaluation, and no member's PUT changes the lifecycle state", async () => {
    const now = Date.now();
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            user: fc.constantFrom('u1', 'u2'),
            event: fc.constantFrom('a', 'b'),
            k: fc.constantFrom(1, 2),
            ts: fc.integer({ min: now - 10 * DAY, max: now }),
          }),
          { maxLength: 25 },
        ),
        fc.array(fc.record({ rule, scope: fc.constantFrom('user', 'tenant'), attest: fc.boolean() }), { minLength: 1, maxLength: 4 }),
        fc.array(
          fc.record({
            kind: fc.constantFrom('checklist', 'checklist', 'recipe', 'nudge'),
            item: fc.integer({ min: 0, max: 5 }),
            scope: fc.constantFrom('user', 'tenant'),
            state: fc.constantFrom('started', 'completed', 'dismissed'),
            skipped: fc.boolean(),
          }),
          { maxLength: 6 },
        ),
        async (events, items, claims) => {
          const tenant = `t${++t}`;
          await publish({
            version: 1,
            product: 'acme',
            // Some items a member may attest, some launched by a recipe: attestations must still not move a proof that doesn't accept them.
            checklists: [
              {
                id: 'c',
                title: 'c',
                items: items.map((x, i) => ({
                  id: `i${i}`,
                  title: 'x',
                  scope: x.scope,
                  complete: toRule(x.rule),
                  ...(x.attest ? { attest: 'user' } : { launch: { recipe: `r${i}` } }),
                })),
              },
            ],
            lifecycle: {
              initial: 'start',
              states: { start: {}, done: { proof: { checklist: 'c' } }, half: { proof: { checklist: 'c', items: ['i0'] } } },
              transitions: [
                { from: 'start', to: 'done' },
                { from: 'start', to: 'half' },
                { from: 'half', to: 'done' },
              ],
            },
          });
          await store.insert(events.map((e) => ev(e.user, e.event, { k: e.k }, e.ts, tenant)));
          const firstOf = (xs: readonly Ev[]) => (xs.length ? Math.min(...xs.map((e) => e.ts)) : undefined);
          const sp = (await store.lifecycle.serverProgress(tenant, 'u1', now))!;
          items.forEach((x, i) => {
            const evs = x.scope === 'tenant' ? events : events.filter((e) => e.user === 'u1');
            expect(sp.items[i]!.completed, JSON.stringify(x)).toBe(reference(x.rule, evs, now, firstOf(evs)));
          });
          const before = (await store.lifecycle.evaluate(tenant))!.state;
          const res = await put(
            auth('u1', tenant),
            claims.map((c) => ({
              scope: c.scope,
              kind: c.kind,
              ref: c.kind === 'checklist' ? `c/i${c.item}` : c.kind === 'recipe' ? `r${c.item}` : `n${c.item}`,
              state: c.state,
              updatedAt: new Date(now).toISOString(),
              ...(c.skipped ? { data: { skipped: true } } : {}),
            })),
          );
          expect(res.statusCode).toBe(200);
          expect((await store.lifecycle.evaluate(tenant))!.state).toBe(before);
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);
});
