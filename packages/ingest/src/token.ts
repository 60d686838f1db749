import { createHmac, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors.js';

/** Who a user token speaks for: the vendor's backend signed it with the secret key. */
export interface UserClaims {
  userId: string;
  tenantId: string;
  role: string;
  exp: number;
}

/** Tokens may live a day at most: they are meant to be short-lived and re-minted. */
export const MAX_TOKEN_LIFETIME_S = 24 * 3600;
const LEEWAY_S = 30;

const b64url = (b: Buffer) => b.toString('base64url');
const fromB64url = (s: string) => Buffer.from(s, 'base64url');

/** Mints an HS256 user token; what a vendor backend does (any JWT library works the same). */
export function signUserToken(claims: { sub: string; tenant: string; role?: string; ttlSeconds?: number }, secret: string, now = Date.now()): string {
  const iat = Math.floor(now / 1000);
  const header = b64url(Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));
  const payload = b64url(Buffer.from(JSON.stringify({ sub: claims.sub, tenant: claims.tenant, role: claims.role ?? 'member', iat, exp: iat + (claims.ttlSeconds ?? 3600) })));
  const sig = b64url(createHmac('sha256', secret).update(`${header}.${payload}`).digest());
  return `${header}.${payload}.${sig}`;
}

const fail = (message: string): never => {
  throw new HttpError(401, 'invalid_user_token', message);
};

/** Verifies an HS256 JWT against any of the secrets; every refusal names its reason. */
export function verifyUserToken(token: string, secrets: readonly string[], now = Date.now()): UserClaims {
  if (secrets.length === 0) throw new HttpError(501, 'user_tokens_disabled', 'this server has no secret key configured (--secret-key / KEEL_SECRET_KEYS), so it cannot verify user tokens');
  const parts = token.split('.');
  if (parts.length !== 3) fail('the user token is not a JWT (expected three dot-separated parts)');
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: unknown };
  let payload: Record<string, unknown>;
  try {
    header = JSON.parse(fromB64url(h).toString());
    payload = JSON.parse(fromB64url(p).toString());
  } catch {
    return fail('the user token header or payload is not base64url JSON');
  }
  if (header.alg !== 'HS256') fail(`the user token must be signed with HS256, found alg ${JSON.stringify(header.alg)}`);
  const sig = fromB64url(s);
  const ok = secrets.some((secret) => {
    const want = createHmac('sha256', secret).update(`${h}.${p}`).digest();
    return want.length === sig.length && timingSafeEqual(want, sig);
  });
  if (!ok) fail('the user token signature does not match the secret key');
  const nowS = Math.floor(now / 1000);
  const { sub, tenant, role, exp, iat } = payload;
  if (typeof sub !== 'string' || !sub) fail('the user token has no "sub" (the user id)');
  if (typeof tenant !== 'string' || !tenant) fail('the user token has no "tenant" (the account id)');
  if (typeof exp !== 'number') fail('the user token has no "exp": user tokens must expire');
  if ((exp as number) + LEEWAY_S < nowS) fail(`the user token expired at ${new Date((exp as number) * 1000).toISOString()}`);
  const issued = typeof iat === 'number' ? iat : nowS;
  if ((exp as number) - issued > MAX_TOKEN_LIFETIME_S) fail(`the user token lives longer than ${MAX_TOKEN_LIFETIME_S / 3600} h; mint short-lived tokens`);
  return { userId: sub as string, tenantId: tenant as string, role: typeof role === 'string' ? role : 'member', exp: exp as number };
}
