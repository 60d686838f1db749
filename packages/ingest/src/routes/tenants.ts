// A tenant's lifecycle, health and timeline: the admin key, or a user token with the admin role
// for that very tenant (requireTenantAdmin, in onRequest).
import type { FastifyPluginAsync } from 'fastify';
import * as z from 'zod';
import { HttpError } from '../errors.js';
import { healthWords, localeOf } from '../health/words.js';
import { documentationOnly } from './schemas.js';
import { errorAnswers, requireTenantAdmin, security, TenantParams } from './common.js';

const tenantErrors = errorAnswers(400, 401, 403, 404);
const tags = ['tenants'];
const auth = { tags, security: security.tenantAdmin };

export const tenantRoutes: FastifyPluginAsync = async (app) => {
  const lifecycle = app.lifecycleService;
  if (lifecycle) {
    app.get(
      '/v1/tenants/:id/lifecycle',
      {
        onRequest: requireTenantAdmin('the lifecycle'),
        schema: {
          ...auth,
          summary: "The tenant's lifecycle state and its transitions",
          params: TenantParams,
          response: { 200: z.looseObject({ state: z.string() }), ...tenantErrors },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        const r = await lifecycle.state(id); // read-only: the evaluator records transitions
        if (!r) throw new HttpError(404, 'no_lifecycle', 'the published config has no lifecycle: add a `lifecycle:` section and publish');
        return r;
      },
    );
  }

  const timeline = app.timeline;
  if (timeline) {
    app.get(
      '/v1/tenants/:id/timeline',
      {
        onRequest: requireTenantAdmin('the timeline'),
        schema: {
          ...auth,
          summary: "The tenant's timeline, newest first, a page at a time",
          params: TenantParams,
          // Checked by hand below (each problem has its own code): the schema documents the parameters.
          querystring: documentationOnly(
            z.object({
              before: z.string().optional().describe('an ISO time: the "next" of the previous page'),
              limit: z.coerce.number().int().min(1).max(200).optional().describe('items a page, 1 to 200 (default 50)'),
            }),
          ),
          response: { 200: z.looseObject({ items: z.array(z.unknown()), next: z.string().nullable() }), ...tenantErrors },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        const q = req.query as { before?: string | string[]; limit?: string | string[] };
        // A repeated parameter arrives as an array: one value each, or a 400.
        if (Array.isArray(q.before) || Array.isArray(q.limit)) throw new HttpError(400, 'repeated_parameter', 'send "before" and "limit" at most once each');
        if (q.before !== undefined && Number.isNaN(Date.parse(q.before)))
          throw new HttpError(400, 'invalid_cursor', `before must be an ISO time (the "next" of a previous page), found "${q.before}"`);
        const limit = q.limit === undefined ? 50 : Number(q.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 200)
          throw new HttpError(400, 'invalid_limit', `limit must be a whole number from 1 to 200, found "${q.limit}"`);
        return timeline(id, { ...(q.before ? { before: q.before } : {}), limit });
      },
    );
  }

  const health = app.healthService;
  if (health) {
    app.get(
      '/v1/tenants/:id/health',
      {
        onRequest: requireTenantAdmin('health'),
        schema: {
          ...auth,
          summary: "The tenant's health score, its components and moves",
          params: TenantParams,
          response: { 200: z.looseObject({}).describe('the health report: score, band, coverage, components, moves'), ...tenantErrors },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        // One read of the published config: the report and its words come from the same version.
        const current = await health.currentConfig();
        const r = await health.report(id, Date.now(), current);
        if (!r) throw new HttpError(404, 'no_health_model', 'the published config has no health model: add a `health:` section and publish');
        return { ...r, words: healthWords(r, current?.config.health, localeOf(req.headers['accept-language'])) };
      },
    );
  }
};
