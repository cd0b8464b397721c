// Stage 2: who is calling? RFC 6750 bearer token → verified claims (cached),
// then the route's audience. Revocation is the next stage, on every request.
import type { Route } from '../routes/schema.ts';
import type { VerifiedClaims } from '../tokens/claims.ts';
import { hasAudience, TokenRejected } from '../tokens/verify-access-token.ts';
import { invalidToken, type Rejection } from './rejection.ts';

export interface TokenVerifier {
  /** The claims, at once when already verified, else a promise; throws or rejects with TokenRejected (AccessTokenVerifier.claimsOf). */
  claimsOf(token: string): VerifiedClaims | Promise<VerifiedClaims>;
}

export type AuthenticationResult = { ok: true; claims: VerifiedClaims | undefined } | { ok: false; rejection: Rejection };

/** The token of an `Authorization: Bearer <token>` header; undefined for other schemes or none. */
export function extractBearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization ?? '');
  return match?.[1];
}

const ANONYMOUS: AuthenticationResult = { ok: true, claims: undefined };

/**
 * The caller's verified claims. A token in the verification cache is answered
 * synchronously (no promise on the hot path); only a token that needs an RSA
 * verification, or a key fetch, returns a promise.
 */
export function authenticate(
  route: Route,
  authorization: string | undefined,
  verifier: TokenVerifier,
): AuthenticationResult | Promise<AuthenticationResult> {
  if (route.auth === 'none') return ANONYMOUS;
  const token = extractBearerToken(authorization);
  if (token === undefined) {
    // On an optional route, no bearer token (or another scheme, meant for the upstream) is anonymous;
    // a Bearer header that is malformed ("Bearer ", two tokens) is a bad token, not anonymity.
    if (route.auth === 'optional' && !/^\s*bearer(\s|$)/i.test(authorization ?? '')) return ANONYMOUS;
    return { ok: false, rejection: invalidToken(authorization ? 'malformed bearer token' : 'missing bearer token') };
  }
  return authenticateToken(route, token, verifier);
}

/** A token's verified claims for this route (its audience): the bearer token's, or a cookie session's. */
export function authenticateToken(
  route: Route,
  token: string,
  verifier: TokenVerifier,
): AuthenticationResult | Promise<AuthenticationResult> {
  let claims: VerifiedClaims | Promise<VerifiedClaims>;
  try {
    claims = verifier.claimsOf(token);
  } catch (error) {
    return rejected(error);
  }
  if (claims instanceof Promise) return claims.then((verified) => withAudience(route, verified), rejected);
  return withAudience(route, claims);
}

function rejected(error: unknown): AuthenticationResult {
  if (error instanceof TokenRejected) return { ok: false, rejection: invalidToken(error.reason) };
  throw error;
}

/** A token presented on an optional route must still be good: a bad one is an error, not anonymity. */
function withAudience(route: Route, claims: VerifiedClaims): AuthenticationResult {
  if (route.audience !== undefined && !hasAudience(claims, route.audience)) {
    return { ok: false, rejection: invalidToken('token not issued for this audience') };
  }
  return { ok: true, claims };
}
