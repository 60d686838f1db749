// Error repairs as browsers get them: each `errors:` entry a nudge with its defaults.
import { expect, test } from 'vitest';
import type { KeelConfig } from '../schema/document.js';
import { servedConfig } from './repairs.js';
import { validateConfig } from './validate.js';

const doc = (errors: unknown[]) =>
  validateConfig({ version: 1, product: 'acme', nudges: [{ id: 'hi', kind: 'modal', body: 'x', when: { event: 'x' } }], errors }).config!;

test('a repair is served as the nudge repair-<id>, after the authored nudges: a banner by default, a tooltip by its anchor', () => {
  const c = doc([
    { id: 'no-dataset', match: { code: 'E_NO_DATASET' }, body: 'Import a dataset first.', actions: [{ label: 'Retry', event: 'report.retry' }] },
    {
      id: 'sync',
      event: 'integration.state',
      match: { state: 'auth_failed' },
      anchor: '#sync',
      title: 'Reconnect',
      body: 'x',
      within: '1h',
      priority: 5,
      cap: { times: 1, per: '7d' },
    },
  ]);
  const served = servedConfig(c);
  expect(served.nudges!.map((n) => n.id)).toEqual(['hi', 'repair-no-dataset', 'repair-sync']);
  expect(served.nudges![1]).toEqual({
    id: 'repair-no-dataset',
    kind: 'banner',
    body: 'Import a dataset first.',
    actions: [{ label: 'Retry', event: 'report.retry' }],
    when: { event: 'error.raised', where: { code: 'E_NO_DATASET' }, within: '10m' },
    priority: 100,
    cap: { times: 3, per: '1d' },
  });
  expect(served.nudges![2]).toMatchObject({
    kind: 'tooltip',
    anchor: '#sync',
    title: 'Reconnect',
    when: { event: 'integration.state', within: '1h' },
    priority: 5,
  });
  // What the browser gets is itself a valid document (no errors: section left), and the stored one is left as authored.
  expect(validateConfig(served).problems).toEqual([]);
  expect('errors' in served).toBe(false);
  expect(c.nudges).toHaveLength(1);
});

test('a document without repairs is served as it is', () => {
  const c: KeelConfig = { version: 1, product: 'acme' };
  expect(servedConfig(c)).toBe(c);
});
