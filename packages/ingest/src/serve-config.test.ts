import { expect, test } from 'vitest';
import { parseServeArgs } from './serve-config.js';

test('defaults, flags and environment variables (flags win)', () => {
  expect(parseServeArgs(['--write-key', 'a'], {})).toEqual({
    port: 4318, host: '127.0.0.1', dataDir: './.keel-data', writeKeys: ['a'], allowedOrigins: [], adminKeys: [], secretKeys: [], webhooks: [], webhookSecret: undefined, durability: 'normal', logLevel: 'info', sweepMs: 300_000, testClockFile: undefined,
  });
  expect(parseServeArgs(['--write-key', 'a', '--sweep-interval', '30s'], {}).sweepMs).toBe(30_000);
  expect(parseServeArgs(['--write-key', 'a'], { KEEL_SWEEP_INTERVAL: '250ms' }).sweepMs).toBe(250);
  const env = { KEEL_PORT: '9000', KEEL_WRITE_KEYS: 'k1, k2', KEEL_ALLOWED_ORIGINS: 'https://a.example,https://b.example', KEEL_DATA_DIR: '/d', KEEL_DURABILITY: 'full' };
  expect(parseServeArgs([], env)).toMatchObject({ port: 9000, writeKeys: ['k1', 'k2'], allowedOrigins: ['https://a.example', 'https://b.example'], dataDir: '/d', durability: 'full' });
  expect(parseServeArgs(['--port', '1234', '--write-key', 'x', '--write-key', 'y'], env)).toMatchObject({ port: 1234, writeKeys: ['x', 'y'] });
});

test.each([
  [['--write-key', 'a', '--port', 'eighty'], /--port must be a whole number.*"eighty"/],
  [['--write-key', 'a', '--port', '70000'], /--port must be/],
  [[], /no write key/],
  [['--write-key', 'a', '--durability', 'maybe'], /--durability must be "normal" or "full", found "maybe"/],
  [['--write-key', 'a', '--log-level', 'loud'], /--log-level must be one of/],
  [['--write-key', 'a', '--prot', '1'], /Unknown option '--prot'/],
  [['--write-key', 'a', '--webhook', 'ftp://x'], /--webhook must be an http\(s\) URL/],
  [['--write-key', 'a', '--sweep-interval', '5 minutes'], /--sweep-interval must be a duration from 100ms to 24h such as 30s or 5m, found "5 minutes"/],
  [['--write-key', 'a', '--sweep-interval', '10ms'], /--sweep-interval must be a duration/],
])('%j is refused with a message naming the problem', (args, message) => {
  expect(() => parseServeArgs(args as string[], {})).toThrow(message);
});
