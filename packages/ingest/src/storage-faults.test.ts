// Storage faults on real file systems: a full disk (a 2 MB tmpfs), a read-only data directory (a
// read-only bind mount and a read-only tmpfs), an ext4 file system that turns read-only while the
// server runs, and one the server's user may not write. Mounting
// needs root: without it these tests are skipped, and the reason is printed.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.js';
import { faultCause, faultState, guardFaults, StorageFaultError } from './store/faults.js';
import { openSqliteStore } from './store/sqlite.js';
import type { ProgressStore } from './store/state-types.js';
import { signUserToken } from './token.js';

const base = mkdtempSync(join(tmpdir(), 'keel-faults-'));
const mounts: string[] = [];

/** Mounts (`mount ...args dir`); the reason it can't, or undefined. */
function mount(args: string[], dir: string): string | undefined {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', [...args, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    mounts.unshift(dir);
    return undefined;
  } catch (e) {
    return `mount ${args.join(' ')} failed: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}`;
  }
}

const isRoot = process.getuid?.() === 0;
const probeDir = join(base, 'probe');
const cannotMount = !isRoot ? `not root (uid ${process.getuid?.()}): mounting a tmpfs needs root` : mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs'], probeDir);
if (cannotMount) console.warn(`storage-faults.test.ts: skipping the mount tests: ${cannotMount}`);
const cannotSeteuid = !isRoot
  ? 'not root: switching to another user needs root'
  : typeof process.seteuid !== 'function'
    ? 'process.seteuid is unavailable (a worker thread?)'
    : undefined;
if (cannotSeteuid) console.warn(`storage-faults.test.ts: skipping the permission test: ${cannotSeteuid}`);

afterAll(() => {
  for (const dir of mounts) {
    for (let i = 0; i < 20; i++) {
      try {
        execFileSync('umount', [dir], { stdio: 'ignore' });
        break;
      } catch {
        execFileSync('sleep', ['0.1']);
      }
    }
  }
  rmSync(base, { recursive: true, force: true });
});

const KEY = 'wk_faults';
const SECRET = 'faults-secret';
const basic = `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`;
let n = 0;
const batch = (size: number) => ({
  batch: Array.from({ length: size }, () => ({
    type: 'track',
    event: 'report.exported',
    messageId: `f-${++n}`,
    anonymousId: 'a1',
    timestamp: new Date().toISOString(),
    context: { groupId: 'acme' },
    properties: { rows: n, note: 'x'.repeat(900) },
  })),
});
/** Posts a batch of `size` events to `app`; the ids of every batch answered 200 go into `acked`. */
const poster =
  (app: ReturnType<typeof buildApp>, acked: Set<string>) =>
  async (size = 20) => {
    const body = batch(size);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: basic, 'content-type': 'text/plain' },
      payload: JSON.stringify(body),
    });
    if (res.statusCode === 200) for (const m of body.batch) acked.add(m.messageId);
    return res;
  };
const integrity = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true });
  } finally {
    db.close();
  }
};
const storedIds = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return new Set((db.prepare('SELECT message_id AS id FROM events').all() as { id: string }[]).map((r) => r.id));
  } finally {
    db.close();
  }
};

