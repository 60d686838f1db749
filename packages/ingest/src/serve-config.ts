import { parseArgs } from 'node:util';
import { DEFAULT_RATE_LIMITS, DEFAULT_SHEDDING, type RateLimitOptions, type SheddingOptions } from './access.js';
import type { Durability } from './store/sqlite.js';

export const HELP = `Usage: keel <command> [options]

Commands:
  serve       run the ingest API (embedded SQLite by default; PostgreSQL with --database-url)
  config      validate, diff and publish config files (keel config --help)
  backup      copy the database consistently, even while serve runs (keel backup --help)

keel serve options (flag, or environment variable):
  --port N             KEEL_PORT             port to listen on (default 4318)
  --host H             KEEL_HOST             interface to bind (default 127.0.0.1; 0.0.0.0 for all)
  --data-dir DIR       KEEL_DATA_DIR         where the SQLite database lives (default ./.keel-data)
  --database-url URL   DATABASE_URL          PostgreSQL instead of SQLite (postgres://user@host:5432/db); several
                                             keel serve processes may share one database (also KEEL_DATABASE_URL)
  --database-schema S  KEEL_DATABASE_SCHEMA  the PostgreSQL schema Keel's tables live in (default public)
  --write-key KEY      KEEL_WRITE_KEYS       accepted write key; repeat the flag, or comma-separate the variable
  --server-write-key K KEEL_SERVER_WRITE_KEYS secret write key for backends: its events are verified; repeatable
  --allowed-origin O   KEEL_ALLOWED_ORIGINS  browser origin allowed to call the API (CORS); repeatable, * for any;
                                             once set, browser writes from other origins are refused (403)
  --admin-key KEY      KEEL_ADMIN_KEYS       secret key for publishing config and reading the audit log; repeatable
  --secret-key KEY     KEEL_SECRET_KEYS      secret that user tokens (HS256 JWTs) are signed with; repeatable (rotation)
  --webhook URL        KEEL_WEBHOOKS         where fired alerts are POSTed (JSON); repeatable; prefix slack: for a Slack incoming webhook
  --webhook-secret S   KEEL_WEBHOOK_SECRET   signs deliveries: keel-signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">
  --sweep-interval D   KEEL_SWEEP_INTERVAL   how often every tenant is re-evaluated (time-based alerts for quiet tenants): 30s, 5m (default), 1h
  --retention D        KEEL_RETENTION        keep raw events this long, then delete them: 400d, 12w (at least 1d; default: keep all);
                                             on PostgreSQL whole months go, once all of a month is older than this
  --durability D       KEEL_DURABILITY       normal (default: survives a process crash) or full (fsync: survives power loss)
  --log-level L        KEEL_LOG_LEVEL        fatal, error, warn, info (default), debug, trace, silent
  --rate-limit-ip N    KEEL_RATE_LIMIT_IP    requests a minute from one client IP (default ${DEFAULT_RATE_LIMITS.perIp}; 0: no limit); past it, 429
  --rate-limit-key N   KEEL_RATE_LIMIT_KEY   requests a minute with one write key (default ${DEFAULT_RATE_LIMITS.perWriteKey}; 0: no limit)
  --auth-failure-limit N  KEEL_AUTH_FAILURE_LIMIT  failed authentications a minute from one IP before they are
                                             answered 429 with Retry-After (default ${DEFAULT_RATE_LIMITS.authFailuresPerIp}; 0: off)
  --max-event-loop-delay MS  KEEL_MAX_EVENT_LOOP_DELAY  shed requests (503 + Retry-After) while the event loop
                                             lags more than this (default ${DEFAULT_SHEDDING.maxEventLoopDelayMs}; 0: off)
  --trust-proxy V      KEEL_TRUST_PROXY      behind a reverse proxy: true, a hop count, or the proxies' addresses/CIDRs
                                             (comma-separated); client IPs (for the limits) then come from X-Forwarded-For
  --metrics-public     KEEL_METRICS_PUBLIC=1 GET /metrics (Prometheus) without the admin key (default: the admin key is required)
  -h, --help                                 show this help
`;

export class UsageError extends Error {}

