// Who may call the ingest API from where, and how often: CORS (@fastify/cors), the origin
// allowlist, rate limits (@fastify/rate-limit), load shedding (@fastify/under-pressure) and the
// counters an operator reads. docs/security.md describes each defence and the test proving it.
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HttpError } from './errors.js';
import { StorageFaultError } from './store/faults.js';

export interface RateLimitOptions {
  /** Requests a window from one client IP; 0 turns this limit off. */
  perIp?: number;
  /** Requests a window carrying one write key; 0 turns this limit off. */
  perWriteKey?: number;
  /** Failed authentications (401s) a window from one IP before the next ones are answered 429; 0: off. */
  authFailuresPerIp?: number;
  /** The window, ms; default one minute. */
  windowMs?: number;
}

export interface SheddingOptions {
  /** Requests are refused (503 + Retry-After) while the event loop lags more than this (ms); 0: off. */
  maxEventLoopDelayMs?: number;
  /** How often the lag is sampled, ms. */
  sampleIntervalMs?: number;
  /** Retry-After sent with a shed request, s. */
  retryAfterS?: number;
}

/**
 * Generous: a vendor's whole office behind one NAT, every user's SDK flushing every few seconds,
 * stays far below them. They stop floods, not customers.
 */
export const DEFAULT_RATE_LIMITS: Required<RateLimitOptions> = { perIp: 12_000, perWriteKey: 120_000, authFailuresPerIp: 30, windowMs: 60_000 };
/** A second of event-loop lag: the server is drowning, and queueing more only makes it worse. */
export const DEFAULT_SHEDDING: Required<SheddingOptions> = { maxEventLoopDelayMs: 1000, sampleIntervalMs: 1000, retryAfterS: 10 };

/** Refusals, counted since start-up (for tests and, later, metrics). */
export interface AccessStats {
  /** Browser requests from an origin outside `--allowed-origin` (writes and preflights). */
  refusedOrigins: number;
  /** Requests carrying the admin key that a browser made. */
  adminKeyFromBrowser: number;
  /** 429s from the per-IP and per-write-key limits. */
  rateLimited: number;
  /** Failed authentications answered 429 instead of 401. */
  authFailuresLimited: number;
  /** Requests shed (503) because the event loop lagged. */
  shed: number;
  /** Requests answered 503 because the store could not write (disk full, read-only). */
  storageFaults: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** What the access controls refused since start-up. */
    accessStats: AccessStats;
  }
}

export interface AccessOptions {
  allowedOrigins: readonly string[];
  rateLimit?: RateLimitOptions | false;
  shedding?: SheddingOptions | false;
}

export interface Access {
  /** Counts a request against its write key's limit; throws a 429 HttpError past it. */
  limitWriteKey(req: FastifyRequest, writeKey: string): Promise<void>;
  /** Logs a storage fault once per episode (it names the database path and the cause). */
  noteFault(log: FastifyBaseLogger, fault: StorageFaultError): void;
}

/** A request a browser made: browsers send `Origin` on CORS and writes, `Sec-Fetch-Site` on all. */
export const fromBrowser = (req: FastifyRequest): boolean => req.headers.origin !== undefined || req.headers['sec-fetch-site'] !== undefined;

const pathOf = (req: FastifyRequest) => {
  const raw = req.url.split('?')[0] ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
};
/** The admin API, however the path is spelled (`/v1//admin`, `%61dmin`). */
export const isAdminPath = (req: FastifyRequest): boolean =>
  /^\/+v1\/+admin(\/|$)/i.test(pathOf(req)) || (req.routeOptions.url?.startsWith('/v1/admin/') ?? false);

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const minutes = (ms: number) => (ms === 60_000 ? 'a minute' : `in ${ms / 1000} s`);

/**
 * Registers CORS, load shedding, rate limits and the origin allowlist on `app` (before its
 * routes), and decorates it with `accessStats`.
 */
