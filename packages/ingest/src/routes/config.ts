// GET /v1/config: the published config (ETag, 304), or a draft preview by its id.
import type { FastifyPluginAsync } from 'fastify';
import * as z from 'zod';
import { configJsonSchema, type KeelConfig, servedConfig } from '@keel/sdk-core/authoring';
import { HttpError } from '../errors.js';
import { documentationOnly } from './schemas.js';
import { bearer, errorAnswers, NotModified, security, isAdminKey, refuseFromBrowser, sendJsonText, writeKeyOf } from './common.js';

let schemaText: string | undefined;

export const etagOf = (v: { version: number; hash: string }) => `"v${v.version}-${v.hash.slice(0, 16)}"`;

/**
 * The document as browsers get it (`servedConfig`: its `errors:` repairs as nudges), as JSON text.
 * Stored text without an `errors` key is sent as is, never re-parsed; a published version's
 * compiled text is kept by its hash (a few; drafts, rare and never cached by browsers, are compiled
 * each time).
 */
const served = new Map<string, string>();
export function servedText(document: string, hash?: string): string {
  if (!document.includes('"errors"')) return document;
  const cached = hash === undefined ? undefined : served.get(hash);
  if (cached !== undefined) return cached;
  const text = JSON.stringify(servedConfig(JSON.parse(document) as KeelConfig));
  if (hash !== undefined) {
    if (served.size >= 16) served.delete(served.keys().next().value!);
    served.set(hash, text);
  }
  return text;
}

/** Sent as stored text, spliced (never re-parsed): the schema documents it. */
const ConfigAnswer = documentationOnly(
  z.object({
    version: z.number().int().describe('0 for a draft'),
    draft: z.string().optional(),
    publishedAt: z.string().nullable(),
    config: z.record(z.string(), z.unknown()).describe('the config document as published'),
  }),
);

export const configRoutes: FastifyPluginAsync = async (app) => {
  // The config's JSON Schema, for editors (`# yaml-language-server: $schema=https://…/schema/keel-config.json`):
  // public, the same for every deployment of this version, so cacheable.
  app.get(
    '/schema/keel-config.json',
    {
      logLevel: 'warn',
      schema: {
        tags: ['config'],
        summary: "The config document's JSON Schema (draft 2020-12), for editors and validators",
        // (Its `$schema` and `$id` keys aren't listed: OpenAPI's tooling reads keys that start with $ as its own.)
        response: {
          200: documentationOnly(z.looseObject({ title: z.string(), properties: z.record(z.string(), z.unknown()) }).describe('a JSON Schema document')),
        },
      },
    },
    async (_req, reply) => {
      schemaText ??= JSON.stringify(configJsonSchema());
      return reply.header('cache-control', 'public, max-age=3600').type('application/schema+json').send(schemaText);
    },
  );

  const config = app.configStore;
  if (!config) return;
  app.get(
    '/v1/config',
    {
      logLevel: 'warn',
      // A write key (the page's) or the admin key; the write key's own messages, as before.
      onRequest: async (req) => {
        const key = writeKeyOf(req, undefined);
        const isAdmin = isAdminKey(app.keel.adminKeys, bearer(req));
        if (isAdmin) refuseFromBrowser(req);
        if (!isAdmin) {
          if (!key) throw new HttpError(401, 'missing_write_key', 'send the write key as the HTTP Basic username or ?writeKey=');
          if (!app.keel.writeKeys.has(key)) throw new HttpError(401, 'unknown_write_key', 'unknown write key');
        }
      },
      schema: {
        tags: ['config'],
        security: security.config,
        summary: 'The published config (or a draft preview)',
        querystring: documentationOnly(
          z.looseObject({ writeKey: z.string().optional(), draft: z.string().optional().describe('a draft id from `keel config preview`') }),
        ),
        response: { 200: ConfigAnswer, 304: NotModified, ...errorAnswers(401, 403, 404) },
      },
    },
    async (req, reply) => {
      const draftId = (req.query as Record<string, unknown>).draft;
      if (typeof draftId === 'string' && draftId) {
        // A draft preview: served to whoever holds its unguessable id, never cached.
        const d = await config.draft(draftId);
        if (!d) throw new HttpError(404, 'no_draft', 'no such draft, or it has expired: run `keel config preview FILE` again');
        reply.header('cache-control', 'no-store');
        return sendJsonText(reply, `{"version":0,"draft":${JSON.stringify(d.id)},"publishedAt":null,"config":${servedText(d.document)}}`);
      }
      const v = await config.latest();
      if (!v) throw new HttpError(404, 'no_config', 'no config has been published yet: run `keel config publish FILE`');
      const etag = etagOf(v);
      reply.header('etag', etag).header('cache-control', 'no-cache');
      const inm = req.headers['if-none-match'];
      if (
        inm &&
        inm
          .split(',')
          .map((s) => s.trim().replace(/^W\//, ''))
          .includes(etag)
      )
        return reply.code(304).send();
      return sendJsonText(reply, `{"version":${v.version},"publishedAt":${JSON.stringify(v.publishedAt)},"config":${servedText(v.document, v.hash)}}`);
    },
  );
};
