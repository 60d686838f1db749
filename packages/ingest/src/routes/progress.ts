// GET and PUT /v1/progress: per-user progress, with a user token (requireUserToken, in onRequest).
import type { IgnoredClaim, ProgressAnswer, ProgressAnswerEntry } from '@keel/sdk-core/engine';
import { inHoldout } from '@keel/sdk-core/engine';
import { configCache } from '../health/config-cache.js';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import * as z from 'zod';
import { HttpError } from '../errors.js';
import type { LifecycleService } from '../health/lifecycle.js';
import type { ProgressEntry } from '../store/state-types.js';
import type { UserClaims } from '../token.js';
import { errorAnswers, requireUserToken, security } from './common.js';

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

const pendingSinceError = (input: unknown) => `pendingSince must be an ISO time (the oldest message this browser still holds), found ${JSON.stringify(input)}`;
/** The oldest message the browser still holds: the server counts those as if stored. */
const PendingSinceQuery = z.looseObject({
  pendingSince: z
    .string({ error: (iss) => pendingSinceError(iss.input) })
    .refine((v) => !Number.isNaN(Date.parse(v)), { error: (iss) => pendingSinceError(iss.input) })
    .optional()
    .describe('an ISO time: the oldest message this browser has not delivered yet'),
});
const pendingSinceOf = (req: FastifyRequest): number | undefined => {
  const v = (req.query as { pendingSince?: string }).pendingSince;
  return v === undefined ? undefined : Date.parse(v);
};

const Entry = z.looseObject({
  scope: z.enum(['user', 'tenant']),
  kind: z.string(),
  ref: z.string(),
  state: z.string(),
  source: z.enum(['attested', 'claim', 'server']),
});
const ProgressAnswerSchema = z.looseObject({
  userId: z.string(),
  tenantId: z.string(),
  user: z.array(Entry),
  tenant: z.array(Entry),
  facts: z.record(z.string(), z.unknown()),
  lifecycle: z.unknown(),
  history: z.unknown(),
  ignored: z
    .array(z.object({ scope: z.string(), kind: z.string(), ref: z.string(), reason: z.string() }))
    .optional()
    .describe('claims the server did not take, and why'),
});
const progressErrors = errorAnswers(400, 401, 403);
const tags = ['progress'];
const auth = { tags, security: security.userToken };

export const progressRoutes: FastifyPluginAsync = async (app) => {
  const progress = app.progressStore;
  if (!progress) return;
  const lifecycle = app.lifecycleService;
  const published = app.configStore ? configCache(app.configStore) : undefined;
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
    // Holdouts: the server says who is counted but not shown (a hash of the nudge and the user), so
    // the browser never decides its own arm. Every nudge with a holdout gets `data.holdout` true or
    // false, dated now so it is the newest word in the browser's merge (a state never moves back,
    // so `not_started` changes nothing else); the engine holds such a nudge back until it knows.
    const current = await published?.current();
    for (const n of current?.config.nudges ?? []) {
      if (!n.holdout) continue;
      const key = `user:nudge:${n.id}`;
      const prev = out.get(key);
      const holdout = inHoldout(n.id, claims.userId, n.holdout);
      if (prev) out.set(key, { ...prev, data: { ...prev.data, holdout } });
      else
        out.set(key, {
          scope: 'user',
          kind: 'nudge',
          ref: n.id,
          state: 'not_started',
          updatedAt: at,
          completedAt: null,
          data: { holdout },
          source: 'server',
        });
    }
    const entries = [...out.values()].sort((a, b) => (a.kind + a.ref < b.kind + b.ref ? -1 : 1));
    const fromDay = Math.floor(now / DAY);
    const r: ProgressAnswer = {
      userId: claims.userId,
      tenantId: claims.tenantId,
      user: entries.filter((e) => e.scope === 'user'),
      tenant: entries.filter((e) => e.scope === 'tenant'),
      facts: app.factsStore ? { ...(await app.factsStore.tenantFacts(claims.tenantId, now)) } : {},
      // The tenant's lifecycle state and what it allows: the client refuses what it doesn't; so does PUT.
      lifecycle: sp?.lifecycle ?? null,
      history: sp?.history ?? { fromDay, firstSeen: null, tenantFirstSeen: null, clauses: [], messageIds: [] },
    };
    if (ignored) r.ignored = ignored;
    return r;
  };
  app.get(
    '/v1/progress',
    {
      onRequest: requireUserToken,
      config: { invalid: { querystring: { code: 'invalid_pending_since', format: 'message' } } },
      schema: {
        ...auth,
        summary: "The user's and tenant's progress, facts, lifecycle and history",
        querystring: PendingSinceQuery,
        response: { 200: ProgressAnswerSchema, ...progressErrors },
      },
    },
    async (req) => {
      const claims = req.user!;
      const now = Date.now();
      return answer(claims, now, await decide(claims, now, pendingSinceOf(req)));
    },
  );
  app.put(
    '/v1/progress',
    {
      onRequest: requireUserToken,
      config: { body: 'document', invalid: { body: { code: 'invalid_progress' }, querystring: { code: 'invalid_pending_since', format: 'message' } } },
      schema: {
        ...auth,
        summary: 'Report progress: attestations the server stores, claims it judges',
        querystring: PendingSinceQuery,
        body: PutProgressSchema,
        response: { 200: ProgressAnswerSchema, ...progressErrors },
      },
    },
    async (req) => {
      const claims = req.user!;
      const pendingSince = pendingSinceOf(req);
      const parsed = { data: req.body as z.infer<typeof PutProgressSchema> };
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
            throw new HttpError(
              403,
              'attest_role',
              `"${e.ref}" may be attested by role ${roles.map((x) => `"${x}"`).join(' or ')} only; this token's role is "${claims.role}"`,
            );
          }
          accepted.push({ ...e, scope: d.scope });
        } else if (d.scope === 'user' && d.recipe && walked.has(d.recipe)) {
          // A recipe finished in the page: the server can't see it; stored as attested by this user.
          accepted.push({ ...e, scope: 'user' });
        } else if (d.scope === 'tenant') {
          ignore(e, `tenant-scope: "${e.ref}" is a tenant item, decided by the server from the tenant's events; a browser's claim is not evidence`);
        } else if (d.decidable) {
          ignore(
            e,
            `server-decided: "${e.ref}" is decided from stored events (${d.completed ? 'completed' : 'not completed yet'}); a browser's claim is not evidence`,
          );
        } else {
          // Its rule reads what only the page sees (a page, a recipe walked through): stored as attested by this user.
          accepted.push({ ...e, scope: 'user' });
        }
      }
      if (accepted.length) await progress.merge(claims.tenantId, claims.userId, accepted);
      return answer(claims, now, sp, ignored);
    },
  );
};
