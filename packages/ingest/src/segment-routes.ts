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
import { BatchEnvelopeSchema, formatIssues, type MessageType } from '@keel/sdk-core/schema';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodeBody } from './body.js';
import { HttpError } from './errors.js';
import type { Envelope } from './messages.js';

/** `/v1/<letter>` → message type, as analytics-next derives the path from `type.charAt(0)`. */
export const SEGMENT_PATHS: Record<string, MessageType> = { t: 'track', p: 'page', i: 'identify', g: 'group', a: 'alias', s: 'screen' };

export interface SegmentRouteOptions {
  /** Public write keys: the ones a settings document may be served for. */
  writeKeys: ReadonlySet<string>;
  serverWriteKeys: ReadonlySet<string>;
  bodyLimit: number;
  authorise(req: FastifyRequest, body: unknown): string;
  ingest(req: FastifyRequest, reply: FastifyReply, inputs: unknown[], writeKey: string, env: Envelope, forcedType: string | undefined, userToken: unknown): Promise<unknown>;
}

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

export function registerSegmentRoutes(app: FastifyInstance, o: SegmentRouteOptions): void {
  const quiet = { logLevel: 'warn' as const };
  const read = (req: FastifyRequest) => decodeBody(req.body as Buffer | undefined, req.headers['content-encoding'] as string | undefined, o.bodyLimit);

  for (const [letter, type] of Object.entries(SEGMENT_PATHS)) {
    app.post(`/v1/${letter}`, quiet, async (req, reply) => {
      const body = read(req);
      const writeKey = o.authorise(req, body);
      if (!isObj(body)) throw new HttpError(400, 'invalid_message', `expected a ${type} message object, found ${Array.isArray(body) ? 'array' : body === null ? 'null' : typeof body}`);
      const { writeKey: _k, userToken, ...message } = body;
      return o.ingest(req, reply, [message], writeKey, {}, type, userToken);
    });
  }

  app.post('/v1/b', quiet, async (req, reply) => {
    const body = read(req);
    const writeKey = o.authorise(req, body);
    const env = BatchEnvelopeSchema.safeParse(body);
    if (!env.success) {
      const issues = formatIssues(env.error);
      throw new HttpError(400, 'invalid_batch', `expected {"batch": [messages]}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
    }
    return o.ingest(req, reply, env.data.batch.map(withoutKey), writeKey, env.data, undefined, (body as { userToken?: unknown }).userToken);
  });

  // analytics-next's own usage metrics: accepted and ignored (the settings turn them off).
  app.post('/v1/m', quiet, async (_req, reply) => reply.code(200).send({ ok: true, ignored: true }));

  app.get<{ Params: { writeKey: string } }>('/v1/projects/:writeKey/settings', quiet, async (req, reply) => {
    const key = req.params.writeKey;
    if (o.serverWriteKeys.has(key)) {
      throw new HttpError(403, 'server_write_key', 'this is a server-side write key: it is secret, never put it in a page; load analytics-next with a public write key');
    }
    if (!o.writeKeys.has(key)) throw new HttpError(404, 'unknown_write_key', `unknown write key "${key.length > 12 ? `${key.slice(0, 8)}…` : key}"`);
    const host = (req.headers['x-forwarded-host'] as string | undefined)?.split(',')[0]?.trim() || req.headers.host;
    if (!host || !HOST.test(host)) throw new HttpError(400, 'invalid_host', `the Host header ${JSON.stringify(host ?? '')} is not a host name: the settings point analytics-next at this server by it`);
    const fwd = (req.headers['x-forwarded-proto'] as string | undefined)?.split(',')[0]?.trim();
    const protocol = fwd === 'https' || fwd === 'http' ? fwd : req.protocol === 'https' ? 'https' : 'http';
    return reply.header('cache-control', 'public, max-age=300').send(segmentSettings(key, host, protocol));
  });
}
