import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, expect, test } from 'vitest';
import { startServer } from './server.js';
import { openSqliteStore } from './store/sqlite.js';
import type { EventStore } from './store/types.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const auth = { authorization: `Basic ${Buffer.from('k:').toString('base64')}` };
const msg = (id: string) => ({ type: 'track', event: 'e', messageId: id, anonymousId: 'a' });
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

test('graceful shutdown finishes the in-flight request, stores its rows, then closes the store', async () => {
  const real = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-grace-')));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inInsert = new Promise<void>((r) => (entered = r));
  // A store whose first insert waits, so a request is provably in flight when close() starts.
  const slow: EventStore = {
    ...real,
    kind: real.kind,
    insert: async (rows) => {
      entered();
      await gate;
      return real.insert(rows);
    },
  };
  const server = await startServer({ store: slow, writeKeys: ['k'], port: 0, logger: false });
  const inflight = fetch(`${server.url}/v1/batch`, { method: 'POST', headers: auth, body: JSON.stringify({ batch: [msg('in-flight')] }) });
  await inInsert;
  const closed = server.close();
  release();
  const res = await inflight;
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ accepted: 1 });
  await closed;
  const db = new Database(join(real.path), { readonly: true });
  expect(db.prepare('SELECT message_id FROM events').all()).toEqual([{ message_id: 'in-flight' }]);
  db.close();
  await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
});

test('kill -9 under load: every batch acknowledged with a 200 is in the database afterwards', async () => {
  expect(existsSync(cli), `${cli} is built by \`pnpm run build\` (npm test runs it)`).toBe(true);
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-kill-'));
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--data-dir', dataDir, '--write-key', 'k', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (c) => reject(new Error(`exited ${c}: ${out}`)));
  });
  const acked: string[] = [];
  let seq = 0;
  let stop = false;
  const client = async () => {
    while (!stop) {
      const ids = Array.from({ length: 50 }, () => `m-${++seq}`);
      try {
        const res = await fetch(`${url}/v1/batch`, { method: 'POST', headers: auth, body: JSON.stringify({ batch: ids.map(msg) }) });
        if (res.status === 200) acked.push(...ids);
      } catch {
        return; // the server is gone
      }
    }
  };
  const clients = [client(), client(), client(), client()];
  while (acked.length < 2000) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  stop = true;
  await Promise.all(clients);
  const db = new Database(join(dataDir, 'keel.db'), { readonly: true });
  const stored = new Set((db.prepare('SELECT message_id FROM events').all() as { message_id: string }[]).map((r) => r.message_id));
  db.close();
  expect(acked.length).toBeGreaterThanOrEqual(2000);
  expect(acked.filter((id) => !stored.has(id))).toEqual([]);
});