describe('a full disk', () => {
  it.skipIf(cannotMount)(
    'writes answer 503 + Retry-After (never 500), /healthz is degraded with the cause, the log names the path; after space is freed all recovers and nothing acknowledged is lost',
    async () => {
      const disk = join(base, 'full');
      const reason = mount(['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs'], disk);
      expect(reason).toBeUndefined();
      const filler = join(disk, 'filler');
      writeFileSync(filler, Buffer.alloc(900 * 1024, 1));
      const lines: { level: number; msg: string; path?: string; cause?: string }[] = [];
      const store = await openSqliteStore(join(disk, 'data'));
      const app = buildApp({
        store,
        writeKeys: [KEY],
        secretKeys: [SECRET],
        progress: store.progress,
        rateLimit: false,
        logger: { level: 'warn', stream: { write: (l: string) => void lines.push(JSON.parse(l)) } },
      });
      const acked = new Set<string>();
      const post = poster(app, acked);
      try {
        expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ ok: true, store: 'sqlite' });
        let res = await post();
        for (let i = 0; i < 500 && res.statusCode === 200; i++) res = await post();
        expect(acked.size).toBeGreaterThan(0);
        expect(res.statusCode).toBe(503);
        expect(res.headers['retry-after']).toBe('5');
        expect(res.json()).toMatchObject({ ok: false, error: 'storage_unavailable' });
        expect(res.json().message).toContain('disk full');
        // Still full: every write is a 503 with Retry-After, concurrent ones too.
        const more = await Promise.all([post(), post(), post()]);
        expect(more.map((r) => [r.statusCode, r.headers['retry-after']])).toEqual([
          [503, '5'],
          [503, '5'],
          [503, '5'],
        ]);

        const health = await app.inject({ method: 'GET', url: '/healthz' });
        expect(health.statusCode).toBe(503);
        expect(health.headers['retry-after']).toBe('5');
        expect(health.json()).toMatchObject({ ok: false, status: 'degraded', store: 'sqlite', cause: 'disk full' });
        // Not ready either: a load balancer sends the traffic elsewhere, and asks again after Retry-After.
        const ready = await app.inject({ method: 'GET', url: '/readyz' });
        expect([ready.statusCode, ready.headers['retry-after']]).toEqual([503, '5']);
        expect(ready.json()).toMatchObject({ ready: false, reason: 'storage fault: disk full' });
        expect(await app.metrics.registry.getSingleMetricAsString('keel_ingest_refused_total')).toMatch(/reason="storage_fault"\} [1-9]/);
        const logged = lines.filter((l) => l.level >= 50 && l.cause === 'disk full');
        expect(logged).toHaveLength(1); // once for the episode, not once a request
        expect(logged[0]!.msg).toContain(store.path);
        expect(logged[0]!.msg).toContain('disk full');
        expect(app.accessStats.storageFaults).toBeGreaterThanOrEqual(4);

        // Space comes back: health recovers, writes succeed again.
        unlinkSync(filler);
        const healed = await app.inject({ method: 'GET', url: '/healthz' });
        expect(healed.statusCode).toBe(200);
        expect(healed.json()).toEqual({ ok: true, store: 'sqlite' });
        expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ ready: true });
        expect((await post(5)).statusCode).toBe(200);
        expect(store.fault).toBeUndefined();

        const stored = storedIds(store.path);
        expect([...acked].filter((id) => !stored.has(id))).toEqual([]); // nothing acknowledged is lost
        expect(stored.size).toBe(acked.size); // and nothing refused was stored
        expect(integrity(store.path)).toBe('ok');
      } finally {
        await app.close();
        await store.close();
      }
      // Reopened: the same rows, the file still sound.
      const again = await openSqliteStore(join(disk, 'data'));
      expect(await again.count({ writeKey: KEY })).toBe(acked.size);
      await again.close();
      expect(integrity(join(disk, 'data', 'keel.db'))).toBe('ok');
    },
  );
});

describe('a read-only data directory', () => {
  it.skipIf(cannotMount)(
    'start-up names the path and "read-only file system" (not ENOENT, not "unable to open database file"); the data is intact',
    async () => {
      const src = join(base, 'ro-src');
      const first = await openSqliteStore(src);
      await first.insert([
        {
          writeKey: KEY,
          messageId: 'kept',
          type: 'track',
          event: 'e',
          userId: null,
          anonymousId: 'a',
          groupId: null,
          timestamp: new Date().toISOString(),
          originalTimestamp: null,
          sentAt: null,
          receivedAt: new Date().toISOString(),
          payload: '{}',
        },
      ]);
      await first.close();

      const ro = join(base, 'ro');
      expect(mount(['--bind', src], ro)).toBeUndefined();
      execFileSync('mount', ['-o', 'remount,ro,bind', ro]);

      // An existing database on a read-only mount.
      await expect(openSqliteStore(ro)).rejects.toThrow(`cannot open the database ${join(ro, 'keel.db')}: read-only file system`);
      // A data directory that does not exist yet, under a read-only one.
      const deeper = join(ro, 'new', 'deeper');
      await expect(openSqliteStore(deeper)).rejects.toThrow(`cannot create the data directory ${deeper}: read-only file system`);
      // An empty read-only file system.
      const empty = join(base, 'ro-empty');
      expect(mount(['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs'], empty)).toBeUndefined();
      await expect(openSqliteStore(empty)).rejects.toThrow(`cannot open the database ${join(empty, 'keel.db')}: read-only file system`);

      // `keel serve` says the same and exits 1.
      const cli = new URL('../dist/cli.js', import.meta.url).pathname;
      expect(existsSync(cli), `${cli} is built by \`pnpm run build\``).toBe(true);
      const run = spawnSync(process.execPath, [cli, 'serve', '--write-key', KEY, '--port', '0', '--data-dir', ro], { encoding: 'utf8', timeout: 20_000 });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`keel: cannot open the database ${join(ro, 'keel.db')}: read-only file system`);

      expect(integrity(join(src, 'keel.db'))).toBe('ok');
      const back = await openSqliteStore(src);
      expect((await back.list({ writeKey: KEY })).map((r) => r.messageId)).toEqual(['kept']);
      await back.close();
    },
  );
});

