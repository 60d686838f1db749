// The ingest routes: POST /v1/batch, /v1/beacon and /v1/{track,identify,group,page,screen,alias}.
import { BatchEnvelopeSchema, checkShape, formatIssues, MAX_JSON_DEPTH, MESSAGE_TYPES } from '@keel/sdk-core/schema';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import * as z from 'zod';
import { HttpError } from '../errors.js';
import { type Envelope, type Rejected, toRows } from '../messages.js';
import type { Sender } from '../store/types.js';
import { verifyUserToken } from '../token.js';
import { documentationOnly } from './schemas.js';
import { errorAnswers, requireWriteKey, security } from './common.js';

export interface IngestResponse {
  ok: boolean;
  accepted: number;
  duplicates: number;
  rejected: Rejected[];
  /** Why a user token sent with the batch did not count (its events are stored unverified). */
  userToken?: { ok: false; error: string; message: string };
}

/** Most messages in one batch: a 500 KB batch of small events holds a few thousand. */
export const MAX_BATCH_MESSAGES = 10_000;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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
    throw new HttpError(
      400,
      issue.limit === 'depth' ? 'envelope_too_deep' : 'envelope_too_many_keys',
      `the batch envelope${issue.path ? ` at ${issue.path}` : ''} ${issue.message}`,
    );
  }
}

