// What every route plugin shares: the services and the options as Fastify decorators, the auth
// hooks, the per-route body mode the content-type parser reads, and the zod schemas of answers.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler, preValidationAsyncHookHandler } from 'fastify';
import * as z from 'zod';
import { type Access, fromBrowser } from '../access.js';
import { HttpError } from '../errors.js';
import type { AlertService } from '../health/alerts.js';
import type { OutcomeService } from '../health/outcomes.js';
import type { LifecycleService } from '../health/lifecycle.js';
import type { HealthService } from '../health/service.js';
import type { StatusService } from '../health/status.js';
import type { Metrics } from '../metrics-registry.js';
import type { ConfigStore, FactsStore, ProgressStore } from '../store/state-types.js';
import type { EventStore } from '../store/types.js';
import { type UserClaims, verifyUserToken } from '../token.js';

export interface ConfigValidation {
  ok: boolean;
  problems: { path: string; message: string }[];
}

/** The app's keys and limits, as the routes need them. */
export interface KeelSettings {
  bodyLimit: number;
  /** Public and server-side write keys. */
  writeKeys: ReadonlySet<string>;
  publicWriteKeys: ReadonlySet<string>;
  serverWriteKeys: ReadonlySet<string>;
  adminKeys: readonly string[];
  secretKeys: readonly string[];
  validateConfig?: (doc: unknown) => ConfigValidation;
  metricsPublic: boolean;
}

export type Timeline = (tenantId: string, page: { before?: string; limit?: number }) => Promise<{ items: unknown[]; next: string | null }>;

/**
 * How the content-type parser decodes a route's body (body.ts): `message` for the ingest routes
 * (each message is held to its own limits later, so one too deep is rejected alone), `document`
 * for whole-body limits (config, progress, incidents), `ignore` for a body the route never reads.
 * Routes without it read no body.
 */
export type BodyMode = 'message' | 'document' | 'ignore';

/** A route's zod validation error, answered as the hand checks did: this code, the issues named. */
export interface InvalidAnswer {
  code: string;
  /** `paths`: "path: message; …" (the default); `message`: the first issue's message alone. */
  format?: 'paths' | 'message';
}

declare module 'fastify' {
  interface FastifyInstance {
    eventStore: EventStore;
    configStore: ConfigStore | undefined;
    progressStore: ProgressStore | undefined;
    factsStore: FactsStore | undefined;
    healthService: HealthService | undefined;
    lifecycleService: LifecycleService | undefined;
    alertService: Pick<AlertService, 'explain' | 'list'> | undefined;
    outcomeService: OutcomeService | undefined;
    statusService: StatusService | undefined;
    timeline: Timeline | undefined;
    access: Access;
    metrics: Metrics;
    keel: KeelSettings;
    /** True once close() began: /readyz answers 503 from then on. */
    shuttingDown: boolean;
  }
  interface FastifyRequest {
    /** Set by the admin-key hook: who published (`admin:<hash prefix>`). */
    adminActor: string | undefined;
    /** Set by the user-token hook. */
    user: UserClaims | undefined;
    /** Set by the write-key hook. */
    writeKey: string | undefined;
    /** The error code the answer carried (metrics label refusals by it). */
    errorCode: string | undefined;
  }
  interface FastifyContextConfig {
    body?: BodyMode;
    /** Zod validation errors of this route's body or query, as the route's own code. */
    invalid?: { body?: InvalidAnswer; querystring?: InvalidAnswer; params?: InvalidAnswer };
    /** An ingest route: its answers are counted as events accepted, rejected, refused. */
    ingest?: boolean;
  }
}

export const bearer = (req: FastifyRequest) => {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
};
const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const shown = (key: string) => (key.length > 12 ? `${key.slice(0, 8)}…` : key);

/** The admin key is a server's secret: a request a browser made (Origin, Sec-Fetch-Site) never carries it. */
export const refuseFromBrowser = (req: FastifyRequest) => {
  if (fromBrowser(req)) throw new HttpError(403, 'admin_key_from_browser', 'the admin key is for servers; never put it in a page');
};

export const isAdminKey = (keys: readonly string[], key: string | undefined): key is string => !!key && keys.some((k) => same(k, key));

