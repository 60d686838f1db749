// The built store in a process of its own, as an embedder's script would use it: closing it
// (which stops the checkpoint worker thread) lets the script carry on and end normally. Inside
// vitest the event loop is always busy, so only a separate process shows an await left hanging
// (Node then exits with code 13, "unfinished top-level await").
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';

const dist = new URL('../../packages/ingest/dist/index.js', import.meta.url).href;

test('a script that opens the store, writes, and closes it runs to its end and exits 0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-close-'));
  const script = `
    const { openSqliteStore } = await import(${JSON.stringify(dist)});
    const store = await openSqliteStore(${JSON.stringify(dir)});
    const row = (id) => ({ writeKey: 'k', messageId: id, type: 'track', event: 'e', userId: null, anonymousId: 'a', groupId: null,
      timestamp: '2026-01-01T00:00:00.000Z', originalTimestamp: null, sentAt: null, receivedAt: '2026-01-01T00:00:00.000Z', payload: '{}' });
    await store.insert([row('a'), row('b')]);
    await store.close();
    console.log('closed: ' + JSON.stringify(await (async () => { const s = await openSqliteStore(${JSON.stringify(dir)}); const n = await s.count({ writeKey: 'k' }); await s.close(); return n; })()));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(out.trim()).toBe('closed: 2');
});
