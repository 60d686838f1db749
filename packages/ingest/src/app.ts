// The ingest API as a Fastify app: shared parts here (the body parser, errors, services as
// decorators, OpenAPI, metrics), the routes as one plugin per resource under routes/.
import { MESSAGE_TYPES } from '@keel/sdk-core/schema';
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { type RateLimitOptions, registerAccess, type SheddingOptions } from './access.js';
import { BODY_SHAPE, DEFAULT_BODY_LIMIT, decodeBody } from './body.js';
import { HttpError } from './errors.js';
import { createMetrics, type Metrics, refusalOf } from './metrics-registry.js';
import { adminRoutes } from './routes/admin.js';
import type { ConfigValidation, KeelSettings } from './routes/common.js';
import { configRoutes } from './routes/config.js';
import { ingestRoutes } from './routes/ingest.js';
import { opsRoutes } from './routes/ops.js';
import { progressRoutes } from './routes/progress.js';
import { keelSerializerCompiler, keelSwaggerTransform, keelValidatorCompiler, validationAnswer } from './routes/schemas.js';
import { sdkRoutes } from './routes/sdk.js';
import { segmentRoutes } from './routes/segment.js';
import { statusRoutes } from './routes/status.js';
import { tenantRoutes } from './routes/tenants.js';
import type { AlertService } from './health/alerts.js';
import type { OutcomeService } from './health/outcomes.js';
import type { LifecycleService } from './health/lifecycle.js';
import type { StatusService } from './health/status.js';
import type { HealthService } from './health/service.js';
import type { ConfigStore, FactsStore, ProgressStore } from './store/state-types.js';
import type { EventStore } from './store/types.js';

export interface AppOptions {
  store: EventStore;
  /** Write keys this server accepts. */
  writeKeys: readonly string[];
  /**
   * Server-side write keys: secret, for backends (Segment's Node library…). Accepted wherever a
   * write key is, and the events sent with one are `verified`.
   */
  serverWriteKeys?: readonly string[];
  /**
   * Origins allowed to call the API from a browser; `*` allows any. When it names origins,
   * browser writes from any other origin are refused (403).
   */
  allowedOrigins?: readonly string[];
  /** Per-IP, per-write-key and failed-authentication limits (access.ts); `false`: none (tests, benches). */
  rateLimit?: RateLimitOptions | false;
  /** Load shedding when the event loop lags (access.ts); none unless given (`keel serve` gives it). */
  shedding?: SheddingOptions | false;
  /**
   * Fastify's trustProxy: behind a reverse proxy, the client IP (for the per-IP limits) is taken
   * from X-Forwarded-For: `true`, a number of hops, or the proxies' addresses / CIDRs.
   */
  trustProxy?: boolean | number | string[];
  /** Largest accepted body, compressed or inflated; default 500 KB. */
  bodyLimit?: number;
  /** pino level: fatal, error, warn, info, debug, trace or silent; default info. */
  logLevel?: string;
  /** Published config, progress and tenant facts; the SQLite store provides all three. */
  config?: ConfigStore;
  progress?: ProgressStore;
  facts?: FactsStore;
  health?: HealthService;
  lifecycle?: LifecycleService;
  /** Alert rules' verdicts and fired alerts, for the admin API (the evaluator fires them). */
  alerts?: Pick<AlertService, 'explain' | 'list'>;
  /** Goals and holdouts measured (GET /v1/admin/outcomes). */
  outcomes?: OutcomeService;
  status?: StatusService;
  timeline?: (tenantId: string, page: { before?: string; limit?: number }) => Promise<{ items: unknown[]; next: string | null }>;
  /** Keys allowed to publish config and read the audit log (secret, server-side only). */
  adminKeys?: readonly string[];
  /** Secrets user tokens are signed with (HS256); several allow rotation. */
  secretKeys?: readonly string[];
  validateConfig?: (doc: unknown) => ConfigValidation;
  /** Fastify logger options, overriding `logLevel` (tests pass `false`). */
  logger?: FastifyServerOptions['logger'];
  /** The Prometheus registry and metrics (`keel serve` shares one with the store and the evaluator); default a fresh one. */
  metrics?: Metrics;
  /** Where the script-tag SDK served at /sdk/ lives; default @keel/embed's dist/; `false`: not served. */
  sdkDir?: string | false;
  /** GET /metrics without the admin key (`--metrics-public`); default false. */
  metricsPublic?: boolean;
}

