import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from './app.js';
import { HttpError } from './errors.js';
import { storeServices } from './store/open.js';
import { openSqliteStore, type SqliteStore } from './store/sqlite.js';
import { MAX_TOKEN_LIFETIME_S, signUserToken, verifyUserToken } from './token.js';

const SECRET = 'token-test-secret';
const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const nowS = NOW / 1000;
const b64 = (s: string) => Buffer.from(s).toString('base64url');
/** A token with any header and payload text, signed with HS256 over exactly those bytes. */
const forge = (header: string, payload: string, secret = SECRET) => {
  const h = b64(header);
  const p = b64(payload);
  return `${h}.${p}.${createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')}`;
};
const claims = (over: Record<string, unknown> = {}) => JSON.stringify({ sub: 'u1', tenant: 'acme', role: 'admin', iat: nowS, exp: nowS + 3600, ...over });
const HS = '{"alg":"HS256","typ":"JWT"}';

/** The refusal, as the API would answer it. */
async function refusal(token: string, secrets = [SECRET]): Promise<{ status: number; code: string; message: string }> {
  try {
    await verifyUserToken(token, secrets, NOW);
  } catch (e) {
    if (e instanceof HttpError) return { status: e.statusCode, code: e.code, message: e.message };
    throw new Error(`not an HttpError: ${String(e)}`);
  }
  throw new Error('the token was accepted');
}

