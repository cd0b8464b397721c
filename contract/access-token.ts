// Access tokens as the token service issues them and gateways accept them
// (RFC 9068 as profiled in docs/WIRE-CONTRACT.md).
import { z } from 'zod';

/** The only JOSE `typ` of an access token. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/**
 * Protected-header parameters that make a token unacceptable even when our key
 * signed it: `jku`, `x5u`, `jwk` and `x5c` point at keys elsewhere (never
 * followed), and `crit` demands extensions no verifier of ours implements.
 */
export const FORBIDDEN_JOSE_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit'] as const;

/** The claims of every access token the token service issues. */
export const accessTokenClaimsSchema = z.object({
  iss: z.string().min(1),
  /** A user id (a UUID), or the client id for client_credentials tokens. */
  sub: z.string().min(1),
  aud: z.union([z.string(), z.array(z.string())]),
  client_id: z.string().min(1),
  /** Space-separated. */
  scope: z.string(),
  /** Seconds since the epoch (RFC 7519 NumericDate). */
  iat: z.number(),
  exp: z.number(),
  jti: z.string().min(1),
  /** The session (refresh-token family) id; equals `jti` for client_credentials tokens. */
  sid: z.string().min(1),
});

export type AccessTokenClaims = z.infer<typeof accessTokenClaimsSchema>;
