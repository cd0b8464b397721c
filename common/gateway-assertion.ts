// An upstream app's side of the gateway's identity assertion (X-Auth-Assertion,
// docs/WIRE-CONTRACT.md): verified with jose against the gateway's JWKS, RS256
// only, the gateway's issuer, the app's own route ids as audience. The demo
// apps (services/whoami, services/notes) use it; any app can do the same in a
// few lines.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import {
  GATEWAY_ASSERTION_MAX_LIFETIME_S,
  GATEWAY_ASSERTION_TYPE,
  gatewayAssertionClaimsSchema,
  type GatewayAssertionClaims,
} from '../contract/gateway-assertion.ts';

export interface AssertionCheck {
  /** The gateway's JWKS, e.g. http://localhost:8080/.well-known/gateway-jwks.json. */
  jwksUrl: string;
  /** The gateway's GATEWAY_PUBLIC_URL. */
  issuer: string;
  /** The route ids the app is served under: an assertion made for another route is refused. */
  audience: string | string[];
}

/** The caller, as the gateway asserted it. */
export interface AssertedIdentity {
  sub: string;
  /** `client` when the subject is a machine client (`sub` equals `client_id`), else `user`. */
  subjectType: 'user' | 'client';
  sid: string;
  scopes: string[];
  clientId: string | undefined;
  /** The route the gateway took the request through. */
  route: string;
}

/** Answers the identity of a valid assertion, or undefined for a missing or invalid one (never throws). */
export function assertionVerifier(check: AssertionCheck): (assertion: string | undefined) => Promise<AssertedIdentity | undefined> {
  // Fetched on first use, cached, and refetched when an unknown kid shows up (a rotation).
  const keys = createRemoteJWKSet(new URL(check.jwksUrl));
  return async (assertion) => {
    if (!assertion) return undefined;
    let claims: GatewayAssertionClaims;
    try {
      const { payload } = await jwtVerify(assertion, keys, {
        algorithms: ['RS256'],
        typ: GATEWAY_ASSERTION_TYPE,
        issuer: check.issuer,
        audience: check.audience,
        requiredClaims: ['iat', 'exp', 'sub', 'sid'],
        maxTokenAge: GATEWAY_ASSERTION_MAX_LIFETIME_S,
        clockTolerance: 5,
      });
      claims = gatewayAssertionClaimsSchema.parse(payload);
    } catch {
      return undefined;
    }
    if (claims.exp - claims.iat > GATEWAY_ASSERTION_MAX_LIFETIME_S) return undefined;
    return {
      sub: claims.sub,
      subjectType: claims.client_id !== undefined && claims.sub === claims.client_id ? 'client' : 'user',
      sid: claims.sid,
      scopes: claims.scope.split(' ').filter(Boolean),
      clientId: claims.client_id,
      route: claims.aud,
    };
  };
}
