import { expect, test } from 'vitest';
import { HELP, MIN_RETENTION_MS, parseRetention, parseServeArgs } from './serve-config.js';

test('defaults, flags and environment variables (flags win)', () => {
  expect(parseServeArgs(['--write-key', 'a'], {})).toEqual({
    port: 4318,
    host: '127.0.0.1',
    dataDir: './.keel-data',
    writeKeys: ['a'],
    serverWriteKeys: [],
    allowedOrigins: [],
    adminKeys: [],
    secretKeys: [],
    webhooks: [],
    webhookSecret: undefined,
    durability: 'normal',
    logLevel: 'info',
    metricsPublic: false,
    sweepMs: 300_000,
    retentionMs: undefined,
    testClockFile: undefined,
    rateLimit: { perIp: 12_000, perWriteKey: 120_000, authFailuresPerIp: 30 },
    shedding: { maxEventLoopDelayMs: 1000 },
  });
  expect(parseServeArgs(['--write-key', 'a', '--sweep-interval', '30s'], {}).sweepMs).toBe(30_000);
  expect(parseServeArgs(['--write-key', 'a'], { KEEL_SWEEP_INTERVAL: '250ms' }).sweepMs).toBe(250);
  const env = {
    KEEL_PORT: '9000',
    KEEL_WRITE_KEYS: 'k1, k2',
    KEEL_ALLOWED_ORIGINS: 'https://a.example,https://b.example',
    KEEL_DATA_DIR: '/d',
    KEEL_DURABILITY: 'full',
  };
  expect(parseServeArgs([], env)).toMatchObject({
    port: 9000,
    writeKeys: ['k1', 'k2'],
    allowedOrigins: ['https://a.example', 'https://b.example'],
    dataDir: '/d',
    durability: 'full',
  });
  expect(parseServeArgs(['--write-key', 'a', '--server-write-key', 's1'], {}).serverWriteKeys).toEqual(['s1']);
  expect(parseServeArgs(['--write-key', 'a'], { KEEL_SERVER_WRITE_KEYS: 's1,s2' }).serverWriteKeys).toEqual(['s1', 's2']);
  expect(parseServeArgs(['--port', '1234', '--write-key', 'x', '--write-key', 'y'], env)).toMatchObject({ port: 1234, writeKeys: ['x', 'y'] });
});

test('rate limits, load shedding and the proxy to trust: flags and environment variables', () => {
  const cfg = parseServeArgs(['--write-key', 'a', '--rate-limit-ip', '0', '--auth-failure-limit', '5', '--trust-proxy', '10.0.0.0/8, 10.1.1.1'], {
    KEEL_RATE_LIMIT_KEY: '99',
    KEEL_MAX_EVENT_LOOP_DELAY: '0',
  });
  expect(cfg).toMatchObject({
    rateLimit: { perIp: 0, perWriteKey: 99, authFailuresPerIp: 5 },
    shedding: { maxEventLoopDelayMs: 0 },
    trustProxy: ['10.0.0.0/8', '10.1.1.1'],
  });
  expect(parseServeArgs(['--write-key', 'a'], { KEEL_TRUST_PROXY: 'true' }).trustProxy).toBe(true);
  expect(parseServeArgs(['--write-key', 'a', '--trust-proxy', '2'], {}).trustProxy).toBe(2);
  expect(parseServeArgs(['--write-key', 'a'], {})).not.toHaveProperty('trustProxy');
});

test('--database-url, DATABASE_URL or KEEL_DATABASE_URL picks PostgreSQL; --database-schema its schema', () => {
  expect(parseServeArgs(['--write-key', 'a'], {})).toMatchObject({ databaseUrl: undefined, databaseSchema: undefined });
  expect(parseServeArgs(['--write-key', 'a'], { DATABASE_URL: 'postgres://u@db:5432/keel' }).databaseUrl).toBe('postgres://u@db:5432/keel');
  expect(parseServeArgs(['--write-key', 'a'], { DATABASE_URL: 'postgres://x@a/b', KEEL_DATABASE_URL: 'postgresql://y@c/d' }).databaseUrl).toBe(
    'postgresql://y@c/d',
  );
  expect(
    parseServeArgs(['--write-key', 'a', '--database-url', 'postgres://z@e/f', '--database-schema', 'keel_1'], { DATABASE_URL: 'postgres://x@a/b' }),
  ).toMatchObject({ databaseUrl: 'postgres://z@e/f', databaseSchema: 'keel_1' });
  // An empty variable (a blank line in an env file) is no database.
  expect(parseServeArgs(['--write-key', 'a'], { DATABASE_URL: '' }).databaseUrl).toBeUndefined();
});

