// The admin API (/v1/admin/*): publish config, save drafts, versions and audit, incidents. The
// admin key is checked in onRequest, before any body is read.
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import * as z from 'zod';
import { diffConfig, isEmptyDiff, summariseDiff } from '../config-diff.js';
import { HttpError } from '../errors.js';
import { configCache } from '../health/config-cache.js';
import { OUTCOME_METHOD } from '../health/outcomes.js';
import { IMPACTS, INCIDENT_STATES } from '../health/status.js';
import { errorAnswers, requireAdminKey, security, TenantParams } from './common.js';
import { etagOf } from './config.js';

const Problems = z.array(z.object({ path: z.string(), message: z.string() }));
const ConfigBody = z.unknown().describe('a config document, or {"config": document, "actor": "who"}');
const PublishAnswer = z.looseObject({
  ok: z.literal(true),
  version: z.number().int().nullable().optional(),
  etag: z.string().optional(),
  dryRun: z.literal(true).optional(),
  unchanged: z.literal(true).optional(),
  currentVersion: z.number().int().nullable().optional(),
  diff: z.unknown(),
  summary: z.string(),
});
const InvalidConfig = z.looseObject({ ok: z.literal(false), error: z.literal('invalid_config'), message: z.string(), problems: Problems.optional() });
const adminErrors = errorAnswers(400, 401, 403, 501);

const IncidentSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/, { error: 'expected an incident id of lower-case letters, digits and dashes' })
    .optional(),
  title: z.string({ error: 'title is required' }).min(1),
  state: z.enum(INCIDENT_STATES).optional(),
  impact: z.enum(IMPACTS).optional(),
  components: z.array(z.string()).optional(),
  tenants: z.array(z.string()).optional(),
  message: z.string().optional(),
});