describe('verifyUserToken (jose)', () => {
  test('a token minted with the secret verifies to its user, tenant and role; any of several secrets (rotation)', async () => {
    const t = signUserToken({ sub: 'u1', tenant: 'acme', role: 'admin' }, SECRET, NOW);
    expect(await verifyUserToken(t, [SECRET], NOW)).toEqual({ userId: 'u1', tenantId: 'acme', role: 'admin', exp: nowS + 3600 });
    expect((await verifyUserToken(t, ['older', SECRET], NOW)).userId).toBe('u1');
    expect((await verifyUserToken(forge(HS, claims({ role: undefined })), [SECRET], NOW)).role).toBe('member');
  });

  test.each([
    ['header JSON null', forge('null', claims()), /not a well-formed JWT.*Header/i],
    ['payload JSON null', forge(HS, 'null'), /payload is not valid: JWT Claims Set must be a top-level JSON object/],
    ['header an array', forge('[1]', claims()), /not a well-formed JWT/],
    ['header a number', forge('42', claims()), /not a well-formed JWT/],
    ['payload a string', forge(HS, '"sub"'), /payload is not valid/],
    ['header not JSON', forge('{alg', claims()), /not a well-formed JWT/],
    ['payload not JSON', forge(HS, '{sub'), /payload is not valid/],
    ['header not base64url', `@@@.${b64(claims())}.sig`, /not a well-formed JWT/],
    ['two parts', 'abc.def', /not a JWT \(expected three dot-separated parts\)/],
    ['empty', '', /not a JWT/],
    ['huge', 'a'.repeat(10_000), /longer than 4096 characters/],
    ['alg none', `${b64('{"alg":"none"}')}.${b64(claims())}.`, /must be signed with HS256, found alg "none"/],
    ['alg HS512', forge('{"alg":"HS512"}', claims()), /must be signed with HS256, found alg "HS512"/],
    ['alg missing', forge('{"typ":"JWT"}', claims()), /alg.*missing or invalid/i],
    ['crit header', forge('{"alg":"HS256","crit":["x"],"x":1}', claims()), /not a well-formed JWT|refused/],
    ['another secret', forge(HS, claims(), 'other'), /signature does not match the secret key/],
    ['a bad signature', `${forge(HS, claims()).slice(0, -4)}AAAA`, /signature does not match/],
    ['no exp', forge(HS, claims({ exp: undefined })), /no "exp": user tokens must expire/],
    ['exp a string', forge(HS, claims({ exp: 'tomorrow' })), /"exp" claim is invalid/],
    ['iat a string', forge(HS, claims({ iat: 'now' })), /"iat" claim is invalid/],
    ['expired', forge(HS, claims({ iat: nowS - 7200, exp: nowS - 3600 })), /expired at 2026-06-01T11:00:00.000Z/],
    ['not yet valid (nbf)', forge(HS, claims({ nbf: nowS + 3600 })), /"nbf" claim is invalid/],
    ['no sub', forge(HS, claims({ sub: undefined })), /no "sub"/],
    ['sub a number', forge(HS, claims({ sub: 7 })), /no "sub"/],
    ['no tenant', forge(HS, claims({ tenant: '' })), /no "tenant"/],
    ['issued 30 days ahead, living 1 h', forge(HS, claims({ iat: nowS + 30 * 86400, exp: nowS + 30 * 86400 + 3600 })), /issued in the future/],
    ['issued 2 minutes ahead', forge(HS, claims({ iat: nowS + 120, exp: nowS + 3600 })), /issued in the future \(iat .*more than 60 s ahead/],
    ['no iat, expiring in 7 days', forge(HS, claims({ iat: undefined, exp: nowS + 7 * 86400 })), /lives longer than 24 h/],
    ['no iat, expiring in 24 h + 2 min', forge(HS, claims({ iat: undefined, exp: nowS + MAX_TOKEN_LIFETIME_S + 120 })), /lives longer than 24 h/],
    ['minted for 7 days', signUserToken({ sub: 'u', tenant: 't', ttlSeconds: 7 * 86400 }, SECRET, NOW), /lives longer than 24 h/],
  ])('%s → 401 invalid_user_token, naming why', async (_name, token, reason) => {
    const r = await refusal(token);
    expect(r).toMatchObject({ status: 401, code: 'invalid_user_token' });
    expect(r.message).toMatch(reason);
  });

  test('the edges that pass: iat 30 s ahead (clock skew), exactly 24 h, no iat with exp within 24 h', async () => {
    expect((await verifyUserToken(forge(HS, claims({ iat: nowS + 30, exp: nowS + 3600 })), [SECRET], NOW)).userId).toBe('u1');
    expect((await verifyUserToken(forge(HS, claims({ exp: nowS + MAX_TOKEN_LIFETIME_S })), [SECRET], NOW)).userId).toBe('u1');
    expect((await verifyUserToken(forge(HS, claims({ iat: undefined, exp: nowS + 600 })), [SECRET], NOW)).userId).toBe('u1');
  });

  test('no secret configured: 501, naming the flag', async () => {
    expect(await refusal(signUserToken({ sub: 'u', tenant: 't' }, SECRET, NOW), [])).toMatchObject({ status: 501, code: 'user_tokens_disabled' });
  });
});

describe('malformed tokens on every route that reads one: 401, never a 500', () => {
  let store: SqliteStore;
  let app: ReturnType<typeof buildApp>;
  beforeAll(async () => {
    store = await openSqliteStore(mkdtempSync(join(tmpdir(), 'keel-token-')));
    await store.config.publish({
      document: JSON.stringify({ version: 1, product: 'acme', status: { components: [{ id: 'api', name: 'API' }] } }),
      hash: 'h',
      publishedAt: new Date().toISOString(),
      publishedBy: 't',
      summary: 'first version',
    });
    app = buildApp({
      store,
      writeKeys: ['wk'],
      adminKeys: ['adm'],
      secretKeys: [SECRET],
      ...storeServices(store),
      logger: false,
      // Every request here fails auth on purpose: the slow-down for repeated failures (access.test.ts) is off.
      rateLimit: { authFailuresPerIp: 0 },
    });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const tokens = [
    forge('null', claims()),
    forge(HS, 'null'),
    forge('null', 'null'),
    forge('[]', '[]'),
    forge('"x"', '0'),
    forge(HS, claims({ iat: Date.now() / 1000 + 30 * 86400, exp: Date.now() / 1000 + 30 * 86400 + 3600 })),
  ];
  const routes: [string, string][] = [
    ['GET', '/v1/progress'],
    ['PUT', '/v1/progress'],
    ['GET', '/v1/status'],
    ['GET', '/v1/tenants/acme/health'],
    ['GET', '/v1/tenants/acme/timeline'],
    ['GET', '/v1/tenants/acme/lifecycle'],
  ];
  test.each(routes)('%s %s', async (method, url) => {
    for (const token of tokens) {
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${token}` },
        ...(method === 'PUT' ? { payload: '{"entries":[]}' } : {}),
      });
      expect([token, res.statusCode, res.json().error]).toEqual([token, 401, 'invalid_user_token']);
    }
  });
});
