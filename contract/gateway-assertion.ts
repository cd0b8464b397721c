// The gateway's signed assertion of a caller's identity, sent to upstreams in
// the X-Auth-Assertion header (contract/identity-headers.ts): what an app
// checks instead of trusting the X-Auth-* headers and the network.
// docs/WIRE-CONTRACT.md ("Identity assertion") says how to verify it.
import { z } from 'zod';

/** The JOSE `typ` of an assertion: never `at+jwt`, so an assertion can never pass for an access token, nor one for the other. */
export const GATEWAY_ASSERTION_TYPE = 'gateway-assertion+jwt';

/** Where a gateway publishes the public keys its assertions are signed with (RS256), relative to its issuer URL. */
export const GATEWAY_JWKS_PATH = '/.well-known/gateway-jwks.json';

/** The longest an assertion lives (`exp` − `iat`), in seconds. */
export const GATEWAY_ASSERTION_MAX_LIFETIME_S = 60;

export const gatewayAssertionClaimsSchema = z.object({
  /** The gateway (its GATEWAY_PUBLIC_URL). */
  iss: z.string().min(1),
  /** The id of the route the request came through. */
  aud: z.string().min(1),
  /** The access token's `sub`: a user id, or the client id of a machine client (`sub` equals `client_id`). */
  sub: z.string().min(1),
  /** The access token's `sid` (the session). */
  sid: z.string().min(1),
  /** The access token's scopes, space-separated. */
  scope: z.string(),
  /** The access token's `client_id`, when it has one. */
  client_id: z.string().min(1).optional(),
  /** Seconds since the epoch; `exp` − `iat` ≤ GATEWAY_ASSERTION_MAX_LIFETIME_S. */
  iat: z.number(),
  exp: z.number(),
});

export type GatewayAssertionClaims = z.infer<typeof gatewayAssertionClaimsSchema>;