/** The write key from HTTP Basic (Segment's way), the body, or the query string (beacons). */
export function writeKeyOf(req: FastifyRequest, body: unknown): string | undefined {
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

/**
 * The admin key (`Authorization: Bearer`), checked in onRequest: before the body is read, as a
 * request without the key has no business being parsed (the admin routes checked it first before
 * the plugins too, so the answers are the same).
 */
export const requireAdminKey: onRequestAsyncHookHandler = async function (req) {
  const { adminKeys } = this.keel;
  const key = bearer(req);
  if (!adminKeys.length) throw new HttpError(501, 'admin_disabled', 'this server has no admin key configured (--admin-key / KEEL_ADMIN_KEYS)');
  refuseFromBrowser(req); // whatever it carries: the admin API is for servers
  if (!key) throw new HttpError(401, 'missing_admin_key', 'send the admin key as "Authorization: Bearer <admin key>"');
  if (!isAdminKey(adminKeys, key)) throw new HttpError(401, 'unknown_admin_key', 'the admin key is not one this server accepts');
  req.adminActor = `admin:${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
};

/** A user token minted by the vendor's backend (`Authorization: Bearer`), checked in onRequest like the admin key. */
export const requireUserToken: onRequestAsyncHookHandler = async function (req) {
  const token = bearer(req);
  if (!token) throw new HttpError(401, 'missing_user_token', 'send the user token minted by your backend as "Authorization: Bearer <token>"');
  req.user = await verifyUserToken(token, this.keel.secretKeys);
};

/**
 * Admin key, or a user token with the admin role for the tenant in the path (tenant isolation).
 * `what` names the resource in the refusal.
 */
export const requireTenantAdmin = (what: string): onRequestAsyncHookHandler =>
  async function (req, reply) {
    const { id } = req.params as { id: string };
    if (isAdminKey(this.keel.adminKeys, bearer(req))) return refuseFromBrowser(req);
    await requireUserToken.call(this, req, reply);
    const claims = req.user!;
    if (claims.tenantId !== id) throw new HttpError(403, 'other_tenant', `this user token is for tenant "${claims.tenantId}", not "${id}"`);
    if (claims.role !== 'admin') throw new HttpError(403, 'not_admin', `${what} is for the tenant's admins; this token's role is "${claims.role}"`);
  };

/**
 * The write key of an ingest request. A preValidation hook, not onRequest: the key may be in the
 * body (`writeKey`), so it runs once the content-type parser has decoded it.
 */
export const requireWriteKey: preValidationAsyncHookHandler = async function (req) {
  const key = writeKeyOf(req, req.body);
  if (!key) {
    throw new HttpError(
      401,
      'missing_write_key',
      'no write key: send it as the HTTP Basic username, as "writeKey" in the body, or as ?writeKey= on /v1/beacon',
    );
  }
  if (!this.keel.writeKeys.has(key)) throw new HttpError(401, 'unknown_write_key', `unknown write key "${shown(key)}"`);
  req.writeKey = key;
};

/** Sends a JSON text the route has already serialised (stored documents are spliced in, never re-parsed). */
export const sendJsonText = (reply: FastifyReply, text: string) => reply.type('application/json').send(text);

// Answers, for OpenAPI. Loose objects: they document the fields a client reads, and let more through.
export const ErrorAnswer = z.looseObject({
  ok: z.literal(false),
  error: z.string().describe('a stable code naming the problem'),
  message: z.string().describe('what went wrong, in words'),
});
export const errorAnswers = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ErrorAnswer])) as Record<number, typeof ErrorAnswer>;
/** OpenAPI security requirements, per route (the schemes are in app.ts). */
type Requirement = Record<string, string[]>[];
export const security: Record<'writeKey' | 'adminKey' | 'userToken' | 'tenantAdmin' | 'config', Requirement> = {
  writeKey: [{ writeKey: [] }],
  adminKey: [{ adminKey: [] }],
  userToken: [{ userToken: [] }],
  tenantAdmin: [{ adminKey: [] }, { userToken: [] }],
  config: [{ writeKey: [] }, { adminKey: [] }],
};
export const TenantParams = z.object({ id: z.string().describe('the tenant id (the groupId of its events)') });
/** 304, for the routes with an ETag. */
export const NotModified = z.null().describe('not modified: the ETag sent in If-None-Match is current');
