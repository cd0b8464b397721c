// The identity a gateway asserts to upstreams, one header each. Upstreams
// trust these blindly, so a gateway never forwards a client's own values.

export const IDENTITY_HEADERS = {
  /** The token's `sub`. */
  subject: 'x-auth-subject',
  /** `user`, or `client` for a machine client (client_credentials: sub equals client_id). */
  subjectType: 'x-auth-subject-type',
  /** The token's scopes, space-separated. */
  scopes: 'x-auth-scopes',
  /** The token's `sid`. */
  session: 'x-auth-session',
  /** The token's `client_id`. */
  client: 'x-auth-client',
  /** The gateway's signed JWT of the same identity (contract/gateway-assertion.ts): what an app can verify instead of trusting the others. */
  assertion: 'x-auth-assertion',
} as const;
