// RFC 9068 access tokens: RS256 JWTs with `typ: at+jwt` and a `kid`.
import crypto, { type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import * as jose from 'jose';
import { ACCESS_TOKEN_TYPE, FORBIDDEN_JOSE_HEADERS, type AccessTokenClaims } from '../../../contract/access-token.ts';

/** The only algorithm we sign or accept. */
export const SIGNING_ALGORITHM = 'RS256';

/** What signing and verifying need of the key set (models/signing-keys.ts holds it). */
export interface AccessTokenKeys {
  readonly signer: { kid: string; privateKey: KeyObject };
  publicKey(kid: string): jose.CryptoKey | undefined;
}

export type { AccessTokenClaims };

export interface IssuedAccessToken {
  token: string;
  claims: AccessTokenClaims;
  expiresIn: number;
}

export interface AccessTokenSettings {
  issuer: string;
  lifetimeMs: number;
  /** The current time (ms since the epoch). */
  now: number;
}

export async function issueAccessToken(
  keys: AccessTokenKeys,
  settings: AccessTokenSettings,
  fields: { sub: string; clientId: string; scope: string; audiences: string[]; sid?: string; issuedAfter?: Date | null },
): Promise<IssuedAccessToken> {
  // A user-wide revocation covers iat up to its second (gateways compare whole
  // seconds): a token issued later in that same second gets the next one. That
  // is at most a second ahead, well within gateways' clock tolerance.
  const iat = Math.max(Math.floor(settings.now / 1000), fields.issuedAfter ? Math.floor(fields.issuedAfter.getTime() / 1000) + 1 : 0);
  const expiresIn = Math.max(1, Math.round(settings.lifetimeMs / 1000));
  const jti = crypto.randomUUID();
  const claims: AccessTokenClaims = {
    iss: settings.issuer,
    sub: fields.sub,
    aud: fields.audiences.length === 1 ? (fields.audiences[0] as string) : fields.audiences,
    client_id: fields.clientId,
    scope: fields.scope,
    iat,
    exp: iat + expiresIn,
    jti,
    // A client-credentials token has no refresh-token family: it is its own session.
    sid: fields.sid ?? jti,
  };
  const { kid, privateKey } = keys.signer;
  const token = await signCompactJws({ alg: SIGNING_ALGORITHM, typ: ACCESS_TOKEN_TYPE, kid }, claims, privateKey);
  return { token, claims, expiresIn };
}

// With a callback, node:crypto signs on libuv's thread pool. Measured against
// jose's SignJWT (WebCrypto) on this machine, it costs the event loop about a
// third of the time per token (docs/BENCHMARKS.md, token service).
const signOnThreadPool = promisify(crypto.sign);

/**
 * An RS256 compact JWS (RFC 7515 §7.1; RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with
 * SHA-256, node:crypto's default padding for RSA keys). The header is always
 * ours, so nothing here needs jose's header validation; tokens are verified
 * with jose (verifyAccessToken below, and every gateway).
 */
export async function signCompactJws(header: { alg: 'RS256'; typ: string; kid: string }, claims: object, key: KeyObject): Promise<string> {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = await signOnThreadPool('sha256', Buffer.from(input), key);
  return `${input}.${signature.toString('base64url')}`;
}

const base64url = (text: string): string => Buffer.from(text).toString('base64url');

/** A token that is syntactically a JWS: three base64url segments. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

/**
 * Verifies signature, algorithm, type, issuer, expiry and required claims.
 * Revocation is the caller's business. Throws on any failure.
 */
export async function verifyAccessToken(
  keys: AccessTokenKeys,
  settings: { issuer: string; now: number; clockToleranceSeconds?: number; ignoreExpiry?: boolean },
  token: string,
): Promise<AccessTokenClaims> {
  const { payload } = await jose.jwtVerify(
    token,
    (header) => {
      // The kid is only a lookup key among our own keys; a token carrying any of the contract's
      // forbidden headers (keys elsewhere, crit) is refused even if our key signed it.
      for (const name of FORBIDDEN_JOSE_HEADERS) {
        if (name in header) throw new jose.errors.JWSInvalid(`"${name}" header not accepted`);
      }
      const key = typeof header.kid === 'string' ? keys.publicKey(header.kid) : undefined;
      if (!key) throw new jose.errors.JWKSNoMatchingKey();
      return key;
    },
    {
      algorithms: [SIGNING_ALGORITHM],
      typ: ACCESS_TOKEN_TYPE,
      issuer: settings.issuer,
      requiredClaims: ['sub', 'aud', 'client_id', 'iat', 'exp', 'jti', 'sid'],
      clockTolerance: settings.clockToleranceSeconds ?? 0,
      // Revocation of an already-expired token is a no-op, but it must still be ours.
      currentDate: new Date(settings.ignoreExpiry ? 0 : settings.now),
    },
  );
  for (const claim of ['sub', 'client_id', 'jti', 'sid'] as const) {
    if (typeof payload[claim] !== 'string') throw new jose.errors.JWTClaimValidationFailed(`${claim} must be a string`, payload, claim);
  }
  return payload as unknown as AccessTokenClaims;
}
