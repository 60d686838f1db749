import { BatchEnvelopeSchema, checkShape, formatIssues, MAX_JSON_DEPTH, MESSAGE_TYPES } from '@keel/sdk-core/schema';
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { type RateLimitOptions, registerAccess, type SheddingOptions } from './access.js';
import { DEFAULT_BODY_LIMIT, decodeBody } from './body.js';
import { HttpError } from './errors.js';
import { StorageFaultError } from './store/faults.js';
import { type Envelope, type Rejected, toRows } from './messages.js';
import { type ConfigValidation, registerStateRoutes } from './routes-state.js';
import { registerSegmentRoutes } from './segment-routes.js';
import { verifyUserToken } from './token.js';
import type { LifecycleService } from './health/lifecycle.js';
import type { StatusService } from './health/status.js';
import type { HealthService } from './health/service.js';
import type { ConfigStore, FactsStore, ProgressStore } from './store/state-types.js';
import type { EventStore, Sender } from './store/types.js';

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
  status?: StatusService;
  timeline?: (tenantId: string, page: { before?: string; limit?: number }) => Promise<{ items: unknown[]; next: string | null }>;
  /** Keys allowed to publish config and read the audit log (secret, server-side only). */
  adminKeys?: readonly string[];
  /** Secrets user tokens are signed with (HS256); several allow rotation. */
  secretKeys?: readonly string[];
  validateConfig?: (doc: unknown) => ConfigValidation;
  /** Fastify logger options, overriding `logLevel` (tests pass `false`). */
  logger?: FastifyServerOptions['logger'];
}

export interface IngestResponse {
  ok: boolean;
  accepted: number;
  duplicates: number;
  rejected: Rejected[];
  /** Why a user token sent with the batch did not count (its events are stored unverified). */
  userToken?: { ok: false; error: string; message: string };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The write key from HTTP Basic (Segment's way), the body, or the query string (beacons). */
function writeKeyOf(req: FastifyRequest, body: unknown): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const user = decoded.split(':')[0];
    if (user) return user;
  }
  if (isObj(body) && typeof body.writeKey === 'string' && body.writeKey) return body.writeKey;
  const q = (req.query as Record<string, unknown> | undefined)?.writeKey;
  return typeof q === 'string' && q ? q : undefined;
}

/** Most messages in one batch: a 500 KB batch of small events holds a few thousand. */
export const MAX_BATCH_MESSAGES = 10_000;

/**
 * The batch envelope's own limits, apart from its messages (each is checked on its own, so one
 * too deep is rejected alone): as deep and as wide as a message may be, at most 10,000 messages.
 */
function checkEnvelope(body: unknown): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
  const batch = (body as Record<string, unknown>).batch;
  if (Array.isArray(batch) && batch.length > MAX_BATCH_MESSAGES) {
    throw new HttpError(400, 'batch_too_long', `the batch has ${batch.length} messages, over the limit of ${MAX_BATCH_MESSAGES}; send smaller batches`);
  }
  const issue = checkShape(body, { maxDepth: MAX_JSON_DEPTH, maxKeys: 10_000 }, { skip: 'batch' });
  if (issue) {
    throw new HttpError(400, issue.limit === 'depth' ? 'envelope_too_deep' : 'envelope_too_many_keys', `the batch envelope${issue.path ? ` at ${issue.path}` : ''} ${issue.message}`);
  }
}

/** proxy-addr's "trust the first n hops", as Fastify does for a numeric trustProxy. */
const trustHops = (n: number) => (_addr: string, i: number) => i < n;

const shown = (key: string) => (key.length > 12 ? `${key.slice(0, 8)}…` : key);

/**
 * The ingest API as a Fastify instance (not listening): `startServer` listens, tests `inject`.
 * Routes: POST /v1/batch, /v1/beacon, /v1/{track,identify,group,page,screen,alias}; GET /healthz.
 */
