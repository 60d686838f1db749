// GET /v1/status: a user of the tenant (any role) reads its status: components, the incidents that
// affect it, its integrations (ETag, 304).
import type { FastifyPluginAsync } from 'fastify';
import * as z from 'zod';
import { errorAnswers, NotModified, requireUserToken, security } from './common.js';

export const statusRoutes: FastifyPluginAsync = async (app) => {
  const status = app.statusService;
  if (!status) return;
  app.get(
    '/v1/status',
    {
      onRequest: requireUserToken,
      schema: {
        tags: ['status'],
        security: security.userToken,
        summary: "The user's tenant's status page",
        response: {
          200: z.looseObject({
            overall: z.enum(['operational', 'degraded', 'outage']),
            components: z.array(z.unknown()),
            incidents: z.array(z.unknown()),
            integrations: z.array(z.unknown()),
          }),
          304: NotModified,
          ...errorAnswers(401),
        },
      },
    },
    async (req, reply) => {
      const { status: s, etag } = await status.forTenant(req.user!.tenantId);
      reply.header('etag', etag).header('cache-control', 'no-cache');
      const inm = req.headers['if-none-match'];
      if (
        inm &&
        inm
          .split(',')
          .map((x) => x.trim())
          .includes(etag)
      )
        return reply.code(304).send();
      return s;
    },
  );
};
