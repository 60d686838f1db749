// Route schemas: zod through fastify-type-provider-zod, plus the few schemas that only document
// (the hot ingest route's body and answer, see ingest.ts), and validation errors answered with
// each route's own code and wording.
import type { FastifyError, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import type { FastifySerializerCompiler } from 'fastify/types/schema.js';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { HttpError } from '../errors.js';

const docOnly = new WeakSet<object>();

/**
 * Marks a schema as documentation: it appears in /openapi.json, but requests aren't validated
 * against it and answers are serialised by plain JSON.stringify. A plain JSON schema or a zod one.
 */
export function documentationOnly<T extends object>(schema: T): T {
  docOnly.add(schema);
  return schema;
}
const isDocOnly = (s: unknown) => typeof s === 'object' && s !== null && docOnly.has(s);
const isPlainJsonSchema = (s: unknown) => typeof s === 'object' && s !== null && !('_zod' in s);

const passThrough = () => (data: unknown) => ({ value: data });
export const keelValidatorCompiler: FastifySchemaCompiler<unknown> = (route) =>
  isDocOnly(route.schema) ? passThrough() : validatorCompiler(route as Parameters<typeof validatorCompiler>[0]);
/**
 * Answers of 2xx are encoded (checked) by their zod schema; error answers (4xx, 5xx) only
 * documented by theirs: any route may answer a refusal from a hook (429, 503 overloaded or a
 * storage fault), and a mismatch there must never turn a 503 into a 500.
 */
export const keelSerializerCompiler: FastifySerializerCompiler<unknown> = (route) =>
  isDocOnly(route.schema) || Number(route.httpStatus) >= 400
    ? (data: unknown) => JSON.stringify(data)
    : serializerCompiler(route as Parameters<typeof serializerCompiler>[0]);

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];
/** zod → JSON schema for @fastify/swagger, leaving the hand-written JSON schemas as they are. */
export const keelSwaggerTransform = (doc: TransformInput) => {
  const schema = doc.schema as Record<string, unknown> | undefined;
  if (!schema) return jsonSchemaTransform(doc);
  const plain: Record<string, unknown> = {};
  const zodOnly: Record<string, unknown> = { ...schema };
  for (const part of ['body', 'querystring', 'params', 'headers']) {
    if (isPlainJsonSchema(schema[part])) {
      plain[part] = schema[part];
      delete zodOnly[part];
    }
  }
  const out = jsonSchemaTransform({ ...doc, schema: zodOnly as TransformInput['schema'] });
  return { ...out, schema: { ...(out.schema as object), ...plain } };
};

/**
 * A zod validation error as the route's own 400 (config.invalid): the code, and the issues as
 * "path: message; …" (paths dotted), as the hand checks worded them. Undefined for other errors.
 */
export function validationAnswer(err: FastifyError, req: FastifyRequest): HttpError | undefined {
  if (!hasZodFastifySchemaValidationErrors(err)) return undefined;
  const part = (err.validationContext ?? 'body') as 'body' | 'querystring' | 'params';
  const how = req.routeOptions.config.invalid?.[part];
  const issues = err.validation.map((v) => ({ path: v.instancePath.slice(1).split('/').filter(Boolean).join('.'), message: v.message ?? 'invalid' }));
  const message = how?.format === 'message' ? issues[0]!.message : issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
  return new HttpError(400, how?.code ?? `invalid_${part === 'querystring' ? 'query' : part}`, message);
}