const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export interface ServeConfig {
  port: number;
  host: string;
  dataDir: string;
  /** PostgreSQL instead of the embedded SQLite store. */
  databaseUrl: string | undefined;
  /** The PostgreSQL schema (search_path); unset: the server's default (public). */
  databaseSchema: string | undefined;
  writeKeys: string[];
  serverWriteKeys: string[];
  allowedOrigins: string[];
  adminKeys: string[];
  secretKeys: string[];
  webhooks: { url: string; format: 'json' | 'slack' }[];
  webhookSecret: string | undefined;
  durability: Durability;
  logLevel: string;
  rateLimit: RateLimitOptions;
  shedding: SheddingOptions;
  /** Unset: the socket's address is the client's. */
  trustProxy?: boolean | number | string[];
  /** GET /metrics without the admin key. */
  metricsPublic: boolean;
  /** Every known tenant is re-evaluated this often (ms). */
  sweepMs: number;
  /** Raw events are kept this long (ms), then deleted by the upkeep job (store/partitions.ts); undefined keeps them all. */
  retentionMs: number | undefined;
  /**
   * Tests only (KEEL_TEST_CLOCK_FILE, no flag): a file holding milliseconds to add to the clock
   * health, lifecycle and alert passes use, re-read each pass, so a test advances time by writing it.
   */
  testClockFile: string | undefined;
}

/** `250ms`, `30s`, `5m`, `1h`: the sweep interval. */
export function parseInterval(text: string, what: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text.trim());
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'] : Number.NaN;
  if (!(ms >= 100 && ms <= 86_400_000)) throw new UsageError(`${what} must be a duration from 100ms to 24h such as 30s or 5m, found "${text}"`);
  return ms;
}

const DAY_MS = 86_400_000;
/** The shortest retention: a day (shorter would delete events the health windows still read, and is surely a typo). */
export const MIN_RETENTION_MS = DAY_MS;
const MAX_RETENTION_DAYS = 36_500;

/** `400d`, `12w`: how long raw events are kept (ms). */
export function parseRetention(text: string, what = '--retention'): number {
  const m = /^(\d+)(d|w)$/.exec(text.trim());
  const days = m ? Number(m[1]) * (m[2] === 'w' ? 7 : 1) : Number.NaN;
  if (!(days >= 1 && days <= MAX_RETENTION_DAYS)) {
    throw new UsageError(`${what} must be a number of days or weeks from 1d to ${MAX_RETENTION_DAYS}d such as 400d or 12w, found "${text}"`);
  }
  return days * DAY_MS;
}

