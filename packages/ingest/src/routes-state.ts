// Config (publish, serve with ETag, versions, audit) and per-user progress (user tokens).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import * as z from 'zod';
import { fromBrowser } from './access.js';
import { decodeBody } from './body.js';
import { diffConfig, isEmptyDiff, summariseDiff } from './config-diff.js';
import { configCache } from './health/config-cache.js';
import { HttpError } from './errors.js';
import type { LifecycleService } from './health/lifecycle.js';
import type { HealthService } from './health/service.js';
import { IMPACTS, INCIDENT_STATES, type StatusService } from './health/status.js';
import type { IgnoredClaim, ProgressAnswer, ProgressAnswerEntry } from '@keel/sdk-core/engine';
import type { ConfigStore, FactsStore, ProgressEntry, ProgressStore } from './store/state-types.js';
import { type UserClaims, verifyUserToken } from './token.js';

export interface ConfigValidation {
  ok: boolean;
  problems: { path: string; message: string }[];
}

export interface StateRouteOptions {
  config?: ConfigStore;
  progress?: ProgressStore;
  facts?: FactsStore;
  health?: HealthService;
  lifecycle?: LifecycleService;
  status?: StatusService;
  timeline?: (tenantId: string, page: { before?: string; limit?: number }) => Promise<{ items: unknown[]; next: string | null }>;
  adminKeys?: readonly string[];
  secretKeys?: readonly string[];
  writeKeys: ReadonlySet<string>;
  /** Validates a config document before it is stored (sdk-core's validateConfig). */
  validateConfig?: (doc: unknown) => ConfigValidation;
  bodyLimit: number;
  writeKeyOf(req: FastifyRequest, body: unknown): string | undefined;
}

const bearer = (req: FastifyRequest) => {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
};
const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

const EntrySchema = z.strictObject({
  scope: z.enum(['user', 'tenant']),
  kind: z.enum(['checklist', 'recipe', 'nudge']),
  ref: z.string().min(1).max(200),
  state: z.enum(['not_started', 'started', 'completed', 'dismissed']),
  updatedAt: z.iso.datetime({ offset: true }),
  completedAt: z.iso.datetime({ offset: true }).nullish(),
  data: z.record(z.string(), z.unknown()).nullish(),
});
const PutProgressSchema = z.strictObject({ entries: z.array(EntrySchema).max(1000) });

/** The admin key is a server's secret: a request a browser made (Origin, Sec-Fetch-Site) never carries it. */
const refuseFromBrowser = (req: FastifyRequest) => {
  if (fromBrowser(req)) throw new HttpError(403, 'admin_key_from_browser', 'the admin key is for servers; never put it in a page');
};

