// OpenID Connect Back-Channel Logout 1.0 §2.4: the logout token, an RS256 JWT
// (`typ: logout+jwt`, §2.4 and RFC 8725 §3.11) telling a client that a user's
// session with it has ended.
import crypto from 'node:crypto';
import { SIGNING_ALGORITHM, signCompactJws, type AccessTokenKeys } from './access-tokens.ts';

export const LOGOUT_TOKEN_TYPE = 'logout+jwt';
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

export interface LogoutTokenClaims {
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
  sub: string;
  sid: string;
  events: { [BACKCHANNEL_LOGOUT_EVENT]: Record<string, never> };
}

/** The claims of one logout token. §2.4 forbids a `nonce` (so it can never pass for an ID token); none is added. */
export function logoutTokenClaims(
  settings: { issuer: string; lifetimeMs: number; now: number },
  fields: { clientId: string; sub: string; sid: string },
): LogoutTokenClaims {
  const iat = Math.floor(settings.now / 1000);
  return {
    iss: settings.issuer,
    aud: fields.clientId,
    iat,
    exp: iat + Math.max(1, Math.round(settings.lifetimeMs / 1000)),
    // A fresh jti per token: every attempt of a delivery is a new token, so a client may refuse replays.
    jti: crypto.randomUUID(),
    sub: fields.sub,
    sid: fields.sid,
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
  };
}

/** Signs logout-token claims with the current signing key. */
export function signLogoutToken(keys: Pick<AccessTokenKeys, 'signer'>, claims: LogoutTokenClaims): Promise<string> {
  const { kid, privateKey } = keys.signer;
  return signCompactJws({ alg: SIGNING_ALGORITHM, typ: LOGOUT_TOKEN_TYPE, kid }, claims, privateKey);
}
