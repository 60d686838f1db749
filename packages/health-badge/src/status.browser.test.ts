import { fixture, html } from '@open-wc/testing-helpers';
import axe from 'axe-core';
import { expect, inject, test } from 'vitest';
import { adminCall } from '../../../config/browser-admin.js';
import './define.js';
import type { KeelStatus } from './status.js';
import { SHARED_CONFIG } from './test-fixtures.js';

const { url, adminKey, tokens, writeKey } = inject('ingestHealth');
const admin = (path: string, body: unknown) => adminCall(url, adminKey, path, body);
async function axeClean(el: Element) {
  const r = await axe.run(el, { resultTypes: ['violations'] });
  expect(r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(' | ')}`)).toEqual([]);
}
const shown = (el: KeelStatus) => el.shadowRoot!.textContent!.replace(/\s+/g, ' ').trim();
const live = (el: KeelStatus) => el.shadowRoot!.querySelector('[aria-live="polite"]')!.textContent!.trim();

test('all well → a small indicator; an incident → details, announced politely; unchanged polls are 304s; resolved → back to the indicator', async () => {
  await admin('/v1/admin/config', { config: SHARED_CONFIG });
  const el = await fixture<KeelStatus>(html`<keel-status host=${url} .token=${tokens.ada} interval="150"></keel-status>`);
  await expect.poll(() => shown(el)).toContain('All systems operational');
  expect(el.shadowRoot!.querySelector('[part~="indicator"]')).not.toBeNull();
  // Configured by script after it was placed: it polls then.
  const late = await fixture<KeelStatus>(html`<keel-status interval="150"></keel-status>`);
  Object.assign(late, { host: url, token: tokens.ada });
  await expect.poll(() => shown(late)).toContain('All systems operational');
  late.remove();
  await axeClean(el);

  const changes: string[] = [];
  el.addEventListener('keel-status-change', (e) => changes.push((e as CustomEvent<{ overall: string }>).detail.overall));
  const inc = await (
    await admin('/v1/admin/incidents', { id: 'imports-slow', title: 'Imports are delayed', components: ['imports'], message: 'Catching up.' })
  ).json();
  expect(inc).toMatchObject({ id: 'imports-slow', state: 'investigating', impact: 'degraded' });
  await expect.poll(() => live(el)).toBe('Degraded: Data imports: degraded; incident "Imports are delayed" (investigating).');
  expect(shown(el)).toMatch(/Imports are delayed \(investigating\)\s*Catching up\./);
  expect(changes).toEqual(['degraded']);
  await axeClean(el);

  const before = el.polls.notModified;
  await expect.poll(() => el.polls.notModified).toBeGreaterThan(before); // nothing changed: 304

  await admin('/v1/admin/incidents', { id: 'imports-slow', title: 'Imports are delayed', state: 'resolved' });
  await expect.poll(() => live(el)).toBe('All systems operational.');
  expect(el.shadowRoot!.querySelector('[part~="indicator"]')).not.toBeNull();
  el.remove();
});

test("a tenant sees its own integrations' health, never another tenant's; incidents can target tenants", async () => {
  await admin('/v1/admin/config', { config: SHARED_CONFIG });
  // Sent as eve's page sends it: with her user token, so the server counts it (verified).
  await fetch(`${url}/v1/batch`, {
    method: 'POST',
    body: JSON.stringify({
      writeKey,
      userToken: tokens.eve,
      batch: [
        {
          type: 'track',
          event: 'integration.state',
          messageId: crypto.randomUUID(),
          userId: 'eve',
          properties: { integration: 'salesforce', state: 'failed' },
          context: { groupId: 'globex' },
        },
      ],
    }),
  });
  await admin('/v1/admin/incidents', { id: 'globex-only', title: 'Globex sync paused', tenants: ['globex'], components: ['api'], impact: 'outage' });
  const eve = await fixture<KeelStatus>(html`<keel-status host=${url} .token=${tokens.eve} interval="150"></keel-status>`);
  await expect.poll(() => shown(eve)).toContain('Your salesforce integration: failed');
  expect(shown(eve)).toContain('Outage: API');
  await axeClean(eve);
  const ada = await fixture<KeelStatus>(html`<keel-status host=${url} .token=${tokens.ada} interval="150"></keel-status>`);
  await expect.poll(() => ada.status?.overall).toBe('operational');
  expect(JSON.stringify(ada.status)).not.toMatch(/salesforce|Globex/);
  await admin('/v1/admin/incidents', { id: 'globex-only', title: 'Globex sync paused', state: 'resolved' });
  eve.remove();
  ada.remove();
});