test('a bad database URL is named without echoing its password', () => {
  let message = '';
  try {
    parseServeArgs(['--write-key', 'a', '--database-url', 'mysql://root:hunter2@db/keel'], {});
  } catch (e) {
    message = (e as Error).message;
  }
  expect(message).toMatch(/--database-url must be a PostgreSQL URL/);
  expect(message).not.toContain('hunter2');
});

test('--metrics-public (or KEEL_METRICS_PUBLIC=1) serves /metrics without the admin key', () => {
  expect(parseServeArgs(['--write-key', 'a', '--metrics-public'], {}).metricsPublic).toBe(true);
  expect(parseServeArgs(['--write-key', 'a'], { KEEL_METRICS_PUBLIC: '1' }).metricsPublic).toBe(true);
  expect(parseServeArgs(['--write-key', 'a'], { KEEL_METRICS_PUBLIC: '0' }).metricsPublic).toBe(false);
});

test('--retention (or KEEL_RETENTION): days or weeks, off by default', () => {
  const day = 86_400_000;
  expect(parseServeArgs(['--write-key', 'a', '--retention', '400d'], {}).retentionMs).toBe(400 * day);
  expect(parseServeArgs(['--write-key', 'a'], { KEEL_RETENTION: '12w' }).retentionMs).toBe(84 * day);
  expect(parseServeArgs(['--write-key', 'a', '--retention', '1d'], { KEEL_RETENTION: '12w' }).retentionMs).toBe(day); // the flag wins
  expect(parseServeArgs(['--write-key', 'a'], { KEEL_RETENTION: '' }).retentionMs).toBeUndefined();
  expect(parseServeArgs(['--write-key', 'a'], {}).retentionMs).toBeUndefined();
  expect(parseRetention(' 30d ')).toBe(30 * day);
  expect(MIN_RETENTION_MS).toBe(day);
  expect(() => parseRetention('1w2d', 'KEEL_RETENTION')).toThrow(/^KEEL_RETENTION must be a number of days or weeks/);
  expect(HELP).toMatch(/--retention D +KEEL_RETENTION +keep raw events this long/);
});

test.each([
  [['--write-key', 'a', '--retention', '12h'], /--retention must be a number of days or weeks from 1d to 36500d such as 400d or 12w, found "12h"/],
  [['--write-key', 'a', '--retention', '0d'], /--retention must be a number of days or weeks/],
  [['--write-key', 'a', '--retention=-5d'], /--retention must be a number of days or weeks/],
  [['--write-key', 'a', '--retention', '400'], /--retention must be a number of days or weeks.*found "400"/],
  [['--write-key', 'a', '--retention', '36501d'], /--retention must be/],
  [['--write-key', 'a', '--retention', 'forever'], /--retention must be/],
  [['--write-key', 'a', '--rate-limit-ip', 'lots'], /--rate-limit-ip must be a whole number \(0 turns it off\), found "lots"/],
  [['--write-key', 'a', '--max-event-loop-delay=-5'], /--max-event-loop-delay must be a whole number/],
  [['--write-key', 'a', '--port', 'eighty'], /--port must be a whole number.*"eighty"/],
  [['--write-key', 'a', '--port', '70000'], /--port must be/],
  [[], /no write key/],
  [['--write-key', 'a', '--durability', 'maybe'], /--durability must be "normal" or "full", found "maybe"/],
  [['--write-key', 'a', '--log-level', 'loud'], /--log-level must be one of/],
  [['--write-key', 'a', '--prot', '1'], /Unknown option '--prot'/],
  [['--write-key', 'a', '--webhook', 'ftp://x'], /--webhook must be an http\(s\) URL/],
  [['--write-key', 'a', '--server-write-key', 'a'], /can't be both a public write key and a server write key/],
  [['--write-key', 'a', '--sweep-interval', '5 minutes'], /--sweep-interval must be a duration from 100ms to 24h such as 30s or 5m, found "5 minutes"/],
  [['--write-key', 'a', '--sweep-interval', '10ms'], /--sweep-interval must be a duration/],
  [['--write-key', 'a', '--database-url', 'postgres://u@h/d', '--database-schema', 'a;drop'], /--database-schema must be a plain identifier/],
  [['--write-key', 'a', '--database-schema', 'keel'], /--database-schema needs --database-url/],
])('%j is refused with a message naming the problem', (args, message) => {
  expect(() => parseServeArgs(args as string[], {})).toThrow(message);
});
