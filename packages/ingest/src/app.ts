import { BatchEnvelopeSchema, formatIssues, MESSAGE_TYPES } from '@keel/sdk-core/schema';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { DEFAULT_BODY_LIMIT, decodeBody } from './body.js';
import { HttpError } from './errors.js';
import { type Envelope, type Rejected, toRows } from './messages.js';
import { type ConfigValidation, registerStateRoutes } from './routes-state.js';
import type { LifecycleService } from './health/lifecycle.js';
import type { StatusService } from './health/status.js';
import type { HealthService } from './health/service.js';
import type { ConfigStore, FactsStore, ProgressStore } from './store/state-types.js';
import type { EventStore } from './store/types.js';

export interface AppOptions {
  store: EventStore;
  /** Write keys this server accepts. */
  writeKeys: readonly string[];
  /** Origins allowed to call the API from a browser; `*` allows any. */
  allowedOrigins?: readonly string[];
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

const shown = (key: string) => (key.length > 12 ? `${key.slice(0, 8)}…` : key);

/**
 * The ingest API as a Fastify instance (not listening): `startServer` listens, tests `inject`.
 * Routes: POST /v1/batch, /v1/beacon, /v1/{track,identify,group,page,screen,alias}; GET /healthz.
 */
export function buildApp(opts: AppOptions): FastifyInstance {
  const limit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const keys = new Set(opts.writeKeys);
  const origins = new Set(opts.allowedOrigins ?? []);
  const anyOrigin = origins.has('*');
  const app = Fastify({
    logger: opts.logger ?? { level: opts.logLevel ?? 'info' },
    bodyLimit: limit,
    return503OnClosing: true,
  });

  // Every body is read raw and parsed here: see decodeBody.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limit }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin;
    if (!origin || !(anyOrigin || origins.has(origin))) return;
    reply.header('access-control-allow-origin', origin);
    reply.header('access-control-allow-credentials', 'true');
    reply.header('vary', 'Origin');
    reply.header('access-control-expose-headers', 'etag, retry-after');
    if (req.method === 'OPTIONS') {
      reply.header('access-control-allow-methods', 'GET, POST, PUT, OPTIONS');
      reply.header('access-control-allow-headers', 'authorization, content-type, content-encoding, if-none-match');
      reply.header('access-control-max-age', '86400');
    }
  });

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
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ ok: false, error: 'internal', message: 'the server failed to handle this request; it is safe to retry' });
  });

  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      ok: false,
      error: 'not_found',
      message: `no route ${req.method} ${req.url.split('?')[0]}; the ingest API serves POST /v1/batch, POST /v1/beacon, POST /v1/{${MESSAGE_TYPES.join(',')}}, GET /v1/config, GET|PUT /v1/progress, /v1/admin/… and GET /healthz`,
    }),
  );

  app.options('/*', { logLevel: 'warn' }, async (_req, reply) => reply.code(204).send());

  app.get('/healthz', { logLevel: 'warn' }, async () => {
    await opts.store.ping();
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

  async function store(reply: FastifyReply, inputs: unknown[], writeKey: string, env: Envelope, forcedType?: string) {
    const { rows, rejected } = toRows(inputs, writeKey, env, Date.now(), forcedType);
    const { inserted, duplicates } = await opts.store.insert(rows);
    const res: IngestResponse = { ok: rejected.length === 0, accepted: inserted, duplicates, rejected };
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
    const body = decodeBody(req.body as Buffer | undefined, req.headers['content-encoding'] as string | undefined, limit);
    const writeKey = authorise(req, body);
    const env = BatchEnvelopeSchema.safeParse(body);
    if (!env.success) {
      const issues = formatIssues(env.error);
      throw new HttpError(400, 'invalid_batch', `expected {"batch": [messages]}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
    }
    return store(reply, env.data.batch, writeKey, env.data);
  };
  // Per-request access logs would cost more than the ingest itself: routes log warnings and up.
  const quiet = { logLevel: 'warn' as const };
  app.post('/v1/batch', quiet, batchHandler);
  app.post('/v1/beacon', quiet, batchHandler);

  for (const type of MESSAGE_TYPES) {
    app.post(`/v1/${type}`, quiet, async (req, reply) => {
      const body = decodeBody(req.body as Buffer | undefined, req.headers['content-encoding'] as string | undefined, limit);
      const writeKey = authorise(req, body);
      if (!isObj(body)) throw new HttpError(400, 'invalid_message', `expected a ${type} message object, found ${Array.isArray(body) ? 'array' : body === null ? 'null' : typeof body}`);
      const { writeKey: _k, ...message } = body;
      return store(reply, [message], writeKey, {}, type);
    });
  }

  registerStateRoutes(app, {
    config: opts.config, progress: opts.progress, facts: opts.facts, health: opts.health, lifecycle: opts.lifecycle, status: opts.status, timeline: opts.timeline, adminKeys: opts.adminKeys, secretKeys: opts.secretKeys,
    validateConfig: opts.validateConfig, writeKeys: keys, bodyLimit: limit, writeKeyOf,
  });

  return app;
}
