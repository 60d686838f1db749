// The admin key from a real page (Chromium, against the real ingest API of the browser project's
// global setup, which allows any origin): CORS refuses the admin API's preflight, and where CORS
// lets Authorization through (routes user tokens use from pages) the server refuses the admin key.
import { expect, inject, test } from 'vitest';

const { url, adminKey, tokens } = inject('ingest');
const asAdmin = { authorization: `Bearer ${adminKey}` };

test('a page can not read the audit log or open an incident with the admin key', async () => {
  await expect(fetch(`${url}/v1/admin/audit`, { headers: asAdmin })).rejects.toThrow(TypeError);
  await expect(
    fetch(`${url}/v1/admin/incidents`, { method: 'POST', headers: asAdmin, body: JSON.stringify({ id: 'from-a-page', title: 'Hacked' }) }),
  ).rejects.toThrow(TypeError);
  // The browser could not even send them: nothing was opened.
  const status = await fetch(`${url}/v1/status`, { headers: { authorization: `Bearer ${tokens.ada}` } });
  expect(status.status).toBe(200);
  expect(((await status.json()) as { incidents: { id: string }[] }).incidents.map((i) => i.id)).not.toContain('from-a-page');
});

test('where CORS grants Authorization (for user tokens), the server refuses the admin key a page sends: 403, saying why', async () => {
  for (const path of ['/v1/tenants/acme/timeline', '/v1/config']) {
    const res = await fetch(`${url}${path}`, { headers: asAdmin });
    expect(res.status, path).toBe(403);
    expect(await res.json()).toMatchObject({ ok: false, error: 'admin_key_from_browser', message: 'the admin key is for servers; never put it in a page' });
  }
  // The same route with a user token of the tenant's admin works from the page.
  const mine = await fetch(`${url}/v1/tenants/acme/timeline`, { headers: { authorization: `Bearer ${tokens.ada}` } });
  expect(mine.status).toBe(200);
});