export type { ConfigValidation } from './routes/common.js';
export type { IngestResponse } from './routes/ingest.js';
export { MAX_BATCH_MESSAGES } from './routes/ingest.js';

/** proxy-addr's "trust the first n hops", as Fastify does for a numeric trustProxy. */
const trustHops = (n: number) => (_addr: string, i: number) => i < n;

/** A version for the OpenAPI document: this package's. */
const API_VERSION = '0.1.0';

/**
 * The ingest API as a Fastify instance (not listening): `startServer` listens, tests `inject`.
 * Routes: routes/*.ts, listed at GET /openapi.json and in docs/api.md.
 */
export function buildApp(opts: AppOptions): FastifyInstance {
  const limit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const serverKeys = new Set(opts.serverWriteKeys ?? []);
  const app = Fastify({
    logger: opts.logger ?? { level: opts.logLevel ?? 'info' },
    bodyLimit: limit,
    return503OnClosing: true,
    // Request ids unique across restarts: a 500 names one, and so does its log line.
    genReqId: () => randomUUID(),
    ...(opts.trustProxy === undefined ? {} : { trustProxy: typeof opts.trustProxy === 'number' ? trustHops(opts.trustProxy) : opts.trustProxy }),
  });
  app.setValidatorCompiler(keelValidatorCompiler);
  app.setSerializerCompiler(keelSerializerCompiler);

  // Services and settings as decorators: every route plugin reads them from its instance.
  const settings: KeelSettings = {
    bodyLimit: limit,
    writeKeys: new Set([...opts.writeKeys, ...serverKeys]),
    publicWriteKeys: new Set(opts.writeKeys),
    serverWriteKeys: serverKeys,
    adminKeys: opts.adminKeys ?? [],
    secretKeys: opts.secretKeys ?? [],
    ...(opts.validateConfig ? { validateConfig: opts.validateConfig } : {}),
    metricsPublic: opts.metricsPublic ?? false,
  };
  app.decorate('keel', settings);
  app.decorate('eventStore', opts.store);
  app.decorate('configStore', opts.config);
  app.decorate('progressStore', opts.progress);
  app.decorate('factsStore', opts.facts);
  app.decorate('healthService', opts.health);
  app.decorate('lifecycleService', opts.lifecycle);
  app.decorate('alertService', opts.alerts);
  app.decorate('outcomeService', opts.outcomes);
  app.decorate('statusService', opts.status);
  app.decorate('timeline', opts.timeline);
  const metrics = opts.metrics ?? createMetrics();
  app.decorate('metrics', metrics);
  app.decorate('shuttingDown', false);
  app.addHook('preClose', async () => {
    app.shuttingDown = true;
  });
  app.decorateRequest('adminActor', undefined);
  app.decorateRequest('user', undefined);
  app.decorateRequest('writeKey', undefined);
  app.decorateRequest('errorCode', undefined);

  // Every body is read raw and decoded here, once, by the route's body mode (routes/common.ts
  // BodyMode): any content type is JSON (browsers send text/plain to skip a preflight, and
  // sendBeacon can't choose), gzip by header or magic bytes, depth and keys checked (body.ts).
  // A route without a body mode reads no body, so nothing is parsed for it (nor for a 404).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limit }, (req, body, done) => {
    const mode = req.routeOptions.config?.body;
    if (!mode || mode === 'ignore') return done(null, undefined);
    try {
      done(null, decodeBody(body as Buffer, req.headers['content-encoding'] as string | undefined, limit, mode === 'message' ? false : BODY_SHAPE));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  // A request with no body at all (no content type, no length) never reaches the parser.
  app.addHook('preValidation', async (req) => {
    const mode = req.routeOptions.config?.body;
    if (mode && mode !== 'ignore' && req.body === undefined) decodeBody(undefined, undefined);
  });

  // CORS, the origin allowlist, rate limits and load shedding: see access.ts.
  const access = registerAccess(app, { allowedOrigins: opts.allowedOrigins ?? [], rateLimit: opts.rateLimit, shedding: opts.shedding });
  app.decorate('access', access);

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const invalid = validationAnswer(err as Parameters<typeof validationAnswer>[0], req);
    const e = invalid ?? err;
    if (e instanceof HttpError) {
      req.errorCode = e.code;
      if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
      return reply.code(e.statusCode).send({ ok: false, error: e.code, message: e.message });
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      req.errorCode = 'payload_too_large';
      return reply.code(413).send({ ok: false, error: 'payload_too_large', message: `the body is larger than ${limit} bytes; send smaller batches` });
    }
    if (err.statusCode && err.statusCode < 500) {
      req.errorCode = 'bad_request';
      return reply.code(err.statusCode).send({ ok: false, error: 'bad_request', message: err.message });
    }
    // Unexpected: a bug, not the request's fault, and retrying may fail the same way. The
    // request id is in the answer and in the log line (pino's reqId), to find one from the other.
    req.errorCode = 'internal';
    req.log.error({ err, requestId: req.id }, 'request failed');
    return reply
      .code(500)
      .header('x-request-id', req.id)
      .send({
        ok: false,
        error: 'internal',
        requestId: req.id,
        message: `the server failed unexpectedly on this request (request id ${req.id}, logged with the error); this is a server bug, please report it with the id`,
      });
  });

  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      ok: false,
      error: 'not_found',
      message: `no route ${req.method} ${req.url.split('?')[0]}; the ingest API serves POST /v1/batch, POST /v1/beacon, POST /v1/{${MESSAGE_TYPES.join(',')}}, GET /v1/config, GET|PUT /v1/progress, /v1/admin/… and GET /healthz`,
    }),
  );

  // Latency by route pattern (never the raw URL) and status class; ingest refusals and whole-request rejections.
  app.addHook('onResponse', async (req, reply) => {
    const status = reply.statusCode;
    metrics.http.observe(
      { route: req.routeOptions.url ?? '(no route)', method: req.method, status_class: `${Math.floor(status / 100)}xx` },
      reply.elapsedTime / 1000,
    );
    if (!req.routeOptions.config?.ingest || status < 400) return;
    const refusal = refusalOf(status, req.errorCode);
    if (refusal) metrics.refused.inc({ reason: refusal });
    else if (req.errorCode !== 'invalid_messages') metrics.rejected.inc({ reason: req.errorCode ?? 'bad_request' }); // counted per message already
  });

  // OpenAPI 3 from the route schemas (zod, through fastify-type-provider-zod), at GET /openapi.json.
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Keel ingest API',
        version: API_VERSION,
        description: 'Events in (Segment-compatible), config and progress out, the admin API, operations. Generated from the route schemas.',
      },
      tags: [
        { name: 'ingest', description: 'Events from the SDK and backends' },
        { name: 'segment', description: "Segment's analytics-next, unchanged" },
        { name: 'config', description: 'The published config' },
        { name: 'progress', description: 'Per-user progress (user token)' },
        { name: 'tenants', description: "A tenant's lifecycle, health and timeline (admin key, or the tenant's admin)" },
        { name: 'status', description: "The tenant's status page (user token)" },
        { name: 'admin', description: 'Config publishing, drafts, audit, incidents (admin key)' },
        { name: 'operations', description: 'Health, readiness, metrics, this document' },
      ],
      components: {
        securitySchemes: {
          writeKey: {
            type: 'http',
            scheme: 'basic',
            description: 'the write key as the HTTP Basic username (or "writeKey" in the body, or ?writeKey= for beacons)',
          },
          adminKey: { type: 'http', scheme: 'bearer', description: 'an admin key (--admin-key), for servers: refused on requests a browser made' },
          userToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: "a user token (HS256, --secret-key) minted by the vendor's backend" },
        },
      },
    },
    transform: keelSwaggerTransform,
  });

  app.register(ingestRoutes);
  app.register(segmentRoutes);
  app.register(configRoutes);
  app.register(adminRoutes);
  app.register(progressRoutes);
  app.register(tenantRoutes);
  app.register(statusRoutes);
  app.register(opsRoutes);
  app.register(sdkRoutes(opts.sdkDir));
  return app;
}