// A file system that turns read-only under a running server: ext4 on a loop device mounted with
// errors=remount-ro, pushed into its error path through the kernel's own test hook
// (/sys/fs/ext4/<dev>/trigger_fs_error). A bind mount can't do this: Linux refuses to remount it
// read-only while the database is open for writing.
const cannotLoop = cannotMount ?? (spawnSync('mkfs.ext4', ['-V']).status === 0 ? undefined : 'mkfs.ext4 is not installed (e2fsprogs)');
describe('a file system that turns read-only while the server runs', () => {
  it.skipIf(cannotLoop)(
    'writes answer 503 + Retry-After naming "read-only file system", /healthz is degraded, the log names the path; after repair every acknowledged event is there and the file is sound',
    async (ctx) => {
      const image = join(base, 'ext4.img');
      execFileSync('truncate', ['-s', '48M', image]);
      execFileSync('mkfs.ext4', ['-q', '-F', image]);
      const disk = join(base, 'ext4');
      const why = mount(['-o', 'loop,errors=remount-ro', image], disk);
      if (why) return ctx.skip(why); // no loop devices here (a container without them)
      const dev = execFileSync('findmnt', ['-n', '-o', 'SOURCE', disk], { encoding: 'utf8' }).trim().replace('/dev/', '');
      const trigger = `/sys/fs/ext4/${dev}/trigger_fs_error`;
      if (!existsSync(trigger)) return ctx.skip(`${trigger} is missing (kernel without ext4's test hook)`);

      const lines: { level: number; msg: string; cause?: string }[] = [];
      // FULL durability: every acknowledged commit is on the device before its answer, so what the
      // kernel drops from its cache when the file system aborts can't be an acknowledged event.
      const store = await openSqliteStore(join(disk, 'data'), { durability: 'full' });
      const app = buildApp({
        store,
        writeKeys: [KEY],
        logger: { level: 'warn', stream: { write: (l: string) => void lines.push(JSON.parse(l)) } },
        rateLimit: false,
      });
      const acked = new Set<string>();
      const post = poster(app, acked);
      try {
        for (let i = 0; i < 5; i++) expect((await post()).statusCode).toBe(200);
        writeFileSync(trigger, '1');
        // Newer kernels show it as the `emergency_ro` option, older ones as `ro`.
        expect(execFileSync('findmnt', ['-n', '-o', 'OPTIONS', disk], { encoding: 'utf8' })).toMatch(/(^|,)(ro|emergency_ro)(,|\n|$)/);

        const refused = await Promise.all([post(), post(), post()]);
        for (const res of refused) {
          expect([res.statusCode, res.headers['retry-after']], res.body).toEqual([503, '5']);
          expect(res.json()).toMatchObject({ ok: false, error: 'storage_unavailable' });
          expect(res.json().message).toContain('read-only file system');
        }
        const health = await app.inject({ method: 'GET', url: '/healthz' });
        expect([health.statusCode, health.headers['retry-after']]).toEqual([503, '5']);
        expect(health.json()).toMatchObject({ ok: false, status: 'degraded', store: 'sqlite', cause: 'read-only file system' });
        const ready = await app.inject({ method: 'GET', url: '/readyz' });
        expect(ready.json()).toMatchObject({ ready: false, reason: 'storage fault: read-only file system' });
        const logged = lines.filter((l) => l.level >= 50 && l.cause === 'read-only file system');
        expect(logged).toHaveLength(1);
        expect(logged[0]!.msg).toContain(store.path);
        // Reads still answer: the data is there, only writes are refused.
        expect(await store.count({ writeKey: KEY })).toBe(acked.size);
      } finally {
        await app.close();
        await store.close().catch(() => undefined); // its last checkpoint can't be written
      }
      // An operator repairs the file system and mounts it again.
      for (let i = 0; i < 20; i++) {
        if (spawnSync('umount', [disk]).status === 0) break;
        execFileSync('sleep', ['0.1']);
      }
      mounts.splice(mounts.indexOf(disk), 1);
      const fsck = spawnSync('e2fsck', ['-f', '-y', image], { encoding: 'utf8' });
      expect(fsck.status, fsck.stdout + fsck.stderr).toBeLessThanOrEqual(1); // 0: clean, 1: errors corrected
      expect(mount(['-o', 'loop', image], disk)).toBeUndefined();
      const path = join(disk, 'data', 'keel.db');
      const stored = storedIds(path);
      expect([...acked].filter((id) => !stored.has(id))).toEqual([]); // nothing acknowledged is lost
      expect(stored.size).toBe(acked.size); // and nothing refused was stored
      expect(integrity(path)).toBe('ok');
    },
  );
});

