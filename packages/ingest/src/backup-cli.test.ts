import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { backupCommand } from './backup-cli.js';
import { openSqliteStore } from './store/sqlite.js';
import type { StoredEvent } from './store/types.js';

const dir = mkdtempSync(join(tmpdir(), 'keel-backup-'));

let n = 0;
const ev = (): StoredEvent => {
  const at = new Date().toISOString();
  return {
    writeKey: 'wk',
    messageId: `m${++n}`,
    type: 'track',
    event: 'report.created',
    userId: `u${n % 50}`,
    anonymousId: null,
    groupId: 'acme',
    timestamp: at,
    originalTimestamp: null,
    sentAt: null,
    receivedAt: at,
    payload: JSON.stringify({ properties: { n, pad: 'x'.repeat(400) } }),
  };
};

async function run(args: string[]) {
  const lines: string[] = [];
  try {
    const code = await backupCommand(args, (l) => lines.push(l));
    return { code, out: lines.join('\n') };
  } catch (e) {
    return { code: 1, out: lines.join('\n'), error: (e as Error).message };
  }
}

test('a backup taken while inserts run is intact and holds every event committed before it started', async () => {
  const data = join(dir, 'live');
  const store = await openSqliteStore(data);
  try {
    for (let i = 0; i < 40; i++) await store.insert(Array.from({ length: 50 }, ev)); // ~2,000 rows: many pages
    // A bounded insert loop keeps writing while the backup copies (same process, its own connection).
    let writing = true;
    const loop = (async () => {
      for (let i = 0; i < 300 && writing; i++) await store.insert(Array.from({ length: 10 }, ev));
    })();
    const before = n; // every event up to m<before> has been committed
    const out = join(dir, 'copy.db');
    const r = await run([data, out]);
    writing = false;
    await loop;
    expect(n).toBeGreaterThan(before); // the loop did write around the backup
    expect(r).toMatchObject({ code: 0 });
    expect(r.out).toMatch(/^\d+ \/ \d+ pages$/m);
    expect(r.out).toContain(`backed up ${join(data, 'keel.db')} to ${out}`);
    const copy = new Database(out, { readonly: true });
    try {
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      const ids = new Set(copy.prepare('SELECT message_id FROM events').pluck().all() as string[]);
      const missing = Array.from({ length: before }, (_, i) => `m${i + 1}`).filter((id) => !ids.has(id));
      expect(missing).toEqual([]);
    } finally {
      copy.close();
    }
  } finally {
    await store.close();
  }
});

test('an existing OUT_FILE is kept unless --force; --force overwrites it with the database', async () => {
  const data = join(dir, 'force');
  const store = await openSqliteStore(data);
  await store.insert([ev()]);
  await store.close();
  const out = join(dir, 'exists.db');
  writeFileSync(out, 'precious');
  const r = await run([data, out]);
  expect(r.error).toBe(`backup: ${out} exists; pass --force to overwrite it`);
  const forced = await run([data, out, '--force']);
  expect(forced.code).toBe(0);
  const copy = new Database(out, { readonly: true });
  expect(copy.prepare('SELECT count(*) FROM events').pluck().get()).toBe(1);
  copy.close();
});

test('a missing database, a missing or unwritable target directory and bad arguments fail with a message naming the problem', async () => {
  expect((await run([join(dir, 'nowhere'), join(dir, 'x.db')])).error).toBe(
    `backup: no database at ${join(dir, 'nowhere', 'keel.db')} (is ${join(dir, 'nowhere')} a Keel data directory?)`,
  );
  const data = join(dir, 'errors');
  const store = await openSqliteStore(data);
  await store.close();
  expect((await run([data, join(dir, 'no-such-dir', 'x.db')])).error).toBe(
    `backup: cannot write ${join(dir, 'no-such-dir', 'x.db')}: ${join(dir, 'no-such-dir')} is not a directory`,
  );
  const taken = join(dir, 'a-directory');
  mkdirSync(taken);
  expect((await run([data, taken, '--force'])).error).toMatch(new RegExp(`^backup: cannot write ${taken}: `));
  expect((await run([data, join(data, 'keel.db'), '--force'])).error).toBe('backup: OUT_FILE is the database itself');
  await expect(backupCommand([data])).rejects.toThrow('backup needs DATA_DIR and OUT_FILE');
  await expect(backupCommand([data, 'a', '--frobnicate'])).rejects.toThrow(/backup: Unknown option '--frobnicate'/);
  expect(existsSync(join(dir, 'x.db'))).toBe(false);
});
