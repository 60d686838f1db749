/**
 * Segment's browser library (`@segment/analytics-next`, analytics.js 2.0) unchanged: the routes it
 * posts to and the settings document it loads, so `AnalyticsBrowser.load({ writeKey, cdnURL })`
 * with `cdnURL` pointing at this server needs nothing from Segment.
 *
 * What it sends (read from its sources): each message as `text/plain` JSON with the write key in
 * the body (`writeKey`) and as HTTP Basic, by `fetch` (keepalive when configured, and on page
 * unload for batches), to `<protocol>://<apiHost>/<first letter of the type>` one message a
 * request (the default "standard" delivery), or `{ batch, sentAt, writeKey }` to `<apiHost>/b`
 * with the batching delivery strategy; retries carry an `X-Retry-Count` header. Its own usage
 * metrics go to `<metrics host>/m`; the settings below turn them off (`sampleRate: 0`), and the
 * route still accepts and ignores them.
 */
import type { MessageType } from '@keel/sdk-core/schema';
import type { FastifyPluginAsync } from 'fastify';
import * as z from 'zod';
import { HttpError } from '../errors.js';
import { errorAnswers, requireWriteKey, security } from './common.js';
import { BATCH_BODY_DOC, IngestAnswer, ingest, MESSAGE_BODY_DOC, messageBody, parseBatch } from './ingest.js';

/** `/v1/<letter>` → message type, as analytics-next derives the path from `type.charAt(0)`. */
export const SEGMENT_PATHS: Record<string, MessageType> = { t: 'track', p: 'page', i: 'identify', g: 'group', a: 'alias', s: 'screen' };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** analytics-next repeats the write key in every message; it is not part of the event. */
const withoutKey = (m: unknown) => {
  if (!isObj(m) || !('writeKey' in m)) return m;
  const { writeKey: _k, ...rest } = m;
  return rest;
};
const HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * The settings document analytics-next loads from `<cdnURL>/v1/projects/<writeKey>/settings`:
 * only the Segment.io destination, pointing at this server (`apiHost` is host and path, no
 * scheme; `protocol` apart), no device-mode destinations, remote plugins or middleware, and
 * Segment's own metrics off.
 */
export function segmentSettings(writeKey: string, host: string, protocol: 'http' | 'https') {
  const apiHost = `${host}/v1`;
  return {
    integrations: {
      'Segment.io': { apiKey: writeKey, apiHost, protocol, addBundledMetadata: false, unbundledIntegrations: [], retryQueue: true },
    },
    plan: {},
    edgeFunction: {},
    analyticsNextEnabled: true,
    middlewareSettings: {},
    enabledMiddleware: {},
    metrics: { sampleRate: 0, host: apiHost },
    legacyVideoPluginsEnabled: false,
    remotePlugins: [],
  };
}

const ingestAnswers = { 200: IngestAnswer, 400: IngestAnswer, ...errorAnswers(401, 403, 413, 415, 429, 503) };
const SettingsAnswer = z
  .looseObject({ integrations: z.record(z.string(), z.unknown()), metrics: z.looseObject({ sampleRate: z.number() }) })
  .describe('an analytics-next settings document');

export const segmentRoutes: FastifyPluginAsync = async (app) => {
  // These bodies were always held to the whole-body limits (body.ts BODY_SHAPE), unlike /v1/batch's.
  const common = { logLevel: 'warn' as const, config: { body: 'document' as const, ingest: true }, preValidation: requireWriteKey };
  const tags = ['segment'];

  for (const [letter, type] of Object.entries(SEGMENT_PATHS)) {
    app.post(
      `/v1/${letter}`,
      {
        ...common,
        schema: { tags, security: security.writeKey, summary: `analytics-next: one ${type} message`, body: MESSAGE_BODY_DOC, response: ingestAnswers },
      },
      async (req, reply) => {
        const { writeKey: _k, userToken, ...message } = messageBody(req.body, type);
        return ingest(req, reply, [message], {}, type, userToken);
      },
    );
  }

  app.post(
    '/v1/b',
    {
      ...common,
      schema: {
        tags,
        security: security.writeKey,
        summary: 'analytics-next: a batch (the batching delivery strategy)',
        body: BATCH_BODY_DOC,
        response: ingestAnswers,
      },
    },
    async (req, reply) => {
      // No envelope limits here, as before: the whole body was held to the document limits instead (body mode below).
      const env = parseBatch(req.body, false);
      return ingest(req, reply, env.batch.map(withoutKey), env, undefined, (req.body as { userToken?: unknown }).userToken);
    },
  );

  // analytics-next's own usage metrics: accepted and ignored (the settings turn them off).
  app.post(
    '/v1/m',
    {
      logLevel: 'warn',
      config: { body: 'ignore' },
      schema: {
        tags,
        security: security.writeKey,
        summary: 'analytics-next usage metrics: accepted and ignored',
        response: { 200: z.object({ ok: z.literal(true), ignored: z.literal(true) }) },
      },
    },
    async (_req, reply) => reply.code(200).send({ ok: true as const, ignored: true as const }),
  );

  app.get(
    '/v1/projects/:writeKey/settings',
    {
      logLevel: 'warn',
      schema: {
        tags,
        summary: 'analytics-next settings for a public write key',
        params: z.object({ writeKey: z.string() }),
        response: { 200: SettingsAnswer, ...errorAnswers(400, 403, 404) },
      },
    },
    async (req, reply) => {
      const key = (req.params as { writeKey: string }).writeKey;
      if (app.keel.serverWriteKeys.has(key)) {
        throw new HttpError(
          403,
          'server_write_key',
          'this is a server-side write key: it is secret, never put it in a page; load analytics-next with a public write key',
        );
      }
      if (!app.keel.publicWriteKeys.has(key))
        throw new HttpError(404, 'unknown_write_key', `unknown write key "${key.length > 12 ? `${key.slice(0, 8)}…` : key}"`);
      const host = (req.headers['x-forwarded-host'] as string | undefined)?.split(',')[0]?.trim() || req.headers.host;
      if (!host || !HOST.test(host))
        throw new HttpError(
          400,
          'invalid_host',
          `the Host header ${JSON.stringify(host ?? '')} is not a host name: the settings point analytics-next at this server by it`,
        );
      const fwd = (req.headers['x-forwarded-proto'] as string | undefined)?.split(',')[0]?.trim();
      const protocol = fwd === 'https' || fwd === 'http' ? fwd : req.protocol === 'https' ? 'https' : 'http';
      return reply.header('cache-control', 'public, max-age=300').send(segmentSettings(key, host, protocol));
    },
  );
};