export function buildApp(opts: AppOptions): FastifyInstance {
  const limit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const serverKeys = new Set(opts.serverWriteKeys ?? []);
  const keys = new Set([...opts.writeKeys, ...serverKeys]);
  const app = Fastify({
    logger: opts.logger ?? { level: opts.logLevel ?? 'info' },
    bodyLimit: limit,
    return503OnClosing: true,
    // Request ids unique across restarts: a 500 names one, and so does its log line.
    genReqId: () => randomUUID(),
    ...(opts.trustProxy === undefined ? {} : { trustProxy: typeof opts.trustProxy === 'number' ? trustHops(opts.trustProxy) : opts.trustProxy }),
  });

  // Every body is read raw and parsed here: see decodeBody.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limit }, (_req, body, done) => done(null, body));

  // CORS, the origin allowlist, rate limits and load shedding: see access.ts.
  const access = registerAccess(app, { allowedOrigins: opts.allowedOrigins ?? [], rateLimit: opts.rateLimit, shedding: opts.shedding });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof HttpError) {
      if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
      return reply.code(err.statusCode).send({ ok: false, error: err.code, message: err.message });
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ ok: false, error: 'payload_too_large', message: `the body is larger than ${limit} bytes; send smaller batches` });
    }
    if (err.statusCode && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ ok: false, error: 'bad_request', message: err.message });
    }
    // Unexpected: a bug, not the request's fault, and retrying may fail the same way. The
    // request id is in the answer and in the log line (pino's reqId), to find one from the other.
    req.log.error({ err, requestId: req.id }, 'request failed');
    return reply.code(500).header('x-request-id', req.id).send({
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

  // While the store can't write (disk full, read-only), /healthz says so: 503, degraded, the cause.
  app.get('/healthz', { logLevel: 'warn' }, async (req, reply) => {
    try {
      await opts.store.ping();
    } catch (e) {
      if (!(e instanceof StorageFaultError)) throw e;
      access.noteFault(req.log, e);
      reply.code(503).header('retry-after', String(e.retryAfter));
      return { ok: false, status: 'degraded', store: opts.store.kind, cause: e.reason, since: e.since };
    }
    return { ok: true, store: opts.store.kind };
  });

  const authorise = (req: FastifyRequest, body: unknown): string => {
    const key = writeKeyOf(req, body);
    if (!key) {
      throw new HttpError(401, 'missing_write_key', 'no write key: send it as the HTTP Basic username, as "writeKey" in the body, or as ?writeKey= on /v1/beacon');
    }
    if (!keys.has(key)) throw new HttpError(401, 'unknown_write_key', `unknown write key "${shown(key)}"`);
    return key;
  };

  /**
   * Who sent the batch: a server-side key, a page with a valid user token (`userToken` in the body,
   * or `Authorization: Bearer`), or anyone. A bad token costs the events only their trust.
   */
  const senderOf = async (req: FastifyRequest, writeKey: string, token: unknown): Promise<{ sender: Sender; problem?: IngestResponse['userToken'] }> => {
    if (serverKeys.has(writeKey)) return { sender: { kind: 'server' } };
    const auth = req.headers.authorization;
    const t = typeof token === 'string' && token ? token : auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    if (!t) return { sender: { kind: 'anonymous' } };
    try {
      const c = await verifyUserToken(t, opts.secretKeys ?? []);
      return { sender: { kind: 'user', userId: c.userId, tenantId: c.tenantId } };
    } catch (e) {
      const err = e as HttpError;
      return { sender: { kind: 'anonymous' }, problem: { ok: false, error: err.code ?? 'invalid_user_token', message: `${err.message}; the events were stored unverified` } };
    }
  };

  async function store(reply: FastifyReply, inputs: unknown[], writeKey: string, env: Envelope, forcedType?: string, req?: FastifyRequest, token?: unknown) {
    await access.limitWriteKey(reply.request, writeKey);
    const { rows, rejected } = toRows(inputs, writeKey, env, Date.now(), forcedType);
    const who = req ? await senderOf(req, writeKey, token) : { sender: { kind: 'anonymous' } as Sender };
    for (const r of rows) r.sender = who.sender;
    const { inserted, duplicates } = await opts.store.insert(rows);
    const res: IngestResponse = { ok: rejected.length === 0, accepted: inserted, duplicates, rejected };
    if ('problem' in who && who.problem) res.userToken = who.problem;
    if (rows.length === 0) {
      return reply.code(400).send({
        ...res,
        error: 'invalid_messages',
        message: inputs.length === 1 ? `the message was rejected: ${rejected[0]!.errors.map((e) => `${e.path || '(root)'}: ${e.message}`).join('; ')}` : `all ${inputs.length} messages were rejected`,
      });
    }
    return reply.code(200).send(res);
  }

  const batchHandler = async (req: FastifyRequest, reply: FastifyReply) => {
    const body = decodeBody(req.body as Buffer | undefined, req.headers['content-encoding'] as string | undefined, limit, false);
    const writeKey = authorise(req, body);
    checkEnvelope(body);
    const env = BatchEnvelopeSchema.safeParse(body);
    if (!env.success) {
      const issues = formatIssues(env.error);
      throw new HttpError(400, 'invalid_batch', `expected {"batch": [messages]}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
    }
    return store(reply, env.data.batch, writeKey, env.data, undefined, req, (body as { userToken?: unknown }).userToken);
  };
  // Per-request access logs would cost more than the ingest itself: routes log warnings and up.
  const quiet = { logLevel: 'warn' as const };
  app.post('/v1/batch', quiet, batchHandler);
  app.post('/v1/beacon', quiet, batchHandler);

  for (const type of MESSAGE_TYPES) {
    app.post(`/v1/${type}`, quiet, async (req, reply) => {
      // The message is the body: its limits are checked as a message's (toRows), naming them.
      const body = decodeBody(req.body as Buffer | undefined, req.headers['content-encoding'] as string | undefined, limit, false);
      const writeKey = authorise(req, body);
      if (!isObj(body)) throw new HttpError(400, 'invalid_message', `expected a ${type} message object, found ${Array.isArray(body) ? 'array' : body === null ? 'null' : typeof body}`);
      const { writeKey: _k, userToken, ...message } = body;
      return store(reply, [message], writeKey, {}, type, req, userToken);
    });
  }

  registerSegmentRoutes(app, {
    writeKeys: new Set(opts.writeKeys), serverWriteKeys: serverKeys, bodyLimit: limit, authorise,
    ingest: (req, reply, inputs, writeKey, env, forcedType, token) => store(reply, inputs, writeKey, env, forcedType, req, token),
  });

  registerStateRoutes(app, {
    config: opts.config, progress: opts.progress, facts: opts.facts, health: opts.health, lifecycle: opts.lifecycle, status: opts.status, timeline: opts.timeline, adminKeys: opts.adminKeys, secretKeys: opts.secretKeys,
    validateConfig: opts.validateConfig, writeKeys: keys, bodyLimit: limit, writeKeyOf,
  });

  return app;
}