export function registerAccess(app: FastifyInstance, o: AccessOptions): Access {
  const stats: AccessStats = { refusedOrigins: 0, adminKeyFromBrowser: 0, rateLimited: 0, authFailuresLimited: 0, shed: 0, storageFaults: 0 };
  app.decorate('accessStats', stats);
  const origins = new Set(o.allowedOrigins);
  const anyOrigin = origins.has('*');
  const allowed = (origin: string) => anyOrigin || origins.has(origin);
  /** `--allowed-origin` names origins: browsers elsewhere may not write. */
  const restricted = origins.size > 0 && !anyOrigin;

  // Off unless asked for (`keel serve` asks, with DEFAULT_SHEDDING): an app embedded in a test or
  // a script whose own work blocks the loop would otherwise refuse the requests that follow it.
  const shedding = !o.shedding ? undefined : { ...DEFAULT_SHEDDING, ...o.shedding };
  if (shedding && shedding.maxEventLoopDelayMs > 0) {
    app.register(underPressure, {
      maxEventLoopDelay: shedding.maxEventLoopDelayMs,
      sampleInterval: shedding.sampleIntervalMs,
      retryAfter: shedding.retryAfterS,
      pressureHandler: async (_req, _reply, type, value) => {
        stats.shed++;
        const what = type === 'eventLoopDelay' ? `its event loop lags ${Math.round(value ?? 0)} ms` : `${type} is over its limit`;
        throw new HttpError(503, 'overloaded', `the server is overloaded (${what}); nothing was stored: retry later`, shedding.retryAfterS);
      },
    });
  }

  // What the hand-written hook did, for every route but the admin API: allowed origins (or any,
  // with *) are reflected with credentials; preflights grant the headers the SDK and the widgets
  // send. text/plain batches need no preflight. /v1/admin/* gets no CORS at all.
  const grant: FastifyCorsOptions = {
    origin: true,
    credentials: true,
    exposedHeaders: 'etag, retry-after',
    methods: 'GET, POST, PUT, OPTIONS',
    allowedHeaders: 'authorization, content-type, content-encoding, if-none-match, x-retry-count',
    maxAge: 86400,
  };
  const none: FastifyCorsOptions = { origin: false };
  app.register(cors, {
    delegator: (req: FastifyRequest, cb: (e: Error | null, options?: FastifyCorsOptions) => void) => {
      const origin = req.headers.origin;
      // The script-tag SDK is public code: any page may load it, without credentials.
      if (req.url.startsWith('/sdk/')) return cb(null, { origin: '*', methods: 'GET, HEAD', maxAge: 86400 });
      cb(null, origin && allowed(origin) && !isAdminPath(req) ? grant : none);
    },
    logLevel: 'warn',
  });

  const limits = o.rateLimit === false ? undefined : { ...DEFAULT_RATE_LIMITS, ...o.rateLimit };
  type Limiter = ReturnType<FastifyInstance['createRateLimit']>;
  let perIp: Limiter | undefined;
  let perKey: Limiter | undefined;
  let authFailures: Limiter | undefined;
  const keyOf = new WeakMap<FastifyRequest, string>();
  if (limits) app.register(rateLimit, { global: false, cache: 10_000 });

  let lastFault: StorageFaultError | undefined;
  const noteFault = (log: FastifyBaseLogger, fault: StorageFaultError) => {
    if (fault === lastFault) return;
    lastFault = fault;
    log.error(
      { path: fault.path, cause: fault.reason, code: fault.sourceCode, since: fault.since },
      `the database ${fault.path} cannot be written: ${fault.reason} (${fault.sourceCode}); writes answer 503 until it can`,
    );
  };

  app.register(
    fp(async (f) => {
      if (limits) {
        const common = { timeWindow: limits.windowMs, cache: 10_000 };
        if (limits.perIp > 0) perIp = f.createRateLimit({ ...common, max: limits.perIp });
        if (limits.perWriteKey > 0) perKey = f.createRateLimit({ ...common, max: limits.perWriteKey, keyGenerator: (req) => `wk:${keyOf.get(req)}` });
        if (limits.authFailuresPerIp > 0) authFailures = f.createRateLimit({ ...common, max: limits.authFailuresPerIp });
      }

      f.addHook('onRequest', async (req, reply) => {
        if (perIp && req.url !== '/healthz' && req.url !== '/readyz') {
          const r = await perIp(req);
          if (!r.isAllowed && r.isExceeded) {
            stats.rateLimited++;
            reply.header('retry-after', String(r.ttlInSeconds));
            throw new HttpError(
              429,
              'rate_limited',
              `more than ${r.max} requests ${minutes(r.timeWindow)} from ${req.ip}: retry in ${r.ttlInSeconds} s`,
              r.ttlInSeconds,
            );
          }
        }
        const origin = req.headers.origin;
        if (req.method === 'OPTIONS') {
          // @fastify/cors has answered the preflights it grants: what reaches here is refused.
          if (isAdminPath(req)) {
            throw new HttpError(
              403,
              'admin_not_for_browsers',
              'the admin API is for servers (your backend, the keel CLI): it grants no CORS, and refuses the admin key from a browser',
            );
          }
          if (origin !== undefined && restricted && !allowed(origin)) refuseOrigin(req, origin);
          return;
        }
        if (restricted && origin !== undefined && WRITES.has(req.method) && !allowed(origin)) refuseOrigin(req, origin);
      });

      const refuseOrigin = (req: FastifyRequest, origin: string): never => {
        stats.refusedOrigins++;
        req.log.warn({ origin, method: req.method, url: req.url.split('?')[0] }, 'refused a browser request from an origin outside --allowed-origin');
        throw new HttpError(
          403,
          'origin_not_allowed',
          `the origin "${origin}" may not send to this server: add it with --allowed-origin (KEEL_ALLOWED_ORIGINS)`,
        );
      };

      // Repeated failed authentication from one address: past the limit, 401s become 429s with
      // Retry-After (a client that can't authenticate backs off). Good credentials from the same
      // address (an office behind one NAT) are never refused for someone else's mistakes.
      if (authFailures) {
        const limiter = authFailures;
        f.addHook('onSend', async (req, reply, payload) => {
          if (reply.statusCode !== 401) return payload;
          const r = await limiter(req);
          if (r.isAllowed || !r.isExceeded) return payload;
          stats.authFailuresLimited++;
          reply.code(429).header('retry-after', String(r.ttlInSeconds)).type('application/json; charset=utf-8');
          return JSON.stringify({
            ok: false,
            error: 'too_many_auth_failures',
            message: `more than ${r.max} failed authentications ${minutes(r.timeWindow)} from ${req.ip}: check the key or token, then retry in ${r.ttlInSeconds} s`,
          });
        });
      }

      f.addHook('onError', async (req, _reply, err) => {
        if (err instanceof StorageFaultError) {
          stats.storageFaults++;
          noteFault(req.log, err);
        } else if (err instanceof HttpError && err.code === 'admin_key_from_browser') {
          stats.adminKeyFromBrowser++;
          req.log.warn(
            { origin: req.headers.origin, site: req.headers['sec-fetch-site'], url: req.url.split('?')[0] },
            'refused the admin key: a browser sent it',
          );
        }
      });
    }),
  );

  return {
    async limitWriteKey(req, writeKey) {
      if (!perKey) return;
      keyOf.set(req, writeKey);
      const r = await perKey(req);
      if (!r.isAllowed && r.isExceeded) {
        stats.rateLimited++;
        throw new HttpError(
          429,
          'rate_limited',
          `more than ${r.max} requests ${minutes(r.timeWindow)} with this write key: retry in ${r.ttlInSeconds} s`,
          r.ttlInSeconds,
        );
      }
    },
    noteFault,
  };
}
