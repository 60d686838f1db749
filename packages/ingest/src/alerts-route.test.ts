// GET /v1/admin/tenants/:id/alerts over real HTTP: every alert rule's verdict for a tenant (firing
// or not, and why, including a rule that can't fire), and the alerts fired for it; a read that
// records and sends nothing; the admin key only.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ADMIN_KEY, type Live, liveServer, WRITE_KEY } from './test-support/live.js';

let live: Live;
beforeAll(async () => {
  live = await liveServer();
});
afterAll(async () => {
  await live.close();
});

const TENANT = 'route-co';
const basic = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const get = async (tenant: string, headers: Record<string, string> = admin) => {
  const r = await live.send({ method: 'GET', path: `/v1/admin/tenants/${encodeURIComponent(tenant)}/alerts`, headers });
  return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> & { rules: Verdict[]; fired: { alert: string }[] } };
};
type Verdict = { alert: string; firing: boolean; detail: Record<string, unknown>; builtin?: boolean };

test("each rule's verdict with why; GET records and sends nothing; what the evaluator fires is listed", async () => {
  const sent = await live.send({
    method: 'POST',
    path: '/v1/batch',
    headers: { authorization: basic, 'content-type': 'application/json' },
    body: JSON.stringify({
      batch: [
        {
          type: 'track',
          event: 'billing.invoice',
          messageId: 'route-inv-1',
          userId: 'billing-bot',
          timestamp: new Date().toISOString(),
          context: { groupId: TENANT },
          properties: { invoice: 'inv-1', status: 'overdue' },
        },
      ],
    }),
  });
  expect(sent.status).toBe(200);

  const first = await get(TENANT);
  expect(first.status).toBe(200);
  expect(first.body.tenant).toBe(TENANT);
  expect(Number.isNaN(Date.parse(String(first.body.at)))).toBe(false);
  const byId = new Map(first.body.rules.map((v) => [v.alert, v]));
  // The acme config's four rules and the built-in one, each with its verdict.
  expect([...byId.keys()].sort()).toEqual(['error-spike', 'onboarding-stalled', 'score-drop', 'sponsor-disengaged', 'unpaid-invoice']);
  expect(byId.get('unpaid-invoice')).toMatchObject({ firing: true });
  // A rule that can't fire says so instead of staying silent.
  expect(byId.get('score-drop')).toMatchObject({ firing: false, detail: { explanation: 'no snapshot 6–8 days old to compare with' } });
  expect(byId.get('error-spike')!.firing).toBe(false);
  expect(String(byId.get('error-spike')!.detail.explanation)).toMatch(/no errors_per_session_1d value|cohort too small \(n=\d+/);
  expect(byId.get('sponsor-disengaged')).toMatchObject({ builtin: true });
  // A read: nothing fired, nothing recorded.
  expect(first.body.fired).toEqual([]);
  expect(await live.store.alerts.list(TENANT)).toEqual([]);

  // The evaluator fires it; the route lists it.
  const fired = await live.store.alerts.evaluate(TENANT);
  expect(fired.map((f) => f.alert)).toEqual(['unpaid-invoice']);
  const after = await get(TENANT);
  expect(after.body.fired).toEqual([expect.objectContaining({ alert: 'unpaid-invoice', tenantId: TENANT, notify: ['finance', 'csm'] })]);
});

test('a tenant nobody has seen: every rule answers, none fires', async () => {
  const r = await get('never-seen-co');
  expect(r.status).toBe(200);
  expect(r.body.rules.length).toBeGreaterThan(0);
  expect(r.body.rules.filter((v) => v.firing)).toEqual([]);
  expect(r.body.fired).toEqual([]);
});

test('the admin key only: a tenant admin token is refused, so is the admin key from a page', async () => {
  const tenantAdmin = await get(TENANT, { authorization: `Bearer ${live.token(TENANT, 'admin')}` });
  expect(tenantAdmin.status).toBe(401);
  const fromPage = await get(TENANT, { ...admin, origin: 'https://app.example.com' });
  expect(fromPage.status).toBe(403);
  expect(String(fromPage.body.message)).toContain('the admin key is for servers');
});
