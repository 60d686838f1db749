import { createHmac } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { HttpError } from './errors.js';

/** Who a user token speaks for: the vendor's backend signed it with the secret key. */
export interface UserClaims {
  userId: string;
  tenantId: string;
  role: string;
  exp: number;
}

/** Tokens may live a day at most, counted from now: they are meant to be short-lived and re-minted. */
export const MAX_TOKEN_LIFETIME_S = 24 * 3600;
/** Clock skew allowed between the vendor's backend and this server: on `exp`, `nbf`, `iat` and the lifetime. */
const LEEWAY_S = 60;
/** A token longer than this is not one a vendor backend minted (ours are ~200 bytes). */
const MAX_TOKEN_CHARS = 4096;

const b64url = (b: Buffer) => b.toString('base64url');

/** Mints an HS256 user token; what a vendor backend does (any JWT library works the same). */
export function signUserToken(claims: { sub: string; tenant: string; role?: string; ttlSeconds?: number }, secret: string, now = Date.now()): string {
  const iat = Math.floor(now / 1000);
  const header = b64url(Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));
  const payload = b64url(
    Buffer.from(JSON.stringify({ sub: claims.sub, tenant: claims.tenant, role: claims.role ?? 'member', iat, exp: iat + (claims.ttlSeconds ?? 3600) })),
  );
  const sig = b64url(createHmac('sha256', secret).update(`${header}.${payload}`).digest());
  return `${header}.${payload}.${sig}`;
}

const fail = (message: string): never => {
  throw new HttpError(401, 'invalid_user_token', message);
};

const encoder = new TextEncoder();
const keys = new Map<string, Uint8Array>();
const keyOf = (secret: string) => {
  let k = keys.get(secret);
  if (!k) keys.set(secret, (k = encoder.encode(secret)));
  return k;
};

const when = (s: number) => (Number.isFinite(s) && Math.abs(s) < 8.64e12 ? new Date(s * 1000).toISOString() : String(s));

/** jose's refusal → the reason we answer with; anything unexpected is still a 401 that names it. */
function reasonOf(e: unknown, token: string): string {
  if (e instanceof errors.JOSEAlgNotAllowed) {
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      alg = undefined;
    }
    return `the user token must be signed with HS256, found alg ${JSON.stringify(alg) ?? 'none'}`;
  }
  if (e instanceof errors.JWTExpired) {
    const exp = e.payload.exp;
    return typeof exp === 'number' && e.claim === 'exp' ? `the user token expired at ${when(exp)}` : `the user token is expired: ${e.message}`;
  }
  if (e instanceof errors.JWTClaimValidationFailed)
    return `the user token's "${e.claim}" claim is ${e.reason === 'missing' ? 'missing' : 'invalid'}: ${e.message}`;
  if (e instanceof errors.JWSInvalid) return `the user token is not a well-formed JWT (three base64url parts, the header a JSON object): ${e.message}`;
  if (e instanceof errors.JWTInvalid) return `the user token's payload is not valid: ${e.message}`;
  if (e instanceof errors.JOSEError) return `the user token was refused: ${e.message}`;
  return `the user token could not be verified: ${e instanceof Error ? e.message : 'malformed'}`;
}

/**
 * Verifies an HS256 JWT (with jose) against any of the secrets; every refusal is a 401 naming
 * its reason. Beyond the signature: `exp` is required, `iat` (if present) at most 60 s in the
 * future, and the token must expire within 24 h of now (and of its `iat`).
 */
export async function verifyUserToken(token: string, secrets: readonly string[], now = Date.now()): Promise<UserClaims> {
  if (secrets.length === 0)
    throw new HttpError(
      501,
      'user_tokens_disabled',
      'this server has no secret key configured (--secret-key / KEEL_SECRET_KEYS), so it cannot verify user tokens',
    );
  if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) fail(`the user token is longer than ${MAX_TOKEN_CHARS} characters`);
  if (token.split('.').length !== 3) fail('the user token is not a JWT (expected three dot-separated parts)');
  let payload: Record<string, unknown> | undefined;
  for (const secret of secrets) {
    try {
      ({ payload } = await jwtVerify(token, keyOf(secret), {
        algorithms: ['HS256'],
        requiredClaims: ['exp'],
        clockTolerance: LEEWAY_S,
        currentDate: new Date(now),
      }));
      break;
    } catch (e) {
      if (e instanceof errors.JWSSignatureVerificationFailed) continue; // another secret may have signed it (rotation)
      if (e instanceof errors.JWTClaimValidationFailed && e.claim === 'exp' && e.reason === 'missing')
        fail('the user token has no "exp": user tokens must expire');
      return fail(reasonOf(e, token));
    }
  }
  if (!payload) return fail('the user token signature does not match the secret key');
  const nowS = Math.floor(now / 1000);
  const { sub, tenant, role, exp, iat } = payload;
  if (typeof sub !== 'string' || !sub) fail('the user token has no "sub" (the user id)');
  if (typeof tenant !== 'string' || !tenant) fail('the user token has no "tenant" (the account id)');
  if (typeof exp !== 'number') return fail('the user token has no "exp": user tokens must expire');
  if (typeof iat === 'number' && iat > nowS + LEEWAY_S)
    fail(`the user token was issued in the future (iat ${when(iat)}, more than ${LEEWAY_S} s ahead of this server's clock)`);
  if (exp - nowS > MAX_TOKEN_LIFETIME_S + LEEWAY_S || (typeof iat === 'number' && exp - iat > MAX_TOKEN_LIFETIME_S)) {
    fail(`the user token lives longer than ${MAX_TOKEN_LIFETIME_S / 3600} h (it expires at ${when(exp)}); mint short-lived tokens`);
  }
  return { userId: sub as string, tenantId: tenant as string, role: typeof role === 'string' ? role : 'member', exp };
}