/** Flags win over environment variables; every bad value is named. */
export function parseServeArgs(args: string[], env: NodeJS.ProcessEnv = process.env): ServeConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'data-dir': { type: 'string' },
        'database-url': { type: 'string' },
        'database-schema': { type: 'string' },
        'write-key': { type: 'string', multiple: true },
        'server-write-key': { type: 'string', multiple: true },
        'allowed-origin': { type: 'string', multiple: true },
        'admin-key': { type: 'string', multiple: true },
        'secret-key': { type: 'string', multiple: true },
        webhook: { type: 'string', multiple: true },
        'webhook-secret': { type: 'string' },
        durability: { type: 'string' },
        'sweep-interval': { type: 'string' },
        retention: { type: 'string' },
        'log-level': { type: 'string' },
        'rate-limit-ip': { type: 'string' },
        'rate-limit-key': { type: 'string' },
        'auth-failure-limit': { type: 'string' },
        'max-event-loop-delay': { type: 'string' },
        'trust-proxy': { type: 'string' },
        'metrics-public': { type: 'boolean' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  const portText = v.port ?? env.KEEL_PORT ?? '4318';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new UsageError(`--port must be a whole number from 0 to 65535, found "${portText}"`);
  const writeKeys = v['write-key']?.length ? v['write-key'] : list(env.KEEL_WRITE_KEYS);
  if (writeKeys.length === 0) throw new UsageError('no write key: pass --write-key KEY (repeatable) or set KEEL_WRITE_KEYS=key1,key2');
  const serverWriteKeys = v['server-write-key']?.length ? v['server-write-key'] : list(env.KEEL_SERVER_WRITE_KEYS);
  const both = serverWriteKeys.filter((k) => writeKeys.includes(k));
  if (both.length) throw new UsageError(`a key can't be both a public write key and a server write key (a server key is secret): "${both[0]!.slice(0, 8)}…"`);
  const durability = v.durability ?? env.KEEL_DURABILITY ?? 'normal';
  if (durability !== 'normal' && durability !== 'full') throw new UsageError(`--durability must be "normal" or "full", found "${durability}"`);
  const logLevel = v['log-level'] ?? env.KEEL_LOG_LEVEL ?? 'info';
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(logLevel)) throw new UsageError(`--log-level must be one of ${levels.join(', ')}, found "${logLevel}"`);
  const count = (flag: string, text: string | undefined, dflt: number) => {
    if (text === undefined) return dflt;
    if (!/^\d+$/.test(text.trim())) throw new UsageError(`--${flag} must be a whole number (0 turns it off), found "${text}"`);
    return Number(text);
  };
  const trustText = v['trust-proxy'] ?? env.KEEL_TRUST_PROXY;
  const trustProxy =
    trustText === undefined || trustText === '' || trustText === 'false'
      ? undefined
      : trustText === 'true'
        ? true
        : /^\d+$/.test(trustText)
          ? Number(trustText)
          : list(trustText);
  const databaseUrl = v['database-url'] ?? (env.KEEL_DATABASE_URL || env.DATABASE_URL || undefined);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/[^\s]+$/.test(databaseUrl)) {
    // The URL may carry a password: name its scheme, never echo it.
    throw new UsageError(
      `--database-url must be a PostgreSQL URL such as postgres://user@host:5432/keel, found ${/^[a-z][a-z0-9+.-]*:/i.test(databaseUrl) ? `the scheme "${databaseUrl.split(':')[0]}"` : 'no scheme'}`,
    );
  }
  const databaseSchema = v['database-schema'] ?? (env.KEEL_DATABASE_SCHEMA || undefined);
  if (databaseSchema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(databaseSchema)) {
    throw new UsageError(`--database-schema must be a plain identifier (letters, digits, _; at most 63), found "${databaseSchema}"`);
  }
  if (databaseSchema !== undefined && databaseUrl === undefined)
    throw new UsageError('--database-schema needs --database-url (the SQLite store has no schemas)');
  const retentionText = v.retention ?? env.KEEL_RETENTION;
  return {
    port,
    host: v.host ?? env.KEEL_HOST ?? '127.0.0.1',
    dataDir: v['data-dir'] ?? env.KEEL_DATA_DIR ?? './.keel-data',
    databaseUrl,
    databaseSchema,
    writeKeys,
    serverWriteKeys,
    allowedOrigins: v['allowed-origin']?.length ? v['allowed-origin'] : list(env.KEEL_ALLOWED_ORIGINS),
    adminKeys: v['admin-key']?.length ? v['admin-key'] : list(env.KEEL_ADMIN_KEYS),
    secretKeys: v['secret-key']?.length ? v['secret-key'] : list(env.KEEL_SECRET_KEYS),
    webhooks: (v.webhook?.length ? v.webhook : list(env.KEEL_WEBHOOKS)).map((w) => {
      const slack = w.startsWith('slack:');
      const url = slack ? w.slice(6) : w;
      if (!/^https?:\/\//.test(url)) throw new UsageError(`--webhook must be an http(s) URL (optionally prefixed slack:), found "${w}"`);
      return { url, format: slack ? ('slack' as const) : ('json' as const) };
    }),
    webhookSecret: v['webhook-secret'] ?? env.KEEL_WEBHOOK_SECRET,
    durability,
    logLevel,
    rateLimit: {
      perIp: count('rate-limit-ip', v['rate-limit-ip'] ?? env.KEEL_RATE_LIMIT_IP, DEFAULT_RATE_LIMITS.perIp),
      perWriteKey: count('rate-limit-key', v['rate-limit-key'] ?? env.KEEL_RATE_LIMIT_KEY, DEFAULT_RATE_LIMITS.perWriteKey),
      authFailuresPerIp: count('auth-failure-limit', v['auth-failure-limit'] ?? env.KEEL_AUTH_FAILURE_LIMIT, DEFAULT_RATE_LIMITS.authFailuresPerIp),
    },
    shedding: {
      maxEventLoopDelayMs: count('max-event-loop-delay', v['max-event-loop-delay'] ?? env.KEEL_MAX_EVENT_LOOP_DELAY, DEFAULT_SHEDDING.maxEventLoopDelayMs),
    },
    ...(trustProxy === undefined ? {} : { trustProxy }),
    metricsPublic: v['metrics-public'] ?? ['1', 'true'].includes(env.KEEL_METRICS_PUBLIC ?? ''),
    sweepMs: parseInterval(v['sweep-interval'] ?? env.KEEL_SWEEP_INTERVAL ?? '5m', '--sweep-interval'),
    retentionMs: retentionText === undefined || retentionText === '' ? undefined : parseRetention(retentionText),
    testClockFile: env.KEEL_TEST_CLOCK_FILE || undefined,
  };
}