export const adminRoutes: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', requireAdminKey);
  const tags = ['admin'];
  const auth = { tags, security: security.adminKey };
  const config = app.configStore;
  if (config) {
    app.post(
      '/v1/admin/config',
      {
        config: { body: 'document' },
        schema: {
          ...auth,
          summary: 'Publish a config (or ?dryRun=1: the diff only)',
          querystring: z.looseObject({ dryRun: z.string().optional().describe('1: validate and diff, publish nothing') }),
          body: ConfigBody,
          response: { 200: PublishAnswer, 201: PublishAnswer, 422: InvalidConfig, ...adminErrors },
        },
      },
      async (req, reply) => {
        const body = req.body as Record<string, unknown>;
        const doc = body && typeof body === 'object' && 'config' in body ? body.config : body;
        const actor = typeof body?.actor === 'string' && body.actor ? `${body.actor} (${req.adminActor})` : req.adminActor!;
        const dryRun = (req.query as Record<string, string>).dryRun === '1';
        const validate = app.keel.validateConfig;
        if (validate) {
          const r = validate(doc);
          if (!r.ok)
            return reply
              .code(422)
              .send({ ok: false, error: 'invalid_config', message: `the config has ${r.problems.length} problem(s)`, problems: r.problems });
        } else if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
          throw new HttpError(422, 'invalid_config', 'expected a config document (an object)');
        }
        const current = await configCache(config).current();
        const prev = current?.stored;
        const diff = diffConfig(current?.config as Record<string, unknown> | undefined, doc as Record<string, unknown>);
        const summary = summariseDiff(diff, !prev);
        const document = JSON.stringify(doc);
        const hash = createHash('sha256').update(document).digest('hex');
        if (dryRun) return { ok: true as const, dryRun: true as const, currentVersion: prev?.version ?? null, diff, summary };
        // No change in any section (key order aside) makes no version: the diff is the one judge.
        if (prev && (prev.hash === hash || isEmptyDiff(diff)))
          return { ok: true as const, unchanged: true as const, version: prev.version, diff, summary: 'no changes' };
        const v = await config.publish({ document, hash, publishedAt: new Date().toISOString(), publishedBy: actor, summary });
        return reply.code(201).send({ ok: true, version: v.version, etag: etagOf(v), diff, summary });
      },
    );

    app.post(
      '/v1/admin/drafts',
      {
        config: { body: 'document' },
        schema: {
          ...auth,
          summary: 'Save a draft config for preview (24 hours)',
          body: ConfigBody,
          response: { 201: z.object({ ok: z.literal(true), draft: z.string(), expiresAt: z.string() }), 422: InvalidConfig, ...adminErrors },
        },
      },
      async (req, reply) => {
        const body = req.body as Record<string, unknown>;
        const doc = body && typeof body === 'object' && 'config' in body ? body.config : body;
        const actor = typeof body?.actor === 'string' && body.actor ? `${body.actor} (${req.adminActor})` : req.adminActor!;
        const validate = app.keel.validateConfig;
        if (validate) {
          const r = validate(doc);
          if (!r.ok)
            return reply
              .code(422)
              .send({ ok: false, error: 'invalid_config', message: `the config has ${r.problems.length} problem(s)`, problems: r.problems });
        }
        const now = Date.now();
        const draft = {
          id: randomBytes(16).toString('hex'),
          document: JSON.stringify(doc),
          createdAt: new Date(now).toISOString(),
          createdBy: actor,
          expiresAt: new Date(now + 24 * 3600_000).toISOString(),
        };
        await config.saveDraft(draft);
        return reply.code(201).send({ ok: true, draft: draft.id, expiresAt: draft.expiresAt });
      },
    );

    app.get(
      '/v1/admin/config/versions',
      {
        schema: {
          ...auth,
          summary: 'Every published config version',
          response: {
            200: z.object({ versions: z.array(z.looseObject({ version: z.number().int(), hash: z.string(), publishedAt: z.string() })) }),
            ...adminErrors,
          },
        },
      },
      async () => ({ versions: await config.versions() }),
    );
    app.get(
      '/v1/admin/audit',
      {
        schema: {
          ...auth,
          summary: 'The audit log',
          response: { 200: z.object({ entries: z.array(z.looseObject({ at: z.string(), actor: z.string(), action: z.string() })) }), ...adminErrors },
        },
      },
      async () => ({ entries: await config.audit() }),
    );
  }

  const alerts = app.alertService;
  if (alerts) {
    app.get(
      '/v1/admin/tenants/:id/alerts',
      {
        schema: {
          ...auth,
          summary: "Every alert rule's verdict for the tenant now (firing or not, and why), and the alerts fired for it",
          description:
            'Nothing is recorded or sent: the evaluator fires alerts. A rule that cannot fire says so in its detail (for example "cohort too small (n=3)").',
          params: TenantParams,
          response: {
            200: z.object({
              tenant: z.string(),
              at: z.string(),
              rules: z.array(z.looseObject({ alert: z.string(), firing: z.boolean(), detail: z.looseObject({}) })),
              fired: z.array(z.looseObject({ id: z.string(), alert: z.string(), firedAt: z.string() })),
            }),
            ...adminErrors,
          },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        const now = Date.now();
        const [rules, fired] = [await alerts.explain(id, now), await alerts.list(id)];
        return { tenant: id, at: new Date(now).toISOString(), rules, fired };
      },
    );
  }

  const outcomes = app.outcomeService;
  if (outcomes) {
    const Arm = z.looseObject({ users: z.number().int(), goal: z.number().int(), rate: z.number().nullable(), medianHoursToGoal: z.number().nullable() });
    app.get(
      '/v1/admin/outcomes',
      {
        config: { invalid: { querystring: { code: 'invalid_query', format: 'message' } } },
        schema: {
          ...auth,
          summary: 'Did each nudge help? Its goal reached by users shown it vs held out, with the difference and its 95% interval',
          description:
            'Per nudge with a `goal` and per config version: users exposed (shown, or held out by the server), acted, dismissed, goal reached within the window and median time to it, for each arm; the difference of goal rates with Newcombe\'s hybrid score interval; "not enough data yet" below `min` users a side.',
          querystring: z.strictObject({
            tenant: z.string().min(1).optional().describe("one tenant's outcomes only"),
            by: z
              .literal('tenant', { error: 'by must be "tenant" (a row per tenant as well)' })
              .optional()
              .describe('tenant: a row per tenant as well as the overall one'),
            min: z.coerce
              .number()
              .int()
              .min(1)
              .max(100_000)
              .optional()
              .describe('users a side whose goal window has closed before a difference is computed (default 30)'),
          }),
          response: {
            200: z.object({
              at: z.string(),
              method: z.string(),
              outcomes: z.array(
                z.looseObject({
                  kind: z.literal('nudge'),
                  id: z.string(),
                  version: z.number().int().nullable(),
                  tenant: z.string().nullable(),
                  eligible: z.number().int(),
                  pending: z.number().int(),
                  shown: Arm,
                  heldOut: Arm.nullable(),
                  lift: z.looseObject({ difference: z.number(), low: z.number(), high: z.number() }).nullable(),
                  verdict: z.string(),
                  explanation: z.string(),
                }),
              ),
            }),
            ...adminErrors,
          },
        },
      },
      async (req) => {
        const q = req.query as { tenant?: string; by?: 'tenant'; min?: number };
        const now = Date.now();
        const list = await outcomes.nudges({
          now,
          ...(q.tenant ? { tenant: q.tenant } : {}),
          ...(q.by === 'tenant' ? { byTenant: true } : {}),
          ...(q.min ? { minPerArm: q.min } : {}),
        });
        return { at: new Date(now).toISOString(), method: OUTCOME_METHOD, outcomes: list };
      },
    );
  }

  if (outcomes) {
    const Period = z.looseObject({
      from: z.string(),
      to: z.string(),
      affectedUsers: z.number().int(),
      activeUsers: z.number().int(),
      rate: z.number().nullable(),
    });
    app.get(
      '/v1/admin/friction',
      {
        config: { invalid: { querystring: { code: 'invalid_query', format: 'message' } } },
        schema: {
          ...auth,
          summary: 'The friction log: recurring failures ranked by users hit, with their trend and the config items that address them',
          description:
            'Errors by fingerprint and route, anchors that never appeared, recipe steps users leave or skip, failing integrations and tickets by tag, over the last `days` (default 7) against the window before; each with first and last seen, users, tenants (with their health band), samples, and for each config item that addresses it the share of active users hit before and after the version that brought it.',
          querystring: z.strictObject({
            days: z.coerce.number().int().min(1).max(90).optional().describe('the window, in days (default 7)'),
            tenant: z.string().min(1).optional().describe("one tenant's friction only"),
            evidence: z
              .enum(['verified', 'any'], { error: 'evidence must be "verified" or "any"' })
              .optional()
              .describe('verified: count only events with a verified user (default any)'),
            limit: z.coerce.number().int().min(1).max(500).optional().describe('entries returned, most users first (default 50)'),
          }),
          response: {
            200: z.object({
              at: z.string(),
              days: z.number().int(),
              entries: z.array(
                z.looseObject({
                  kind: z.string(),
                  key: z.string(),
                  title: z.string(),
                  occurrences: z.number().int(),
                  users: z.number().int(),
                  tenants: z.number().int(),
                  trend: z.string(),
                  addressedBy: z.array(
                    z.looseObject({
                      item: z.string(),
                      version: z.number().int(),
                      before: Period.nullable(),
                      after: Period.nullable(),
                      explanation: z.string(),
                    }),
                  ),
                  explanation: z.string(),
                }),
              ),
            }),
            ...adminErrors,
          },
        },
      },
      async (req) => {
        const q = req.query as { days?: number; tenant?: string; evidence?: 'verified' | 'any'; limit?: number };
        const now = Date.now();
        const days = q.days ?? 7;
        const entries = await outcomes.friction({
          now,
          days,
          ...(q.tenant ? { tenant: q.tenant } : {}),
          ...(q.evidence ? { evidence: q.evidence } : {}),
          ...(q.limit ? { limit: q.limit } : {}),
        });
        return { at: new Date(now).toISOString(), days, entries };
      },
    );
  }

  const status = app.statusService;
  if (status) {
    app.post(
      '/v1/admin/incidents',
      {
        config: { body: 'document', invalid: { body: { code: 'invalid_incident' } } },
        schema: {
          ...auth,
          summary: 'Open or update an incident (the status page)',
          body: IncidentSchema,
          response: { 201: z.looseObject({ id: z.string(), title: z.string(), state: z.string() }), ...adminErrors },
        },
      },
      async (req, reply) => {
        const d = req.body as z.infer<typeof IncidentSchema>;
        const input = Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)) as typeof d & { title: string };
        return reply.code(201).send(await status.upsertIncident(input));
      },
    );
  }
};
