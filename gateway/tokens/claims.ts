// The verified identity of an access token (RFC 9068 as profiled in docs/WIRE-CONTRACT.md).

export interface AccessTokenClaims {
  readonly sub: string;
  /** Session (refresh-token family) id; equals `jti` for client_credentials tokens. */
  readonly sid: string;
  readonly jti: string;
  /** Seconds since the epoch. */
  readonly iat: number;
  readonly exp: number;
  readonly aud: readonly string[];
  readonly scopes: readonly string[];
  readonly clientId: string | undefined;
}
