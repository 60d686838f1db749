// For operators and load balancers: /healthz (liveness, storage faults), /readyz (readiness),
// /metrics (Prometheus) and /openapi.json (this API, generated from the route schemas).
import type { FastifyPluginAsync } from 'fastify';
import * as z from 'zod';
import { StorageFaultError } from '../store/faults.js';
import { documentationOnly } from './schemas.js';
import { errorAnswers, requireAdminKey, security } from './common.js';

/** Seconds a load balancer waits before asking a server that is shutting down again (it won't come back: another takes over). */
const SHUTDOWN_RETRY_AFTER_S = 5;
const tags = ['operations'];

export const opsRoutes: FastifyPluginAsync = async (app) => {
  const store = app.eventStore;

  // While the store can't write (disk full, read-only), /healthz says so: 503, degraded, the cause.
  app.get(
    '/healthz',
    {
      logLevel: 'warn',
      schema: {
        tags,
        summary: 'Liveness: the store answers, or the storage fault it is in',
        response: {
          200: z.object({ ok: z.literal(true), store: z.string() }),
          503: z.object({ ok: z.literal(false), status: z.literal('degraded'), store: z.string(), cause: z.string(), since: z.string() }),
        },
      },
    },
    async (req, reply) => {
      try {
        await store.ping();
      } catch (e) {
        if (!(e instanceof StorageFaultError)) throw e;
        app.access.noteFault(req.log, e);
        reply.code(503).header('retry-after', String(e.retryAfter));
        return { ok: false as const, status: 'degraded' as const, store: store.kind, cause: e.reason, since: e.since };
      }
      return { ok: true as const, store: store.kind };
    },
  );

  // Readiness, for a load balancer: send traffic here or not. Not ready while shutting down or
  // while the store can't write (what it would refuse with 503 anyway); Retry-After says when to ask again.
  app.get(
    '/readyz',
    {
      logLevel: 'warn',
      schema: {
        tags,
        summary: 'Readiness: the store answers a ping and the server is not shutting down',
        response: { 200: z.object({ ready: z.literal(true) }), 503: z.object({ ready: z.literal(false), reason: z.string(), since: z.string().optional() }) },
      },
    },
    async (req, reply) => {
      const notReady = (reason: string, retryAfter: number, since?: string) => {
        reply.code(503).header('retry-after', String(retryAfter));
        return { ready: false as const, reason, ...(since ? { since } : {}) };
      };
      if (app.shuttingDown) return notReady('shutting down', SHUTDOWN_RETRY_AFTER_S);
      try {
        await store.ping();
      } catch (e) {
        if (!(e instanceof StorageFaultError)) throw e;
        app.access.noteFault(req.log, e);
        return notReady(`storage fault: ${e.reason}`, e.retryAfter ?? 5, e.since);
      }
      const fault = (store as { fault?: StorageFaultError }).fault;
      if (fault) return notReady(`storage fault: ${fault.reason}`, fault.retryAfter ?? 5, fault.since);
      return { ready: true as const };
    },
  );

  // The admin key guards it (route names, error codes and volumes say a lot about a deployment),
  // unless `--metrics-public`, for a scraper on a private network.
  app.get(
    '/metrics',
    {
      logLevel: 'warn',
      ...(app.keel.metricsPublic ? {} : { onRequest: requireAdminKey }),
      schema: {
        tags,
        ...(app.keel.metricsPublic ? {} : { security: security.adminKey }),
        summary: `Prometheus metrics (text exposition format)${app.keel.metricsPublic ? '' : '; the admin key, unless --metrics-public'}`,
        response: { 200: documentationOnly(z.string().describe('Prometheus text exposition format')), ...errorAnswers(401, 403, 501) },
      },
    },
    async (_req, reply) => reply.type(app.metrics.registry.contentType).send(await app.metrics.registry.metrics()),
  );

  app.get(
    '/openapi.json',
    {
      logLevel: 'warn',
      schema: { tags, summary: 'This API as an OpenAPI 3 document', response: { 200: documentationOnly(z.looseObject({ openapi: z.string() })) } },
    },
    async () => app.swagger(),
  );
};