/** The envelope checks and BatchEnvelopeSchema, answered `invalid_batch` naming the issues. */
export function parseBatch(body: unknown, envelopeLimits = true) {
  if (envelopeLimits) checkEnvelope(body);
  const env = BatchEnvelopeSchema.safeParse(body);
  if (!env.success) {
    const issues = formatIssues(env.error);
    throw new HttpError(400, 'invalid_batch', `expected {"batch": [messages]}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return env.data;
}

/** A single message's body: an object (its limits are checked as a message's, in toRows). */
export function messageBody(body: unknown, type: string): Record<string, unknown> {
  if (!isObj(body))
    throw new HttpError(
      400,
      'invalid_message',
      `expected a ${type} message object, found ${Array.isArray(body) ? 'array' : body === null ? 'null' : typeof body}`,
    );
  return body;
}

/**
 * Who sent the batch: a server-side key, a page with a valid user token (`userToken` in the body,
 * or `Authorization: Bearer`), or anyone. A bad token costs the events only their trust.
 */
async function senderOf(req: FastifyRequest, writeKey: string, token: unknown): Promise<{ sender: Sender; problem?: IngestResponse['userToken'] }> {
  if (req.server.keel.serverWriteKeys.has(writeKey)) return { sender: { kind: 'server' } };
  const auth = req.headers.authorization;
  const t = typeof token === 'string' && token ? token : auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
  if (!t) return { sender: { kind: 'anonymous' } };
  try {
    const c = await verifyUserToken(t, req.server.keel.secretKeys);
    return { sender: { kind: 'user', userId: c.userId, tenantId: c.tenantId } };
  } catch (e) {
    const err = e as HttpError;
    return {
      sender: { kind: 'anonymous' },
      problem: { ok: false, error: err.code ?? 'invalid_user_token', message: `${err.message}; the events were stored unverified` },
    };
  }
}

/** Validates `inputs` one by one, stores the valid ones and answers with the counts (every ingest route ends here). */
export async function ingest(req: FastifyRequest, reply: FastifyReply, inputs: unknown[], env: Envelope, forcedType: string | undefined, token: unknown) {
  const app = req.server;
  const writeKey = req.writeKey!;
  await app.access.limitWriteKey(req, writeKey);
  const { rows, rejected } = toRows(inputs, writeKey, env, Date.now(), forcedType);
  const who = await senderOf(req, writeKey, token);
  for (const r of rows) r.sender = who.sender;
  const { inserted, duplicates } = await app.eventStore.insert(rows);
  const m = app.metrics;
  m.accepted.inc(inserted);
  if (duplicates) m.duplicates.inc(duplicates);
  // Issues carry words, not codes: a message rejected on its own counts as invalid_message.
  if (rejected.length) m.rejected.inc({ reason: 'invalid_message' }, rejected.length);
  const res: IngestResponse = { ok: rejected.length === 0, accepted: inserted, duplicates, rejected };
  if (who.problem) res.userToken = who.problem;
  if (rows.length === 0) {
    req.errorCode = 'invalid_messages';
    return reply.code(400).send({
      ...res,
      error: 'invalid_messages',
      message:
        inputs.length === 1
          ? `the message was rejected: ${rejected[0]!.errors.map((e) => `${e.path || '(root)'}: ${e.message}`).join('; ')}`
          : `all ${inputs.length} messages were rejected`,
    });
  }
  return reply.code(200).send(res);
}

const Issue = z.object({ path: z.string(), message: z.string() });
/**
 * The ingest answer. Documentation only (see schemas.ts): Fastify's plain JSON.stringify is
 * cheaper than a zod encode before it, on the route every event goes through.
 */
export const IngestAnswer = documentationOnly(
  z.looseObject({
    ok: z.boolean().describe('false when any message was rejected'),
    accepted: z.number().int().describe('events stored'),
    duplicates: z.number().int().describe('events already stored (a retry), not stored twice'),
    rejected: z.array(z.object({ index: z.number().int(), messageId: z.string().nullable(), errors: z.array(Issue) })).describe('messages not stored, and why'),
    userToken: z
      .object({ ok: z.literal(false), error: z.string(), message: z.string() })
      .optional()
      .describe('why the user token did not count (the events were stored unverified)'),
  }),
);
const ingestAnswers = { 200: IngestAnswer, 400: IngestAnswer, ...errorAnswers(401, 403, 413, 415, 429, 503) };

/**
 * The batch body, hand-written for OpenAPI and documentation only: the batch route keeps its own
 * validation (envelope limits, then each message on its own, so one bad message is rejected alone
 * and the rest are stored), which a route schema can't express, and which would validate every
 * message twice.
 */
export const BATCH_BODY_DOC = documentationOnly({
  type: 'object',
  required: ['batch'],
  properties: {
    batch: {
      type: 'array',
      maxItems: MAX_BATCH_MESSAGES,
      items: { type: 'object', additionalProperties: true, description: 'a Segment-spec message: type, messageId, userId or anonymousId, timestamp, …' },
    },
    writeKey: { type: 'string', description: 'the write key, when not sent as the HTTP Basic username' },
    userToken: { type: 'string', description: "a user token minted by the vendor's backend: the events become verified" },
    sentAt: { type: 'string', format: 'date-time' },
    context: { type: 'object', additionalProperties: true },
    integrations: { type: 'object', additionalProperties: true },
  },
  additionalProperties: true,
});
export const MESSAGE_BODY_DOC = documentationOnly({
  type: 'object',
  additionalProperties: true,
  description: 'one Segment-spec message; writeKey and userToken may ride along',
});
export const WriteKeyQuery = documentationOnly(z.looseObject({ writeKey: z.string().optional().describe('the write key (sendBeacon can set no header)') }));

export const ingestRoutes: FastifyPluginAsync = async (app) => {
  // Per-request access logs would cost more than the ingest itself: routes log warnings and up.
  const common = { logLevel: 'warn' as const, config: { body: 'message' as const, ingest: true }, preValidation: requireWriteKey };

  for (const url of ['/v1/batch', '/v1/beacon']) {
    app.post(
      url,
      {
        ...common,
        schema: {
          tags: ['ingest'],
          security: security.writeKey,
          summary: url === '/v1/batch' ? 'Send a batch of messages' : 'Send a batch by navigator.sendBeacon (write key in the query)',
          querystring: WriteKeyQuery,
          body: BATCH_BODY_DOC,
          response: ingestAnswers,
        },
      },
      async (req, reply) => {
        const env = parseBatch(req.body);
        return ingest(req, reply, env.batch, env, undefined, (req.body as { userToken?: unknown }).userToken);
      },
    );
  }

  for (const type of MESSAGE_TYPES) {
    app.post(
      `/v1/${type}`,
      {
        ...common,
        schema: { tags: ['ingest'], security: security.writeKey, summary: `Send one ${type} message`, body: MESSAGE_BODY_DOC, response: ingestAnswers },
      },
      async (req, reply) => {
        // The message is the body: its limits are checked as a message's (toRows), naming them.
        const { writeKey: _k, userToken, ...message } = messageBody(req.body, type);
        return ingest(req, reply, [message], {}, type, userToken);
      },
    );
  }
};
