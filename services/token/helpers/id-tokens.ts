// OpenID Connect ID tokens (Core 1.0 §2, §3.1.3.6): RS256, signed with the
// access tokens' key set; `typ: JWT`, so that no gateway or resource server can
// mistake one for an access token (`at+jwt`, RFC 9068 §2.1).
import crypto from 'node:crypto';
import * as jose from 'jose';
import { FORBIDDEN_JOSE_HEADERS } from '../../../contract/access-token.ts';
import type { AccessTokenKeys } from './access-tokens.ts';
import { SIGNING_ALGORITHM, signCompactJws } from './access-tokens.ts';

export interface IdTokenFields {
  issuer: string;
  sub: string;
  clientId: string;
  /** When the user last typed the password (seconds are taken from it). */
  authTime: Date;
  nonce: string | null;
  /** The sign-in session (single sign-on): what RP-initiated and back-channel logout name. */
  sid: string;
  accessToken: string;
  now: number;
  lifetimeMs: number;
}

/** OIDC Core §3.1.3.6: the left half of the SHA-256 of the access token, base64url. */
export function accessTokenHash(accessToken: string): string {
  const digest = crypto.createHash('sha256').update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export function idTokenClaims(fields: IdTokenFields): Record<string, unknown> {
  const iat = Math.floor(fields.now / 1000);
  return {
    iss: fields.issuer,
    sub: fields.sub,
    aud: fields.clientId,
    exp: iat + Math.max(1, Math.round(fields.lifetimeMs / 1000)),
    iat,
    auth_time: Math.floor(fields.authTime.getTime() / 1000),
    ...(fields.nonce === null ? {} : { nonce: fields.nonce }),
    sid: fields.sid,
    at_hash: accessTokenHash(fields.accessToken),
  };
}

export async function signIdToken(keys: AccessTokenKeys, fields: IdTokenFields): Promise<string> {
  const { kid, privateKey } = keys.signer;
  return signCompactJws({ alg: SIGNING_ALGORITHM, typ: 'JWT', kid }, idTokenClaims(fields), privateKey);
}

/**
 * An ID token we issued, as an end-session `id_token_hint` (OIDC RP-Initiated
 * Logout §2): signature, algorithm, type and issuer are checked; its expiry is
 * not (a hint is typically old). Undefined when it is not one of ours.
 */
export async function readIdTokenHint(
  keys: Pick<AccessTokenKeys, 'publicKey'>,
  issuer: string,
  token: string,
): Promise<{ sub: string; aud: string; sid: string | undefined } | undefined> {
  try {
    const { payload } = await jose.jwtVerify(
      token,
      (header) => {
        // As for access tokens: the kid only looks up one of our own keys.
        const key = typeof header.kid === 'string' ? keys.publicKey(header.kid) : undefined;
        if (!key || FORBIDDEN_JOSE_HEADERS.some((name) => name in header)) throw new jose.errors.JWKSNoMatchingKey();
        return key;
      },
      { algorithms: [SIGNING_ALGORITHM], typ: 'JWT', issuer, currentDate: new Date(0), requiredClaims: ['sub', 'aud'] },
    );
    if (typeof payload.sub !== 'string' || typeof payload.aud !== 'string') return undefined;
    return { sub: payload.sub, aud: payload.aud, sid: typeof payload.sid === 'string' ? payload.sid : undefined };
  } catch {
    return undefined;
  }
}