describe('a data directory the server may not write', () => {
  it.skipIf(cannotSeteuid)('start-up names the path and "permission denied"', async () => {
    const dir = join(base, 'not-mine');
    mkdirSync(dir);
    chmodSync(base, 0o755); // mkdtemp made it 0700: let the other user reach `dir`
    chmodSync(dir, 0o755);
    const errors: string[] = [];
    process.seteuid!(65534); // nobody; synchronous until switched back
    try {
      for (const d of [dir, join(dir, 'sub')]) {
        try {
          await openSqliteStore(d);
          errors.push('opened');
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
    } finally {
      process.seteuid!(0);
    }
    expect(errors).toEqual([
      `cannot open the database ${join(dir, 'keel.db')}: permission denied (SQLITE_CANTOPEN)`,
      `cannot create the data directory ${join(dir, 'sub')}: permission denied (EACCES)`,
    ]);
  });
});

describe('GET /readyz', () => {
  it('ready while the store answers; 503 + Retry-After naming the fault while it is in one; 503 once shutting down', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-faults-ready-'));
    const store = await openSqliteStore(dir);
    let fault: StorageFaultError | undefined;
    // The store's own ping and fault, with a fault the test switches on (what a full disk does, see above).
    const faulty = Object.assign(Object.create(store) as typeof store, {
      ping: async () => {
        if (fault) throw fault;
        return store.ping();
      },
    });
    const app = buildApp({ store: faulty, writeKeys: [KEY], logger: false, rateLimit: false });
    // close() marks the app as shutting down first (its own preClose hook, before this one).
    let markedWhenClosing: boolean | undefined;
    app.addHook('preClose', async () => {
      markedWhenClosing = app.shuttingDown;
    });
    try {
      expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ ready: true });
      fault = new StorageFaultError(store.path, 'read-only file system', 'SQLITE_READONLY', new Date().toISOString());
      const r = await app.inject({ method: 'GET', url: '/readyz' });
      expect([r.statusCode, r.headers['retry-after']]).toEqual([503, '5']);
      expect(r.json()).toEqual({ ready: false, reason: 'storage fault: read-only file system', since: fault.since });
      fault = undefined;
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      // Shutting down (what close() marks; Fastify itself answers 503 to new requests once it stops listening).
      app.shuttingDown = true;
      const down = await app.inject({ method: 'GET', url: '/readyz' });
      expect([down.statusCode, down.headers['retry-after'], down.json()]).toEqual([503, '5', { ready: false, reason: 'shutting down' }]);
      app.shuttingDown = false;
      await app.close();
      expect(markedWhenClosing).toBe(true);
    } finally {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('every store answers a fault the same way', () => {
  it('a progress write on a read-only database: 503 + Retry-After, not a 500', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-faults-progress-'));
    const store = await openSqliteStore(dir);
    const refusing: ProgressStore = {
      get: async () => [],
      merge: async () => {
        throw Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' });
      },
    };
    const app = buildApp({
      store,
      writeKeys: [KEY],
      secretKeys: [SECRET],
      progress: guardFaults(refusing, faultState(store.path)),
      logger: false,
      rateLimit: false,
    });
    try {
      const token = signUserToken({ sub: 'ada', tenant: 'acme' }, SECRET);
      const res = await app.inject({
        method: 'PUT',
        url: '/v1/progress',
        headers: { authorization: `Bearer ${token}` },
        payload: JSON.stringify({ entries: [{ scope: 'user', kind: 'recipe', ref: 'first-report', state: 'completed', updatedAt: new Date().toISOString() }] }),
      });
      expect(res.statusCode, res.body).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json()).toMatchObject({ error: 'storage_unavailable' });
    } finally {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('errors that are not storage faults stay what they are', () => {
    const dir = tmpdir();
    expect(faultCause(Object.assign(new Error('x'), { code: 'SQLITE_FULL' }), dir)).toBe('disk full');
    expect(faultCause(Object.assign(new Error('x'), { code: 'ENOSPC' }), dir)).toBe('disk full');
    expect(faultCause(Object.assign(new Error('x'), { code: 'EROFS' }), dir)).toBe('read-only file system');
    expect(faultCause(Object.assign(new Error('x'), { code: 'EACCES' }), dir)).toBe('permission denied');
    expect(faultCause(Object.assign(new Error('x'), { code: 'SQLITE_READONLY' }), dir)).toBe('read-only file system');
    expect(faultCause(Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }), dir)).toBeUndefined();
    expect(faultCause(new TypeError('x is not a function'), dir)).toBeUndefined();
    const guarded = guardFaults(
      {
        boom: () => {
          throw new TypeError('bug');
        },
        full: () => {
          throw Object.assign(new Error('full'), { code: 'SQLITE_FULL' });
        },
      },
      faultState(join(dir, 'keel.db')),
    );
    expect(() => guarded.boom()).toThrow(TypeError);
    expect(() => guarded.full()).toThrow(StorageFaultError);
  });
});