export function registerStateRoutes(app: FastifyInstance, o: StateRouteOptions): void {
  const isAdminKey = (key: string | undefined): key is string => !!key && !!o.adminKeys?.some((k) => same(k, key));
  const admin = (req: FastifyRequest): string => {
    const key = bearer(req);
    if (!o.adminKeys?.length) throw new HttpError(501, 'admin_disabled', 'this server has no admin key configured (--admin-key / KEEL_ADMIN_KEYS)');
    refuseFromBrowser(req); // whatever it carries: the admin API is for servers
    if (!key) throw new HttpError(401, 'missing_admin_key', 'send the admin key as "Authorization: Bearer <admin key>"');
    if (!isAdminKey(key)) throw new HttpError(401, 'unknown_admin_key', 'the admin key is not one this server accepts');
    return `admin:${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
  };
  const user = async (req: FastifyRequest): Promise<UserClaims> => {
    const token = bearer(req);
    if (!token) throw new HttpError(401, 'missing_user_token', 'send the user token minted by your backend as "Authorization: Bearer <token>"');
    return verifyUserToken(token, o.secretKeys ?? []);
  };

  if (o.config) {
    const config = o.config;
    const etagOf = (v: { version: number; hash: string }) => `"v${v.version}-${v.hash.slice(0, 16)}"`;

    app.get('/v1/config', { logLevel: 'warn' }, async (req, reply) => {
      const key = o.writeKeyOf(req, undefined);
      const isAdmin = isAdminKey(bearer(req));
      if (isAdmin) refuseFromBrowser(req);
      if (!isAdmin) {
        if (!key) throw new HttpError(401, 'missing_write_key', 'send the write key as the HTTP Basic username or ?writeKey=');
        if (!o.writeKeys.has(key)) throw new HttpError(401, 'unknown_write_key', 'unknown write key');
      }
      const draftId = (req.query as Record<string, unknown>).draft;
      if (typeof draftId === 'string' && draftId) {
        // A draft preview: served to whoever holds its unguessable id, never cached.
        const d = await config.draft(draftId);
        if (!d) throw new HttpError(404, 'no_draft', 'no such draft, or it has expired: run `keel config preview FILE` again');
        reply.header('cache-control', 'no-store').type('application/json');
        return reply.send(`{"version":0,"draft":${JSON.stringify(d.id)},"publishedAt":null,"config":${d.document}}`);
      }
      const v = await config.latest();
      if (!v) throw new HttpError(404, 'no_config', 'no config has been published yet: run `keel config publish FILE`');
      const etag = etagOf(v);
      reply.header('etag', etag).header('cache-control', 'no-cache');
      const inm = req.headers['if-none-match'];
      if (inm && inm.split(',').map((s) => s.trim().replace(/^W\//, '')).includes(etag)) return reply.code(304).send();
      reply.type('application/json');
      return reply.send(`{"version":${v.version},"publishedAt":${JSON.stringify(v.publishedAt)},"config":${v.document}}`);
    });

    app.post('/v1/admin/config', async (req, reply) => {
      const actorKey = admin(req);
      const body = decodeBody(req.body as Buffer | undefined, req.headers['content-encoding'] as string | undefined, o.bodyLimit) as Record<string, unknown>;
      const doc = body && typeof body === 'object' && 'config' in body ? body.config : body;
      const actor = typeof body?.actor === 'string' && body.actor ? `${body.actor} (${actorKey})` : actorKey;
      const dryRun = (req.query as Record<string, string>).dryRun === '1';
      if (o.validateConfig) {
        const r = o.validateConfig(doc);
        if (!r.ok) return reply.code(422).send({ ok: false, error: 'invalid_config', message: `the config has ${r.problems.length} problem(s)`, problems: r.problems });
      } else if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
        throw new HttpError(422, 'invalid_config', 'expected a config document (an object)');
      }
      const current = await configCache(config).current();
      const prev = current?.stored;
      const diff = diffConfig(current?.config as Record<string, unknown> | undefined, doc as Record<string, unknown>);
      const summary = summariseDiff(diff, !prev);
      const document = JSON.stringify(doc);
      const hash = createHash('sha256').update(document).digest('hex');
      if (dryRun) return { ok: true, dryRun: true, currentVersion: prev?.version ?? null, diff, summary };
      // No change in any section (key order aside) makes no version: the diff is the one judge.
      if (prev && (prev.hash === hash || isEmptyDiff(diff))) return { ok: true, unchanged: true, version: prev.version, diff, summary: 'no changes' };
      const v = await config.publish({ document, hash, publishedAt: new Date().toISOString(), publishedBy: actor, summary });
      return reply.code(201).send({ ok: true, version: v.version, etag: etagOf(v), diff, summary });
    });

    app.post('/v1/admin/drafts', async (req, reply) => {
      const actorKey = admin(req);
      const body = decodeBody(req.body as Buffer | undefined, req.headers['content-encoding'] as string | undefined, o.bodyLimit) as Record<string, unknown>;
      const doc = body && typeof body === 'object' && 'config' in body ? body.config : body;
      const actor = typeof body?.actor === 'string' && body.actor ? `${body.actor} (${actorKey})` : actorKey;
      if (o.validateConfig) {
        const r = o.validateConfig(doc);
        if (!r.ok) return reply.code(422).send({ ok: false, error: 'invalid_config', message: `the config has ${r.problems.length} problem(s)`, problems: r.problems });
      }
      const now = Date.now();
      const draft = { id: randomBytes(16).toString('hex'), document: JSON.stringify(doc), createdAt: new Date(now).toISOString(), createdBy: actor, expiresAt: new Date(now + 24 * 3600_000).toISOString() };
      await config.saveDraft(draft);
      return reply.code(201).send({ ok: true, draft: draft.id, expiresAt: draft.expiresAt });
    });

    app.get('/v1/admin/config/versions', async (req) => {
      admin(req);
      return { versions: await config.versions() };
    });
    app.get('/v1/admin/audit', async (req) => {
      admin(req);
      return { entries: await config.audit() };
    });
  }

  /** Admin key, or a user token with the admin role for this very tenant (tenant isolation). */
  const tenantAdmin = async (req: FastifyRequest, id: string, what: string) => {
    if (isAdminKey(bearer(req))) return refuseFromBrowser(req);
    const claims = await user(req);
    if (claims.tenantId !== id) throw new HttpError(403, 'other_tenant', `this user token is for tenant "${claims.tenantId}", not "${id}"`);
    if (claims.role !== 'admin') throw new HttpError(403, 'not_admin', `${what} is for the tenant's admins; this token's role is "${claims.role}"`);
  };

  if (o.lifecycle) {
    const lifecycle = o.lifecycle;
    app.get('/v1/tenants/:id/lifecycle', async (req) => {
      const { id } = req.params as { id: string };
      await tenantAdmin(req, id, 'the lifecycle');
      const r = await lifecycle.state(id); // read-only: the evaluator records transitions
      if (!r) throw new HttpError(404, 'no_lifecycle', 'the published config has no lifecycle: add a `lifecycle:` section and publish');
      return r;
    });
  }

  if (o.status) {
    const status = o.status;
    const IncidentSchema = z.strictObject({
      id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { error: 'expected an incident id of lower-case letters, digits and dashes' }).optional(),
      title: z.string({ error: 'title is required' }).min(1),
      state: z.enum(INCIDENT_STATES).optional(),
      impact: z.enum(IMPACTS).optional(),
      components: z.array(z.string()).optional(),
      tenants: z.array(z.string()).optional(),
      message: z.string().optional(),
    });
    app.post('/v1/admin/incidents', async (req, reply) => {
      admin(req);
      const body = decodeBody(req.body as Buffer | undefined, req.headers['content-encoding'] as string | undefined, o.bodyLimit);
      const parsed = IncidentSchema.safeParse(body);
      if (!parsed.success) throw new HttpError(400, 'invalid_incident', parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
      const d = parsed.data;
      const input = Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)) as typeof d & { title: string };
      return reply.code(201).send(await status.upsertIncident(input));
    });
    // A user of the tenant (any role) reads its status: components, incidents that affect it, its integrations.
    app.get('/v1/status', async (req, reply) => {
      const claims = await user(req);
      const { status: s, etag } = await status.forTenant(claims.tenantId);
      reply.header('etag', etag).header('cache-control', 'no-cache');
      const inm = req.headers['if-none-match'];
      if (inm && inm.split(',').map((x) => x.trim()).includes(etag)) return reply.code(304).send();
      return s;
    });
  }

  if (o.timeline) {
    const timeline = o.timeline;
    app.get('/v1/tenants/:id/timeline', async (req) => {
      const { id } = req.params as { id: string };
      await tenantAdmin(req, id, 'the timeline');
      const q = req.query as { before?: string | string[]; limit?: string | string[] };
      // A repeated parameter arrives as an array: one value each, or a 400.
      if (Array.isArray(q.before) || Array.isArray(q.limit)) throw new HttpError(400, 'repeated_parameter', 'send "before" and "limit" at most once each');
      if (q.before !== undefined && Number.isNaN(Date.parse(q.before))) throw new HttpError(400, 'invalid_cursor', `before must be an ISO time (the "next" of a previous page), found "${q.before}"`);
      const limit = q.limit === undefined ? 50 : Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new HttpError(400, 'invalid_limit', `limit must be a whole number from 1 to 200, found "${q.limit}"`);
      return timeline(id, { ...(q.before ? { before: q.before } : {}), limit });
    });
  }

  if (o.health) {
    const health = o.health;
    app.get('/v1/tenants/:id/health', async (req) => {
      const { id } = req.params as { id: string };
      await tenantAdmin(req, id, 'health');
      const r = await health.report(id);
      if (!r) throw new HttpError(404, 'no_health_model', 'the published config has no health model: add a `health:` section and publish');
      return r;
    });
  }

  if (o.progress) {
    const progress = o.progress;
    const lifecycle = o.lifecycle;
    const DAY = 86_400_000;
    /**
     * The progress answer: stored attestations (and old claims, marked `claim`), the items the
     * server decides from stored events (`source: server`), facts, the lifecycle state, and the
     * user's history for the browser's rules. Reads only.
     */
    type Decided = Awaited<ReturnType<LifecycleService['serverProgress']>>;
    const decide = (claims: UserClaims, now: number, pendingSince?: number): Promise<Decided> =>
      lifecycle ? lifecycle.serverProgress(claims.tenantId, claims.userId, now, pendingSince) : Promise.resolve(undefined);
    const answer = async (claims: UserClaims, now: number, sp: Decided, ignored?: IgnoredClaim[]): Promise<ProgressAnswer> => {
      const stored = await progress.get(claims.tenantId, claims.userId);
      const at = new Date(now).toISOString();
      const out = new Map<string, ProgressAnswerEntry>();
      for (const e of stored) {
        const { attested, ...rest } = (e.data ?? {}) as { attested?: { by: string; role: string; at: string } };
        const a: ProgressAnswerEntry = { ...e, data: Object.keys(rest).length ? rest : null, source: attested ? 'attested' : 'claim' };
        if (attested) Object.assign(a, { attestedBy: attested.by, attestedRole: attested.role, attestedAt: attested.at });
        out.set(`${e.scope}:${e.kind}:${e.ref}`, a);
      }
      for (const d of sp?.items ?? []) {
        if (!d.completed) continue;
        const key = `${d.scope}:checklist:${d.ref}`;
        const prev = out.get(key);
        const completedAt = prev?.state === 'completed' && prev.completedAt && prev.completedAt < at ? prev.completedAt : at;
        out.set(key, { scope: d.scope, kind: 'checklist', ref: d.ref, state: 'completed', updatedAt: at, completedAt, data: null, source: 'server' });
      }
      const entries = [...out.values()].sort((a, b) => (a.kind + a.ref < b.kind + b.ref ? -1 : 1));
      const fromDay = Math.floor(now / DAY);
      const r: ProgressAnswer = {
        userId: claims.userId,
        tenantId: claims.tenantId,
        user: entries.filter((e) => e.scope === 'user'),
        tenant: entries.filter((e) => e.scope === 'tenant'),
        facts: o.facts ? { ...(await o.facts.tenantFacts(claims.tenantId, now)) } : {},
        // The tenant's lifecycle state and what it allows: the client refuses what it doesn't; so does PUT.
        lifecycle: sp?.lifecycle ?? null,
        history: sp?.history ?? { fromDay, firstSeen: null, tenantFirstSeen: null, clauses: [], messageIds: [] },
      };
      if (ignored) r.ignored = ignored;
      return r;
    };
    const pendingSinceOf = (req: FastifyRequest): number | undefined => {
      const v = (req.query as Record<string, unknown>).pendingSince;
      if (v === undefined) return undefined;
      const t = typeof v === 'string' ? Date.parse(v) : NaN;
      if (Number.isNaN(t)) throw new HttpError(400, 'invalid_pending_since', `pendingSince must be an ISO time (the oldest message this browser still holds), found ${JSON.stringify(v)}`);
      return t;
    };
    app.get('/v1/progress', async (req) => {
      const claims = await user(req);
      const now = Date.now();
      return answer(claims, now, await decide(claims, now, pendingSinceOf(req)));
    });
    app.put('/v1/progress', async (req) => {
      const claims = await user(req);
      const pendingSince = pendingSinceOf(req);
      const body = decodeBody(req.body as Buffer | undefined, req.headers['content-encoding'] as string | undefined, o.bodyLimit);
      const parsed = PutProgressSchema.safeParse(body);
      if (!parsed.success) {
        throw new HttpError(400, 'invalid_progress', parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
      }
      const now = Date.now();
      const at = new Date(now).toISOString();
      // The lifecycle's allowed actions hold here too: progress for a recipe or checklist the state doesn't run is refused.
      if (lifecycle && (await lifecycle.evaluate(claims.tenantId, now))) {
        for (const e of parsed.data.entries) {
          if (e.kind === 'nudge') continue;
          const action = e.kind === 'recipe' ? `recipe:${e.ref}` : `checklist:${e.ref.split('/')[0]}`;
          const ok = await lifecycle.check(claims.tenantId, action);
          if (!ok.ok) throw new HttpError(403, 'not_allowed_in_state', `progress for ${e.kind} "${e.ref}" refused: ${ok.reason}`);
        }
      }
      // Server decisions don't depend on stored attestations: the same ones answer after the merge.
      const sp = await decide(claims, now, pendingSince);
      const items = new Map((sp?.items ?? []).map((d) => [d.ref, d]));
      // Recipes this user walked through to the end without skipping (stored, or in this PUT): they complete the items that launch them.
      const walked = new Set<string>();
      for (const e of [...(await progress.get(claims.tenantId, claims.userId)), ...parsed.data.entries]) {
        if (e.kind === 'recipe' && e.scope === 'user' && e.state === 'completed' && !e.data?.skipped) walked.add(e.ref);
      }
      const accepted: ProgressEntry[] = [];
      const ignored: IgnoredClaim[] = [];
      const ignore = (e: ProgressEntry, reason: string) => ignored.push({ scope: e.scope, kind: e.kind, ref: e.ref, reason });
      for (const raw of parsed.data.entries) {
        const { attested: _, ...data } = raw.data ?? {};
        const e = { ...raw, data: { ...data, attested: { by: claims.userId, role: claims.role, at } } } as ProgressEntry;
        if (e.kind !== 'checklist') {
          // Recipes walked and nudges dismissed happen in the page: the server can't see them; stored as this user's attestation.
          if (e.scope === 'tenant') ignore(e, `a ${e.kind} is the user's own: tenant scope is not accepted`);
          else accepted.push(e);
          continue;
        }
        const d = items.get(e.ref);
        if (!d) {
          ignore(e, `unknown-item: "${e.ref}" is not a checklist item of the published config`);
          continue;
        }
        if (d.attest) {
          const roles = typeof d.attest === 'object' ? d.attest.roles : undefined;
          if (roles && !roles.includes(claims.role)) {
            throw new HttpError(403, 'attest_role', `"${e.ref}" may be attested by role ${roles.map((x) => `"${x}"`).join(' or ')} only; this token's role is "${claims.role}"`);
          }
          accepted.push({ ...e, scope: d.scope });
        } else if (d.scope === 'user' && d.recipe && walked.has(d.recipe)) {
          // A recipe finished in the page: the server can't see it; stored as attested by this user.
          accepted.push({ ...e, scope: 'user' });
        } else if (d.scope === 'tenant') {
          ignore(e, `tenant-scope: "${e.ref}" is a tenant item, decided by the server from the tenant's events; a browser's claim is not evidence`);
        } else if (d.decidable) {
          ignore(e, `server-decided: "${e.ref}" is decided from stored events (${d.completed ? 'completed' : 'not completed yet'}); a browser's claim is not evidence`);
        } else {
          // Its rule reads what only the page sees (a page, a recipe walked through): stored as attested by this user.
          accepted.push({ ...e, scope: 'user' });
        }
      }
      if (accepted.length) await progress.merge(claims.tenantId, claims.userId, accepted);
      return answer(claims, now, sp, ignored);
    });
  }
}
